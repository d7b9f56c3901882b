package systest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mskafka/knative-functions/cmd/internal/localstack"
)

// repoRoot is the repository seen from this package's directory, where
// go test runs the tests.
const repoRoot = "../../.."

// built holds bin/stack and bin/function, built once per test binary.
var built struct {
	once            sync.Once
	dir             string
	stack, function string
	err             error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// binaries builds the stack and the function binary on first use.
func binaries(tb testing.TB) (stack, function string) {
	tb.Helper()
	built.once.Do(func() {
		if built.dir, built.err = os.MkdirTemp("", "systest-"); built.err != nil {
			return
		}
		built.stack, built.function = filepath.Join(built.dir, "stack"), filepath.Join(built.dir, "function")
		for bin, pkg := range map[string]string{built.stack: "..", built.function: "../../function"} {
			if out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
				built.err = fmt.Errorf("build %s: %v\n%s", pkg, err, out)
				return
			}
		}
	})
	if built.err != nil {
		tb.Fatal(built.err)
	}
	return built.stack, built.function
}

// runningStack is a stack a test started.
type runningStack struct {
	*localstack.Stack
	gateway string      // http://host:port of the gateway
	metrics string      // host:port of the dispatcher's /metrics
	logs    *syncBuffer // what the stack printed, the functions' logs included
}

// functionMetrics returns the URL of a function's /metrics, through its
// activator (so a scrape wakes a function at zero).
func (st runningStack) functionMetrics(function string) string {
	return "http://" + st.Activator(function) + "/metrics"
}

// launch runs bin/stack against the given database and Kafka on layout
// and waits until it serves; extra comes last in its environment and so
// wins over the rest.
func launch(t *testing.T, dbURL, brokers string, layout localstack.Layout, extra ...string) runningStack {
	t.Helper()
	stack, _ := binaries(t)
	var env []string
	for _, kv := range os.Environ() { // a developer's OBSERVE=1 or ONLY=order must not change the test
		if k, _, _ := strings.Cut(kv, "="); k != "OBSERVE" && k != "ONLY" && k != "WARM" {
			env = append(env, kv)
		}
	}
	env = append(env, "DATABASE_URL="+dbURL, "KAFKA_BROKERS="+brokers,
		"REPO_ROOT="+repoRoot, "FUNCTION_BIN="+built.function, "OUTBOX_INTERVAL=500ms")
	logs := &syncBuffer{}
	st, err := localstack.Start(context.Background(), localstack.Options{Bin: stack, Env: append(env, extra...), Layout: layout,
		Out: logs, Ready: 90 * time.Second})
	if err != nil {
		t.Fatalf("%v:\n%s", err, logs.String())
	}
	return runningStack{Stack: st, gateway: layout.GatewayURL(), metrics: layout.Metrics, logs: logs}
}

// startStack runs bin/stack on the ports from firstPort (localstack.At)
// until the test ends. A stack that exits with an error fails the test.
func startStack(t *testing.T, dbURL, brokers string, firstPort int, extra ...string) runningStack {
	t.Helper()
	st := launch(t, dbURL, brokers, localstack.At(firstPort), extra...)
	t.Cleanup(func() {
		if err := st.Stop(60 * time.Second); err != nil {
			t.Errorf("stack: %v", err)
		}
		if t.Failed() {
			t.Logf("stack output:\n%s", st.logs.String())
		}
	})
	return st
}
