package systest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mskafka/knative-functions/shared/testenv"
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
	gateway string      // http://host:port of the gateway
	metrics string      // host:port of the dispatcher's /metrics
	logs    *syncBuffer // what the stack printed, the functions' logs included
	first   int         // the first of its ports
}

// functionMetrics returns the URL of a function's /metrics, through its
// activator (so a scrape wakes a function at zero).
func (st runningStack) functionMetrics(function string) string {
	i := map[string]int{"order": 1, "shipping": 2, "invoicing": 3}[function]
	return fmt.Sprintf("http://127.0.0.1:%d/metrics", st.first+i)
}

// stackEnv is the environment of a stack on the ports from firstPort: the
// gateway there, the activators of order, shipping and invoicing on the
// next three, the dispatcher's metrics on the fifth, the function
// instances from firstPort+20 up to firstPort+31. extra comes last and so
// wins over the rest.
func stackEnv(dbURL, brokers string, firstPort int, extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() { // a developer's OBSERVE=1 or ONLY=order must not change the test
		if k, _, _ := strings.Cut(kv, "="); k != "OBSERVE" && k != "ONLY" && k != "WARM" {
			env = append(env, kv)
		}
	}
	env = append(env,
		"DATABASE_URL="+dbURL, "KAFKA_BROKERS="+brokers,
		fmt.Sprintf("GATEWAY_ADDR=127.0.0.1:%d", firstPort),
		fmt.Sprintf("FUNCTION_PORT=%d", firstPort+1),
		fmt.Sprintf("DISPATCH_METRICS_ADDR=127.0.0.1:%d", firstPort+4),
		"REPO_ROOT="+repoRoot, "FUNCTION_BIN="+built.function, "OUTBOX_INTERVAL=500ms")
	return append(env, extra...)
}

// startStack runs bin/stack against the given database and Kafka on the
// ports from firstPort (see stackEnv) until the test ends, and waits for
// its gateway to answer. A stack that exits with an error fails the test.
func startStack(t *testing.T, dbURL, brokers string, firstPort int, extra ...string) runningStack {
	t.Helper()
	stack, _ := binaries(t)
	cmd := exec.Command(stack)
	cmd.Env = stackEnv(dbURL, brokers, firstPort, extra...)
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("stack: %v", err)
			}
		case <-time.After(60 * time.Second):
			_ = cmd.Process.Kill()
			t.Errorf("stack did not stop within 60s of SIGTERM")
			<-exited
		}
		if t.Failed() {
			t.Logf("stack output:\n%s", logs.String())
		}
	})
	st := runningStack{gateway: fmt.Sprintf("http://127.0.0.1:%d", firstPort),
		metrics: fmt.Sprintf("127.0.0.1:%d", firstPort+4), logs: logs, first: firstPort}
	testenv.Eventually(t, 90*time.Second, "the gateway", func() bool {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("stack exited at start (%v):\n%s", err, logs.String())
		default:
		}
		return exists(st.gateway + "/")
	})
	return st
}
