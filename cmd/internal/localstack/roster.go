// Package localstack is the tools' one way to run the local platform,
// bin/stack: the function roster and the port layout it serves them on,
// the state file in which a running stack tells its PIDs and ports, and
// starting, waiting for and stopping it. bin/stack itself, bench, chaos and
// the system tests use it; it imports nothing of the product.
package localstack

import (
	"fmt"
	"slices"
	"strconv"
)

// Roster returns the functions in the order of their ports: order's
// activator on FunctionPort, shipping's and invoicing's on the next two.
func Roster() []string { return []string{"order", "shipping", "invoicing"} }

// StartOrder returns the functions in the order the stack starts them: the
// sinks first, so that their first events find them ready; order last.
func StartOrder() []string { return []string{"shipping", "invoicing", "order"} }

// ReadRoute is a JSON route of each function that answers 200 when it
// serves, through the gateway.
func ReadRoute(function string) string {
	return map[string]string{"order": "/order/api/items", "shipping": "/shipping/api/shipments", "invoicing": "/invoicing/api/invoices"}[function]
}

// Layout is where a stack listens.
type Layout struct {
	Gateway      string // host:port of the menu and the routes
	FunctionPort int    // order's activator; shipping's and invoicing's on the next two
	Metrics      string // host:port of the dispatcher's /metrics; empty: not served
}

// At is the layout of a stack from port first up: the gateway there, the
// activators on the next three ports, the dispatcher's metrics on the
// fourth after it, and the function instances from first+21 to first+32.
func At(first int) Layout {
	return Layout{Gateway: addr(first), FunctionPort: first + 1, Metrics: addr(first + 4)}
}

func addr(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }

// Activator is where a function's activator listens.
func (l Layout) Activator(function string) string { return addr(l.FunctionPort + slot(function)) }

// Instances are the ports a function's instances take turns on: four per
// function, 20 above FunctionPort, below the ephemeral range.
func (l Layout) Instances(function string) []int {
	first := l.FunctionPort + 20 + 4*slot(function)
	return []int{first, first + 1, first + 2, first + 3}
}

// GatewayURL is the gateway's root, http://host:port without a slash.
func (l Layout) GatewayURL() string { return "http://" + l.Gateway }

// Env is the stack's environment for this layout.
func (l Layout) Env() []string {
	return []string{"GATEWAY_ADDR=" + l.Gateway, fmt.Sprintf("FUNCTION_PORT=%d", l.FunctionPort), "DISPATCH_METRICS_ADDR=" + l.Metrics}
}

func slot(function string) int {
	i := slices.Index(Roster(), function)
	if i < 0 {
		panic("localstack: no function " + function) // the roster is fixed: a caller's mistake
	}
	return i
}

// Known reports whether function is one of the roster.
func Known(function string) bool { return slices.Contains(Roster(), function) }
