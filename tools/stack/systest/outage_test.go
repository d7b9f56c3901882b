package systest

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/mskafka/knative-functions/shared/testenv"
	"github.com/mskafka/knative-functions/tools/broker/embedded"
)

// TestOutageEndToEnd takes Kafka away while an order is placed: the order is
// accepted (it is in Postgres and the outbox), and once Kafka is back the
// relay publishes it and both sinks get it exactly once. The broker is the
// embedded one here because the test must stop and restart it; the Apache
// Kafka that make test starts is shared by the other packages' tests.
func TestOutageEndToEnd(t *testing.T) {
	t.Parallel() // its own Kafka and ports
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	kafkaAddr, kafkaDir := "127.0.0.1:23190", filepath.Join(t.TempDir(), "kafka")
	broker, err := embedded.Start(ctx, embedded.Config{Addr: kafkaAddr, DataDir: kafkaDir})
	if err != nil {
		t.Fatal(err)
	}
	stack := startStack(t, testenv.Database(t, "stack"), kafkaAddr, 23140)
	gw := stack.gateway

	before := postJSON(t, gw+"/order/api/orders", orderJSON(1, 1))
	testenv.Eventually(t, 20*time.Second, "the first order in shipping", func() bool { return exists(gw + fmt.Sprintf("/shipping/api/shipments/%d", before.ID)) })

	sendFailures := func() float64 {
		return scrape(t, stack.functionMetrics("order")).value("outbox_send_failures_total", nil)
	}
	failed := sendFailures()
	broker.Close()
	during := postJSON(t, gw+"/order/api/orders", orderJSON(2, 4))
	// The relay has tried to publish it and failed: only then does "not
	// published" say something.
	testenv.Eventually(t, 60*time.Second, "a failed relay round while Kafka is down", func() bool { return sendFailures() > failed })
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
		testenv.Eventually(t, 60*time.Second, "the order placed during the outage", func() bool { return exists(gw + fmt.Sprintf(path, during.ID)) })
	}
	var shipments []shipment
	getJSON(t, gw+"/shipping/api/shipments", &shipments)
	if len(shipments) != 2 {
		t.Errorf("got %d shipments, want 2: %+v", len(shipments), shipments)
	}
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

// TestPostgresOutageEndToEnd takes the database away while an order record
// reaches the sinks: they answer 5xx, the dispatcher retries with backoff,
// and once Postgres is back the order is stored exactly once. The test runs
// its own Postgres, because it must stop it.
func TestPostgresOutageEndToEnd(t *testing.T) {
	testenv.PostgresURL(t)
	t.Parallel() // its own Postgres, Kafka and ports
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	pg := privatePostgres(t, 23645)
	kafkaAddr := "127.0.0.1:23646"
	broker, err := embedded.Start(ctx, embedded.Config{Addr: kafkaAddr, DataDir: filepath.Join(t.TempDir(), "kafka")})
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	st := startStack(t, pg.url(t), kafkaAddr, 23600)
	gw := st.gateway

	pg.run(t, "stop")
	producer := testenv.Producer(t, []string{kafkaAddr})
	testenv.Produce(t, producer, &sarama.ProducerMessage{Topic: "order", Key: sarama.StringEncoder("900002"), Value: sarama.StringEncoder(
		`{"id":900002,"customer":{"customerId":1,"name":"Wolff","firstname":"Eberhard","email":"eberhard.wolff@gmail.com"},` +
			`"shippingAddress":{"street":"Ohlauer Str. 43","zip":"10999","city":"Berlin"},"billingAddress":{"street":"Ohlauer Str. 43","zip":"10999","city":"Berlin"},` +
			`"orderLine":[{"count":2,"item":{"itemId":2,"name":"iPod touch","price":21.0}}]}`)})
	// Both sinks have failed on the record (and the dispatcher backs off):
	// only then does "not stored" say something.
	for _, sink := range []string{"shipping", "invoicing"} {
		testenv.Eventually(t, 60*time.Second, sink+" failing while Postgres is down", func() bool {
			return scrape(t, st.functionMetrics(sink)).value("events_handled_total", map[string]string{"result": "failed"}) > 0
		})
	}
	if exists(gw + "/shipping/api/shipments/900002") {
		t.Fatal("stored while Postgres was down")
	}
	pg.run(t, "start")

	for _, path := range []string{"/shipping/api/shipments", "/invoicing/api/invoices"} {
		testenv.Eventually(t, 60*time.Second, path+" after the outage", func() bool { return exists(gw + path + "/900002") })
	}
	var invoices []invoice
	getJSON(t, gw+"/invoicing/api/invoices", &invoices)
	if len(invoices) != 1 || invoices[0].Total != "42.00" {
		t.Errorf("invoices = %+v, want one of 42.00", invoices)
	}
}

// postgresCluster is a private cluster run by infra/local/postgres.sh.
type postgresCluster struct{ env []string }

func privatePostgres(t *testing.T, port int) postgresCluster {
	t.Helper()
	pg := postgresCluster{env: append(os.Environ(), "PG_DIR="+filepath.Join(t.TempDir(), "postgres"), fmt.Sprintf("PG_PORT=%d", port))}
	pg.run(t, "start")
	t.Cleanup(func() {
		pg.run(t, "stop")
		// The cluster may live outside the test's directory (postgres.sh
		// moves it where the server user can reach it).
		os.RemoveAll(pg.run(t, "dir"))
	})
	return pg
}

func (pg postgresCluster) run(t *testing.T, verb string) string {
	t.Helper()
	cmd := exec.Command(repoRoot+"/infra/local/postgres.sh", verb)
	cmd.Env = pg.env
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("postgres.sh %s: %v", verb, err)
	}
	return strings.TrimSpace(string(out))
}

func (pg postgresCluster) url(t *testing.T) string { return pg.run(t, "url") }
