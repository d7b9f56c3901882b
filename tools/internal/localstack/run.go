package localstack

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/mskafka/knative-functions/tools/internal/wait"
)

// Options say how to run bin/stack.
type Options struct {
	Bin    string   // bin/stack
	Dir    string   // its working directory; empty: this one
	Env    []string // its environment besides the layout's and the state file's
	Layout Layout
	Out    io.Writer     // its output (the functions' logs included); nil: discarded
	Ready  time.Duration // how long the stack may take to start; zero: two minutes
}

// Stack is a running bin/stack, in a process group of its own that dies
// with this process.
type Stack struct {
	Layout
	cmd   *exec.Cmd
	state string
	done  chan struct{}
	err   error // its exit, once done is closed
}

// Start runs bin/stack and waits until it has finished starting and every
// function answers through the gateway.
func Start(ctx context.Context, o Options) (*Stack, error) {
	dir, err := os.MkdirTemp("", "stack-state-")
	if err != nil {
		return nil, err
	}
	s := &Stack{Layout: o.Layout, state: filepath.Join(dir, "stack.json"), done: make(chan struct{})}
	s.cmd = exec.Command(o.Bin)
	s.cmd.Dir = o.Dir
	s.cmd.Env = append(append(append([]string(nil), o.Env...), o.Layout.Env()...), StateEnv+"="+s.state)
	s.cmd.Stdout = cmp.Or(o.Out, io.Writer(io.Discard))
	s.cmd.Stderr = s.cmd.Stdout
	s.cmd.SysProcAttr = sysProcAttr()
	if err := s.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start %s: %w", o.Bin, err)
	}
	go func() { s.err = s.cmd.Wait(); os.RemoveAll(dir); close(s.done) }()
	if err := s.WaitServing(ctx, cmp.Or(o.Ready, 2*time.Minute)); err != nil {
		s.Stop(10 * time.Second)
		return nil, err
	}
	return s, nil
}

// PID is the stack's own process id.
func (s *Stack) PID() int { return s.cmd.Process.Pid }

// State reads what the stack says of itself now.
func (s *Stack) State() (State, error) { return ReadState(s.state) }

// FunctionPID is the process id of a function's current instance.
func (s *Stack) FunctionPID(function string) (int, error) {
	st, err := s.State()
	if err != nil {
		return 0, err
	}
	if pid := st.Functions[function].PID; pid > 0 {
		return pid, nil
	}
	return 0, fmt.Errorf("no instance of %s runs (stack pid %d)", function, s.PID())
}

// WaitServing waits until the stack says it is ready and the read route of
// every function answers 200 through the gateway (which wakes a function
// scaled to zero), for at most limit.
func (s *Stack) WaitServing(ctx context.Context, limit time.Duration) error {
	client := &http.Client{Timeout: 10 * time.Second}
	err := wait.Until(ctx, limit, 100*time.Millisecond, func(ctx context.Context) (bool, error) {
		select {
		case <-s.done:
			return false, fmt.Errorf("exited: %v", s.err)
		default:
			return s.serving(ctx, client), nil
		}
	})
	if err != nil {
		return fmt.Errorf("the stack is not serving: %w", err)
	}
	return nil
}

func (s *Stack) serving(ctx context.Context, client *http.Client) bool {
	if st, err := s.State(); err != nil || !st.Ready {
		return false
	}
	for _, f := range Roster() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.GatewayURL()+ReadRoute(f), nil)
		resp, err := client.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return false
		}
	}
	return true
}

// Stop asks the stack to stop (it stops its functions) and waits for its
// exit; after grace it kills its whole process group. It returns how the
// stack exited.
func (s *Stack) Stop(grace time.Duration) error {
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
		return s.err
	case <-time.After(grace):
		syscall.Kill(-s.PID(), syscall.SIGKILL)
		<-s.done
		return fmt.Errorf("the stack did not stop within %s of SIGTERM: killed", grace)
	}
}

// Kill sends SIGKILL to the stack alone, not its process group, and waits
// for its exit: its functions must die with it by themselves.
func (s *Stack) Kill(ctx context.Context) error {
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("kill the stack: %w", err)
	}
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// StateEnv names the file a stack keeps its State in.
const StateEnv = "STACK_STATE"

// State is what a running stack tells of itself, in the file StateEnv
// names, rewritten whenever it changes: its own PID, whether it has
// finished starting, and each function's address and current instance.
type State struct {
	PID       int                 `json:"pid"`
	Ready     bool                `json:"ready"`
	Gateway   string              `json:"gateway,omitempty"` // host:port; with ONLY, the function's
	Metrics   string              `json:"metrics,omitempty"` // host:port of the dispatcher's /metrics
	Functions map[string]Function `json:"functions"`
}

// Function is one function of a running stack.
type Function struct {
	Addr string `json:"addr"` // its activator (or, with ONLY, where it listens)
	PID  int    `json:"pid"`  // its current instance; 0 when scaled to zero
	// Exec is when the current instance was started; absent when none runs.
	Exec time.Time `json:"exec,omitzero"`
}

// Write replaces the file at path with s, whole: a reader never sees half.
// The stack is the file's one writer.
func (s State) Write(path string) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path+".tmp", b, 0o644); err != nil {
		return err
	}
	return os.Rename(path+".tmp", path)
}

// ReadState reads the state a stack wrote to path.
func ReadState(path string) (State, error) {
	var s State
	b, err := os.ReadFile(path)
	if err != nil {
		return s, err
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}
