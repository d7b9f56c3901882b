package supervise

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestMain lets the test binary play a function: FAKE_FUNCTION=serve serves
// the readiness probe on LISTEN_ADDRESS; FAKE_FUNCTION=fail says why and exits.
func TestMain(m *testing.M) {
	switch os.Getenv("FAKE_FUNCTION") {
	case "serve":
		http.HandleFunc("/health/readiness", func(http.ResponseWriter, *http.Request) {})
		fmt.Println(http.ListenAndServe(os.Getenv("LISTEN_ADDRESS"), nil))
		os.Exit(1)
	case "fail":
		fmt.Println("listen tcp: address already in use")
		os.Exit(3)
	}
	os.Exit(m.Run())
}

type reports struct {
	mu    sync.Mutex
	lines []string
}

func (r *reports) add(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = append(r.lines, fmt.Sprintf(format, args...))
}

func (r *reports) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.lines, "\n")
}

func fake(t *testing.T, mode string, rep *reports) *Process {
	t.Helper()
	bin, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	p := New(Spec{Name: "fake", Bin: bin, Env: append(os.Environ(), "FAKE_FUNCTION="+mode), Ports: []int{25990, 25991, 25992, 25993},
		Out: io.Discard, Report: rep.add, Grace: 5 * time.Second, StartTimeout: 20 * time.Second})
	t.Cleanup(p.Down)
	return p
}

func TestExitDuringStartIsNoticedAtOnce(t *testing.T) {
	var rep reports
	p := fake(t, "fail", &rep)
	began := time.Now()
	_, err := p.Up(context.Background())
	if err == nil {
		t.Fatal("Up of a function that exits: no error")
	}
	if took := time.Since(began); took > 5*time.Second {
		t.Errorf("the exit was noticed after %s", took)
	}
	for _, want := range []string{"exited during start", "exit status 3", "address already in use"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestKilledFunctionIsRestarted(t *testing.T) {
	var rep reports
	p := fake(t, "serve", &rep)
	ctx := context.Background()
	if _, err := p.Up(ctx); err != nil {
		t.Fatal(err)
	}
	pid := p.State().PID
	killed := time.Now()
	syscall.Kill(pid, syscall.SIGKILL)
	deadline := time.Now().Add(10 * time.Second)
	for p.State().PID == pid || p.State().PID == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("not restarted; reports:\n%s", &rep)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(rep.String(), "exited unexpectedly") {
		t.Errorf("the crash was not reported:\n%s", &rep)
	}
	st := p.State()
	if st.Exec.Before(killed) {
		t.Errorf("state after a restart: exec %v, want after the kill at %v", st.Exec, killed)
	}
	if st != (State{Phase: PhaseRunning, Instances: 1, PID: st.PID, Restarts: 1, Exec: st.Exec}) {
		t.Errorf("state after a restart: %+v", st)
	}
	p.Down()
	if p.State().Instances != 0 {
		t.Error("running after Down")
	}
	if st := p.State(); st != (State{Phase: PhaseZero, Restarts: 1}) {
		t.Errorf("state after Down: %+v, want zero with the one restart", st)
	}
	if strings.Count(rep.String(), "exited unexpectedly") != 1 {
		t.Errorf("Down reported as a crash:\n%s", &rep)
	}
}

func TestCrashLoopIsReported(t *testing.T) {
	var rep reports
	p := fake(t, "fail", &rep)
	p.Up(context.Background())
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(rep.String(), "crash-looping") {
		if time.Now().After(deadline) {
			t.Fatalf("no crash loop reported:\n%s", &rep)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if st := p.State(); st.Phase != PhaseCrashLooping || st.Restarts < crashLoop {
		t.Errorf("state %+v, want crash-looping after %d restarts or more", st, crashLoop)
	}
}
