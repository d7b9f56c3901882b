// Package supervise runs a function as a child process the way the kubelet
// runs a pod's container for Knative: started on demand, probed until ready,
// stopped with SIGTERM and a grace period, and started again with backoff
// when it exits on its own. The child dies with the stack (see sysProcAttr).
package supervise

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cenkalti/backoff/v5"
)

// Backoff of restarts after unexpected exits: doubled per failure in a row,
// like Kubernetes' CrashLoopBackOff but short enough for a laptop.
const (
	firstBackoff = 200 * time.Millisecond
	maxBackoff   = 10 * time.Second
	// healthyRun is how long an instance must have been ready for its exit
	// to count as a new incident rather than one more failure in a row.
	healthyRun = 10 * time.Second
	// crashLoop is the number of failures in a row reported as a crash loop.
	crashLoop = 3
	// tailLines is how much of its output a failed start is reported with;
	// tailBytes bounds what is kept of the output to find them.
	tailLines = 15
	tailBytes = 16 << 10
)

// Spec says how to run one function.
type Spec struct {
	Name string
	Bin  string
	// Env is the whole environment but LISTEN_ADDRESS.
	Env []string
	// Addr is where the function listens. Empty: one of Ports on 127.0.0.1,
	// picked afresh for every start, so that a new instance can start while
	// a draining one still holds its port. They should lie below the
	// ephemeral range (32768 and up on Linux), where an outgoing connection
	// could take a port between the pick and the bind.
	Addr  string
	Ports []int
	// Out receives the function's output; Report the supervisor's own lines
	// (cold starts, exits, restarts), one message per call.
	Out    io.Writer
	Report func(format string, args ...any)
	// Grace bounds a graceful stop before SIGKILL, as Knative's
	// terminationGracePeriodSeconds does; StartTimeout the wait for readiness.
	Grace, StartTimeout time.Duration
	// Changed, if set, is called when an instance has become ready or has
	// exited: PID has changed.
	Changed func()
}

// Process is one supervised function. Its methods are safe for concurrent use.
type Process struct {
	spec     Spec
	mu       sync.Mutex
	want     bool      // it should run: Up sets it, Down clears it
	cur      *instance // nil when none
	failures int       // unexpected exits in a row
	restarts int       // unexpected exits in all
	backoff  *backoff.ExponentialBackOff
	next     time.Time // no start before this (backoff)
	port     int       // index in spec.Ports where the next start looks first
}

// instance is one run of the process; cmd and stopping are guarded by
// Process.mu, err is set before done is closed.
type instance struct {
	url      string
	ready    chan struct{} // closed once the readiness probe answered 200
	done     chan struct{} // closed once the process has exited (or never started)
	err      error
	tail     *tail
	cmd      *exec.Cmd // nil until exec
	stopping bool
	execAt   time.Time // just before the fork: the cold start is timed from here
	readyAt  time.Time
}

// New returns a Process that is not running.
func New(spec Spec) *Process {
	if spec.Report == nil {
		spec.Report = func(string, ...any) {}
	}
	spec.Grace = cmp.Or(spec.Grace, 30*time.Second)
	spec.StartTimeout = cmp.Or(spec.StartTimeout, 60*time.Second)
	if spec.Changed == nil {
		spec.Changed = func() {}
	}
	return &Process{spec: spec, backoff: &backoff.ExponentialBackOff{InitialInterval: firstBackoff, Multiplier: 2, MaxInterval: maxBackoff}}
}

// Name is the function's name.
func (p *Process) Name() string { return p.spec.Name }

