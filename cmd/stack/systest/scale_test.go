package systest

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mskafka/knative-functions/broker/embedded"
	"github.com/mskafka/knative-functions/cmd/internal/localstack"
	"github.com/mskafka/knative-functions/shared/testenv"
)

// coldStart matches the supervisor's line for a started function, for the
// time it took.
var coldStart = regexp.MustCompile(`(\w+): cold start in (\d+) ms \(pid (\d+)\)`)

// woken matches the activator's line for a request that waited for a cold start.
var woken = regexp.MustCompile(`(\w+): woken by (\S+ \S+): held (\d+) ms for the cold start, answered after (\d+) ms`)

// waitScaledToZero waits until each function has been stopped for being
// idle n times and its last process is gone.
func waitScaledToZero(t *testing.T, st runningStack, n int) {
	t.Helper()
	for _, name := range localstack.Roster() {
		testenv.Eventually(t, 30*time.Second, name+" scaled to zero", func() bool {
			return strings.Count(st.logs.String(), name+": idle for") >= n
		})
		// The stack clears a function's PID once its process has exited.
		testenv.Eventually(t, 10*time.Second, name+" gone", func() bool {
			_, err := st.FunctionPID(name)
			return err != nil
		})
	}
}

// TestScaleToZero: with a short idle period all three functions stop; an
// order placed then wakes order, and its event wakes shipping and
// invoicing, and it is shipped and invoiced. The gateway refuses what the
// VirtualService refuses, without waking anything.
func TestScaleToZero(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	freshTopics(t, brokers)
	dbURL := testenv.Database(t, "stack")
	st := startStack(t, dbURL, strings.Join(brokers, ","), 23320, "SCALE_TO_ZERO_IDLE=3s")
	gw := st.gateway

	t.Run("all stop when idle", func(t *testing.T) { waitScaledToZero(t, st, 1) })

	t.Run("the gateway refuses what the VirtualService refuses", func(t *testing.T) {
		// The sinks' events come from the KafkaSources, order's ping from
		// the PingSource: neither through the public entry.
		for _, tt := range []struct{ path, typ string }{
			{"/shipping/", "com.example.order.placed"}, {"/invoicing/", "com.example.order.placed"},
			{"/order/", "dev.knative.sources.ping"},
		} {
			path := tt.path
			req, _ := http.NewRequest(http.MethodPost, gw+path, strings.NewReader(orderJSON(1, 1)))
			req.Header.Set("Ce-Specversion", "1.0")
			req.Header.Set("Ce-Type", tt.typ)
			req.Header.Set("Ce-Source", "/order")
			req.Header.Set("Ce-Id", "forged-1")
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusNotFound {
				t.Errorf("POST %s: status %d, want 404", path, resp.StatusCode)
			}
		}
		if m := woken.FindString(st.logs.String()); m != "" {
			t.Errorf("a refused request woke a function: %s", m)
		}
	})

	var id int64
	t.Run("an order wakes all three", func(t *testing.T) {
		began := time.Now()
		id = postJSON(t, gw+"/order/api/orders", orderJSON(1, 2)).ID
		testenv.Eventually(t, 60*time.Second, "the order shipped and invoiced", func() bool {
			return len(stored(t, dbURL, "shipping.shipment")) == 1 && len(stored(t, dbURL, "invoicing.invoice")) == 1
		})
		t.Logf("order %d placed, shipped and invoiced %d ms after the request", id, time.Since(began).Milliseconds())
		for _, name := range []string{"order", "shipping", "invoicing"} {
			var line string
			for _, m := range woken.FindAllStringSubmatch(st.logs.String(), -1) {
				if m[1] == name {
					line = m[0]
				}
			}
			if line == "" {
				t.Errorf("%s was not woken by a request", name)
				continue
			}
			starts := coldStart.FindAllStringSubmatch(st.logs.String(), -1)
			var exec string
			for _, m := range starts {
				if m[1] == name {
					exec = m[2]
				}
			}
			t.Logf("%s: exec→ready %s ms; %s", name, exec, line)
		}
	})

	t.Run("every declared route works", func(t *testing.T) {
		for _, path := range []string{"/", "/order/", fmt.Sprintf("/order/%d", id), "/order/api/items",
			"/shipping/", fmt.Sprintf("/shipping/api/shipments/%d", id), "/invoicing/", fmt.Sprintf("/invoicing/api/invoices/%d", id)} {
			if !exists(gw + path) {
				t.Errorf("GET %s: not 200", path)
			}
		}
		client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		for _, name := range []string{"order", "shipping", "invoicing"} {
			resp, err := client.Get(gw + "/" + name)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != "/"+name+"/" {
				t.Errorf("GET /%s: %d to %q, want 301 to /%s/", name, resp.StatusCode, resp.Header.Get("Location"), name)
			}
		}
	})
}

