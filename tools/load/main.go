// Command load places orders at a steady rate through the gateway — the local
// stack's or a cluster's Istio ingress — and prints the throughput, latency
// percentiles and errors (`make load`). It replaces the course's loop of 1000
// curl calls: the rate is held whatever the answers take, so a function that
// scales from zero shows up in the latencies instead of slowing the test.
//
// Settings come from flags or, when a flag is not given, from the variables
// URL, N, RATE, CONCURRENCY and TIMEOUT; `load -h` lists them. It exits
// non-zero if any order was not created.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/mskafka/knative-functions/tools/internal/loadgen"
	"github.com/mskafka/knative-functions/tools/internal/orderapi"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

// config is what one run does.
type config struct {
	URL         string        // the gateway's root
	N           int           // orders to place
	Rate        float64       // orders started per second
	Concurrency int           // requests in flight at most
	Timeout     time.Duration // per request
}

func parse(args []string, getenv func(string) string, out io.Writer) (config, error) {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.SetOutput(out)
	c := config{}
	fs.StringVar(&c.URL, "url", "http://127.0.0.1:8080", "the gateway's root: the local stack's, or the cluster's ingress (env URL)")
	fs.IntVar(&c.N, "n", 1000, "how many orders to place (env N)")
	fs.Float64Var(&c.Rate, "rate", 50, "orders started per second (env RATE)")
	fs.IntVar(&c.Concurrency, "concurrency", 50, "requests in flight at most (env CONCURRENCY)")
	fs.DurationVar(&c.Timeout, "timeout", 30*time.Second, "time limit of each request (env TIMEOUT)")
	// A variable sets the default of its flag; a flag given wins.
	for _, f := range []string{"url", "n", "rate", "concurrency", "timeout"} {
		if v := getenv(strings.ToUpper(f)); v != "" {
			if err := fs.Set(f, v); err != nil {
				return config{}, fmt.Errorf("%s=%q: %w", strings.ToUpper(f), v, err)
			}
		}
	}
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	switch {
	case c.N < 1:
		return config{}, fmt.Errorf("n %d: want at least 1", c.N)
	case c.Rate <= 0:
		return config{}, fmt.Errorf("rate %v: want more than 0", c.Rate)
	case c.Concurrency < 1:
		return config{}, fmt.Errorf("concurrency %d: want at least 1", c.Concurrency)
	case c.Timeout <= 0:
		return config{}, fmt.Errorf("timeout %v: want more than 0", c.Timeout)
	}
	return c, nil
}

func run(ctx context.Context, args []string, out io.Writer) error {
	c, err := parse(args, os.Getenv, out)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	api := orderapi.Client{Base: strings.TrimSuffix(c.URL, "/") + "/order", HTTP: &http.Client{
		Timeout:   c.Timeout,
		Transport: &http.Transport{MaxIdleConnsPerHost: c.Concurrency, MaxConnsPerHost: c.Concurrency},
	}}
	fmt.Fprintf(out, "load: %d orders to %s/api/orders at %g/s, at most %d in flight\n", c.N, api.Base, c.Rate, c.Concurrency)
	interval := time.Duration(float64(time.Second) / c.Rate)
	var t loadgen.Tally
	late := 0 // started later than scheduled: every worker was busy
	start := time.Now()
	loadgen.Attack(ctx, loadgen.Options{Rate: c.Rate, Max: c.N, InFlight: uint64(c.Concurrency), Client: api.HTTP},
		func(n int) vegeta.Target { return api.Target(orderapi.NewRequest(n, "")) },
		func(h loadgen.Hit) {
			t.Add(h, http.StatusCreated)
			if h.Late > interval {
				late++
			}
		})
	report(out, t, late, c.N, time.Since(start))
	if failed := c.N - t.OK; failed > 0 {
		return fmt.Errorf("%d of %d orders failed", failed, c.N)
	}
	return nil
}

// report prints throughput, latency percentiles and errors.
func report(out io.Writer, t loadgen.Tally, late, planned int, elapsed time.Duration) {
	fmt.Fprintf(out, "  sent        %d of %d in %.2fs: %.1f orders/s, %d created (201)\n",
		t.Sent, planned, elapsed.Seconds(), float64(t.Sent)/elapsed.Seconds(), t.OK)
	lat := slices.Sorted(slices.Values(t.Latencies))
	if len(lat) > 0 {
		fmt.Fprintf(out, "  latency     p50 %v  p90 %v  p99 %v  max %v\n",
			percentile(lat, 50), percentile(lat, 90), percentile(lat, 99), percentile(lat, 100))
	}
	if late > 0 {
		fmt.Fprintf(out, "  late starts %d (every worker was busy: raise CONCURRENCY or lower RATE)\n", late)
	}
	if len(t.Failures) == 0 {
		fmt.Fprintln(out, "  errors      none")
		return
	}
	kinds := slices.Collect(maps.Keys(t.Failures))
	slices.SortFunc(kinds, func(a, b string) int { return t.Failures[b] - t.Failures[a] })
	fmt.Fprintln(out, "  errors")
	for _, k := range kinds {
		fmt.Fprintf(out, "    %6d  %s\n", t.Failures[k], k)
	}
}

// percentile is loadgen's, rounded for reading.
func percentile(sorted []time.Duration, p int) time.Duration {
	return loadgen.Percentile(sorted, p).Round(10 * time.Microsecond)
}