// Up starts the process unless it runs, waits until it is ready and returns
// its base URL ("http://host:port/"). An instance that exits before it is
// ready makes Up fail at once, with the instance's last lines of output;
// the supervisor starts another one after the backoff.
func (p *Process) Up(ctx context.Context) (string, error) {
	for {
		p.mu.Lock()
		p.want = true
		inst := p.cur
		if inst == nil {
			inst = p.spawnLocked()
		}
		stopping := inst.stopping
		p.mu.Unlock()
		if stopping { // wait for the stop to finish, then start anew
			select {
			case <-inst.done:
				continue
			case <-ctx.Done():
				return "", ctx.Err()
			}
		}
		select {
		case <-inst.ready:
			return inst.url, nil
		case <-inst.done:
			return "", fmt.Errorf("%s exited during start: %w\nlast lines:\n%s", p.spec.Name, inst.err, inst.tail)
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
}

// Down stops the process (SIGTERM, then SIGKILL after the grace period) and
// keeps it stopped until the next Up.
func (p *Process) Down() {
	p.mu.Lock()
	p.want = false
	inst := p.cur
	if inst == nil {
		p.mu.Unlock()
		return
	}
	inst.stopping = true
	cmd := inst.cmd
	p.mu.Unlock()
	signalGroup(cmd, syscall.SIGTERM)
	select {
	case <-inst.done:
	case <-time.After(p.spec.Grace):
		p.spec.Report("%s did not stop within %s: killed", p.spec.Name, p.spec.Grace)
		signalGroup(cmd, syscall.SIGKILL)
		<-inst.done
	}
}

// Ready reports whether an instance is ready and not stopping: a request
// now is served without a cold start.
func (p *Process) Ready() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cur != nil && !p.cur.stopping && !p.cur.readyAt.IsZero()
}

// The phases a State reports, named as the platform page shows them.
const (
	PhaseZero         = "zero"
	PhaseStarting     = "starting"
	PhaseRunning      = "running"
	PhaseDraining     = "draining"
	PhaseCrashLooping = "crash-looping"
)

// State is what the supervisor knows of its function now: Instances counts
// those starting, running or draining, Restarts the unexpected exits since
// the stack started.
type State struct {
	Phase     string
	Instances int
	PID       int
	Restarts  int
	// Exec is when the current instance was started (just before the
	// fork); zero when none runs.
	Exec time.Time
}

// State reports the function's phase, instances and restarts. It asks the
// function nothing.
func (p *Process) State() State {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := State{Phase: PhaseZero, Restarts: p.restarts}
	if inst := p.cur; inst != nil {
		st.Instances = 1
		if inst.cmd != nil && inst.cmd.Process != nil {
			st.PID, st.Exec = inst.cmd.Process.Pid, inst.execAt
		}
		switch {
		case inst.stopping:
			st.Phase = PhaseDraining
		case inst.readyAt.IsZero():
			st.Phase = PhaseStarting
		default:
			st.Phase = PhaseRunning
		}
	}
	if p.failures >= crashLoop && st.Phase != PhaseRunning {
		st.Phase = PhaseCrashLooping
	}
	return st
}

// signalGroup signals the function and everything it started.
func signalGroup(cmd *exec.Cmd, sig syscall.Signal) {
	if cmd == nil || cmd.Process == nil {
		return
	}
	if err := syscall.Kill(-cmd.Process.Pid, sig); err != nil {
		cmd.Process.Signal(sig)
	}
}

// spawnLocked creates the next instance and starts it after the backoff.
func (p *Process) spawnLocked() *instance {
	inst := &instance{ready: make(chan struct{}), done: make(chan struct{}), tail: &tail{out: p.spec.Out}}
	p.cur = inst
	go p.run(inst, time.Until(p.next))
	return inst
}

// run executes one instance from its start to its exit.
func (p *Process) run(inst *instance, delay time.Duration) {
	// The kernel sends the parent-death signal when the *thread* that forked
	// the child exits, and Go may retire threads. This goroutine keeps its
	// thread until the child has exited; it never unlocks, so the thread
	// ends with the goroutine, when the signal can no longer hurt.
	runtime.LockOSThread()
	if delay > 0 {
		time.Sleep(delay)
	}
	exited, err := p.exec(inst)
	if err == nil {
		go p.probe(inst, exited)
		err = <-exited
	}
	inst.err = err
	p.ended(inst) // before done: whoever waits on it (Down) finds p.cur cleared
	close(inst.done)
	p.spec.Changed()
}

// exec starts the binary; the channel yields its exit.
func (p *Process) exec(inst *instance) (<-chan error, error) {
	addr := p.spec.Addr
	if addr == "" {
		var err error
		if addr, err = p.pickPort(); err != nil {
			return nil, err
		}
	}
	inst.url = "http://" + addr + "/"
	cmd := exec.Command(p.spec.Bin)
	cmd.Env = append(append([]string(nil), p.spec.Env...), "LISTEN_ADDRESS="+addr)
	cmd.Stdout, cmd.Stderr = inst.tail, inst.tail
	cmd.SysProcAttr = sysProcAttr()
	p.mu.Lock()
	defer p.mu.Unlock()
	if inst.stopping {
		return nil, errors.New("stopped before it started")
	}
	inst.execAt = time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", p.spec.Name, err)
	}
	inst.cmd = cmd
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	return exited, nil
}