// TestOutboxUnderScaleToZero: an order accepted while Kafka is down stays
// in the outbox while order scales to zero; once Kafka is back, the
// PingSource's ping wakes order, which publishes it, with no other request.
func TestOutboxUnderScaleToZero(t *testing.T) {

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	kafkaAddr, kafkaDir := "127.0.0.1:23399", filepath.Join(t.TempDir(), "kafka")
	broker, err := embedded.Start(ctx, embedded.Config{Addr: kafkaAddr, DataDir: kafkaDir})
	if err != nil {
		t.Fatal(err)
	}
	const pingEvery = 10 * time.Second
	dbURL := testenv.Database(t, "stack")
	st := startStack(t, dbURL, kafkaAddr, 23360, "SCALE_TO_ZERO_IDLE=3s", "PING_INTERVAL="+pingEvery.String())

	broker.Close()
	during := postJSON(t, st.gateway+"/order/api/orders", orderJSON(2, 4))
	idles := strings.Count(st.logs.String(), "order: idle for")
	testenv.Eventually(t, 60*time.Second, "order scaled to zero with the order unsent", func() bool {
		return strings.Count(st.logs.String(), "order: idle for") > idles
	})
	if sent := sentAt(t, dbURL, during.ID); sent != nil {
		t.Fatalf("order %d published while Kafka was down", during.ID)
	}

	// Kafka comes back while order is at zero (a ping may have woken it
	// meanwhile: wait for it to be gone again).
	testenv.Eventually(t, 60*time.Second, "order at zero", func() bool {
		_, err := st.FunctionPID("order")
		return err != nil
	})
	broker, err = embedded.Start(ctx, embedded.Config{Addr: kafkaAddr, DataDir: kafkaDir})
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	back := time.Now()
	var sent *time.Time
	testenv.Eventually(t, 2*pingEvery+30*time.Second, "the order published", func() bool {
		sent = sentAt(t, dbURL, during.ID)
		return sent != nil
	})
	took := sent.Sub(back)
	t.Logf("published %d ms after Kafka came back (ping every %s); order was at zero when Kafka came back", took.Milliseconds(), pingEvery)
	if took > pingEvery+10*time.Second {
		t.Errorf("published %s after Kafka came back, want within one ping period (%s) and a cold start", took, pingEvery)
	}
	for _, table := range []string{"shipping.shipment", "invoicing.invoice"} {
		testenv.Eventually(t, 60*time.Second, "the order in "+table, func() bool { return stored(t, dbURL, table)[during.ID] == 1 })
	}
}

// sentAt reads when the order's placed event left the outbox; nil while unsent.
func sentAt(t *testing.T, dbURL string, orderID int64) *time.Time {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var sent *time.Time
	if err := conn.QueryRow(ctx, `SELECT sent_at FROM orders.outbox WHERE order_id = $1 ORDER BY seq LIMIT 1`, orderID).Scan(&sent); err != nil {
		t.Fatal(err)
	}
	return sent
}
