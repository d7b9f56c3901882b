package main

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/mskafka/knative-functions/broker/embedded"
)

// TestOutageEndToEnd takes Kafka away while an order is placed: the order is
// accepted (it is in Postgres and the outbox), and once Kafka is back the
// relay publishes it and both sinks get it exactly once. The broker is the
// embedded one here because the test must stop and restart it; the Apache
// Kafka that make test starts is shared by the other packages' tests.
func TestOutageEndToEnd(t *testing.T) {
	adminURL, _ := servers(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	kafkaAddr, kafkaDir := "127.0.0.1:18392", filepath.Join(t.TempDir(), "kafka")
	broker, err := embedded.Start(ctx, embedded.Config{Addr: kafkaAddr, DataDir: kafkaDir})
	if err != nil {
		t.Fatal(err)
	}
	stack := startStack(t, ctx, freshDatabase(t, adminURL), kafkaAddr, 18480)
	gw := stack.gateway

	before := postJSON(t, gw+"/order/api/orders", orderJSON(1, 1))
	waitFor(t, 20*time.Second, "the first order in shipping", func() bool { return exists(gw + fmt.Sprintf("/shipping/api/shipments/%d", before.ID)) })

	broker.Close()
	during := postJSON(t, gw+"/order/api/orders", orderJSON(2, 4))
	time.Sleep(time.Second)
	var o struct {
		Published *time.Time `json:"published"`
	}
	getJSON(t, fmt.Sprintf("%s/order/api/orders/%d", gw, during.ID), &o)
	if o.Published != nil {
		t.Fatalf("order %d marked published while Kafka was down", during.ID)
	}

	broker, err = embedded.Start(ctx, embedded.Config{Addr: kafkaAddr, DataDir: kafkaDir})
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	for _, path := range []string{"/shipping/api/shipments/%d", "/invoicing/api/invoices/%d"} {
		waitFor(t, 60*time.Second, "the order placed during the outage", func() bool { return exists(gw + fmt.Sprintf(path, during.ID)) })
	}
	var shipments []shipment
	getJSON(t, gw+"/shipping/api/shipments", &shipments)
	if len(shipments) != 2 {
		t.Errorf("got %d shipments, want 2: %+v", len(shipments), shipments)
	}
}

type runningStack struct{ gateway string }

// startStack runs the stack against the given database and Kafka, on ports
// from firstPort (gateway) up, until the test ends.
func startStack(t *testing.T, ctx context.Context, dbURL, brokers string, firstPort int) runningStack {
	t.Helper()
	bin := buildFunction(t)
	t.Setenv("DATABASE_URL", dbURL)
	t.Setenv("KAFKA_BROKERS", brokers)
	t.Setenv("GATEWAY_ADDR", fmt.Sprintf("127.0.0.1:%d", firstPort))
	t.Setenv("FUNCTION_PORT", fmt.Sprint(firstPort+1))
	t.Setenv("REPO_ROOT", "../..")
	t.Setenv("FUNCTION_BIN", bin)
	t.Setenv("OUTBOX_INTERVAL", "500ms")
	ctx, cancel := context.WithCancel(ctx)
	var logs syncBuffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, &logs) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("stack: %v", err)
		}
		if t.Failed() {
			t.Logf("stack output:\n%s", logs.String())
		}
	})
	gw := fmt.Sprintf("http://127.0.0.1:%d", firstPort)
	waitFor(t, 60*time.Second, "gateway", func() bool { return exists(gw + "/") })
	return runningStack{gateway: gw}
}

func exists(url string) bool {
	resp, err := http.Get(url)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func orderJSON(customer, item int) string {
	return fmt.Sprintf(`{"customer":{"customerId":%d},
		"shippingAddress":{"street":"Ohlauer Str. 43","zip":"10999","city":"Berlin"},
		"billingAddress":{"street":"Ohlauer Str. 43","zip":"10999","city":"Berlin"},
		"orderLine":[{"count":1,"item":{"itemId":%d}}]}`, customer, item)
}