// probe polls the readiness endpoint, as the kubelet does, closes ready on
// the first 200 and reports the cold start: exec to ready. The polls come
// 1 ms apart for the first 100 ms, then back off to 20 ms: a function is
// usually ready within 10-20 ms of exec, a coarser step made every cold
// start wait for the next poll, and a refused probe on loopback costs
// microseconds.
func (p *Process) probe(inst *instance, exited <-chan error) {
	began := inst.execAt // not written again
	wait := time.Millisecond
	client := &http.Client{Timeout: time.Second}
	deadline := time.After(p.spec.StartTimeout)
	for {
		if resp, err := client.Get(inst.url + "health/readiness"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				p.mu.Lock()
				inst.readyAt = time.Now()
				p.mu.Unlock()
				p.spec.Report("%s: cold start in %d ms (pid %d)", p.spec.Name, time.Since(began).Milliseconds(), inst.cmd.Process.Pid)
				close(inst.ready)
				p.spec.Changed()
				return
			}
		}
		select {
		case <-inst.done:
			return
		case <-deadline:
			p.spec.Report("%s: not ready after %s: killed\nlast lines:\n%s", p.spec.Name, p.spec.StartTimeout, inst.tail)
			signalGroup(inst.cmd, syscall.SIGKILL)
			return
		case <-time.After(wait):
			if time.Since(began) > 100*time.Millisecond {
				wait = min(2*wait, 20*time.Millisecond)
			}
		}
	}
}

// ended records an instance's end and, if it was not asked to stop and the
// function is still wanted, schedules the next instance after the backoff.
func (p *Process) ended(inst *instance) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cur == inst {
		p.cur = nil
	}
	if inst.stopping {
		return
	}
	p.restarts++
	if inst.readyAt.IsZero() || time.Since(inst.readyAt) < healthyRun {
		p.failures++
	} else {
		p.failures = 1
		p.backoff.Reset()
	}
	backoff := p.backoff.NextBackOff()
	p.next = time.Now().Add(backoff)
	p.spec.Report("%s exited unexpectedly (%v); restarting in %s", p.spec.Name, inst.err, backoff)
	if p.failures >= crashLoop {
		p.spec.Report("%s is crash-looping: %d failures in a row; its last lines:\n%s", p.spec.Name, p.failures, inst.tail)
	}
	if p.want && p.cur == nil {
		p.spawnLocked()
	}
}

// pickPort returns a loopback address of spec.Ports that no socket holds,
// taking them in turn: each start gets another port than the one before,
// so a request that found the old instance gone is never sent back there.
func (p *Process) pickPort() (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(p.spec.Ports)
	for i := range n {
		k := (p.port + i) % n
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p.spec.Ports[k]))
		if err == nil {
			addr := ln.Addr().String()
			ln.Close()
			p.port = k + 1
			return addr, nil
		}
	}
	return "", fmt.Errorf("pick a port: all of %v are taken", p.spec.Ports)
}

// tail passes a process's output on and keeps its end, so a function that
// dies during start can be reported with what it said last.
type tail struct {
	mu  sync.Mutex
	out io.Writer
	end []byte
}

func (t *tail) Write(b []byte) (int, error) {
	t.mu.Lock()
	if t.end = append(t.end, b...); len(t.end) > 2*tailBytes {
		t.end = append(t.end[:0:0], t.end[len(t.end)-tailBytes:]...)
	}
	t.mu.Unlock()
	return t.out.Write(b)
}

// String returns the last tailLines lines, the unfinished one included.
func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	lines := strings.Split(strings.TrimSuffix(string(t.end), "\n"), "\n")
	return strings.Join(lines[max(len(lines)-tailLines, 0):], "\n")
}
