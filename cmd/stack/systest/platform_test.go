package systest

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/mskafka/knative-functions/cmd/internal/loadgen"
	"github.com/mskafka/knative-functions/cmd/internal/localstack"
	"github.com/mskafka/knative-functions/cmd/internal/orderapi"
	"github.com/mskafka/knative-functions/shared/testenv"
)

// placed is one order of a load run: its status and, for a 201, its id.
type placed struct {
	status int
	id     int64
	err    string
}

// placeOrders places n orders through the gateway at a steady rate and
// returns every answer.
func placeOrders(gw string, n int, rate float64) []placed {
	// A deadline, so that a request the stack never answers fails this
	// test instead of hanging the package until its timeout.
	orders := orderapi.Client{Base: gw + "/order", HTTP: &http.Client{Timeout: time.Minute}}
	out := make([]placed, n)
	loadgen.Attack(context.Background(), loadgen.Options{Rate: rate, Max: n, Client: orders.HTTP},
		func(i int) vegeta.Target { return orders.Target(orderapi.NewRequest(i, "")) },
		func(h loadgen.Hit) {
			p, err := orderapi.Answer(h.Status, h.Header, h.Body)
			out[h.N] = placed{status: p.Status, id: p.ID, err: h.Err}
			if err != nil {
				out[h.N].err = err.Error()
			}
		})
	return out
}

// stored returns how often each order id is stored in a sink's table.
func stored(t *testing.T, dbURL, table string) map[int64]int {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, "SELECT order_id, count(*) FROM "+table+" GROUP BY order_id")
	if err != nil {
		t.Fatal(err)
	}
	counts := map[int64]int{}
	for rows.Next() {
		var id int64
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			t.Fatal(err)
		}
		counts[id] = n
	}
	return counts
}

// TestFunctionKilledUnderLoad kills each function with SIGKILL while orders
// come in at a steady rate: each is back within seconds, every order
// answered 201 reaches both sinks exactly once, and every other answer is a
// 5xx, never a lost connection or a 4xx.
func TestFunctionKilledUnderLoad(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	freshTopics(t, brokers)
	dbURL := testenv.Database(t, "stack")
	st := startStack(t, dbURL, strings.Join(brokers, ","), 23200)

	const n, rate = 300, 30.0
	answers := make(chan []placed, 1)
	go func() { answers <- placeOrders(st.gateway, n, rate) }()
	for _, name := range localstack.Roster() {
		time.Sleep(2 * time.Second)
		pid, err := st.FunctionPID(name)
		if err != nil {
			t.Fatal(err)
		}
		killed := time.Now()
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatalf("kill %s (pid %d): %v", name, pid, err)
		}
		testenv.Eventually(t, 15*time.Second, name+" restarted", func() bool {
			p, err := st.FunctionPID(name)
			return err == nil && p != pid
		})
		t.Logf("%s (pid %d) killed: back after %d ms", name, pid, time.Since(killed).Milliseconds())
	}
	got := <-answers

	ok := map[int64]bool{}
	refused := 0
	for i, p := range got {
		switch {
		case p.err != "":
			t.Errorf("order %d: %v", i, p.err)
		case p.status == http.StatusCreated:
			ok[p.id] = true
		case p.status >= 500:
			refused++
		default:
			t.Errorf("order %d: status %d", i, p.status)
		}
	}
	t.Logf("%d orders: %d answered 201, %d refused with a 5xx", n, len(ok), refused)
	// Why the activator failed requests: EOF for those inside a killed
	// process; a refused connection is retried on the next instance.
	reasons := map[string]int{}
	for _, line := range strings.Split(st.logs.String(), "\n") {
		if _, reason, ok := strings.Cut(line, " failed: "); ok && strings.HasPrefix(line, "▸") {
			reasons[reason]++
		}
	}
	t.Logf("failed at the activator: %v", reasons)
	for _, table := range []string{"shipping.shipment", "invoicing.invoice"} {
		var counts map[int64]int
		testenv.Eventually(t, 90*time.Second, "every order in "+table, func() bool {
			counts = stored(t, dbURL, table)
			for id := range ok {
				if counts[id] == 0 {
					return false
				}
			}
			return true
		})
		for id, c := range counts {
			if c != 1 {
				t.Errorf("%s: order %d stored %d times", table, id, c)
			}
		}
	}
}

// TestStackKilled kills the stack itself with SIGKILL: none of its function
// processes survives, and a new stack on the same ports starts cleanly.
func TestStackKilled(t *testing.T) {
	brokers := strings.Join(testenv.KafkaBrokers(t), ",")
	dbURL := testenv.Database(t, "stack")
	layout := localstack.At(23240)
	layout.Metrics = ""

	first := launch(t, dbURL, brokers, layout)
	t.Cleanup(func() { first.Stop(time.Second) })
	var pids []int
	for _, name := range localstack.Roster() {
		pid, err := first.FunctionPID(name)
		if err != nil {
			t.Fatal(err)
		}
		pids = append(pids, pid)
	}
	if err := first.Kill(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, pid := range pids {
		testenv.Eventually(t, 5*time.Second, fmt.Sprintf("function pid %d to die with the stack", pid), func() bool {
			return syscall.Kill(pid, 0) != nil
		})
	}
	second := launch(t, dbURL, brokers, layout)
	if err := second.Stop(60 * time.Second); err != nil {
		t.Errorf("second stack: %v", err)
	}
}
