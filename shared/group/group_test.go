package group

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mskafka/knative-functions/shared/testenv"
)

// fake records what a group was asked to do. Its alone blocks on a
// call's gate, if the call has one, so a test can hold the leader while
// others queue.
type fake struct {
	mu     sync.Mutex
	groups [][]int // the args of each together
	alones []int
	gates  map[int]chan struct{}
	fail   func(arg int) bool // together fails when it holds such an arg
}

func (f *fake) alone(ctx context.Context, arg int) (string, error) {
	f.mu.Lock()
	f.alones = append(f.alones, arg)
	gate := f.gates[arg]
	f.mu.Unlock()
	if gate != nil {
		<-gate
	}
	if f.fail != nil && f.fail(arg) {
		return "", fmt.Errorf("arg %d fails", arg)
	}
	return fmt.Sprint("alone ", arg), nil
}

func (f *fake) together(ctx context.Context, calls []*Call[int, string]) error {
	args := make([]int, len(calls))
	for i, c := range calls {
		args[i] = c.Arg
	}
	slices.Sort(args)
	f.mu.Lock()
	f.groups = append(f.groups, args)
	f.mu.Unlock()
	for _, c := range calls {
		if f.fail != nil && f.fail(c.Arg) {
			return errors.New("the transaction failed")
		}
	}
	for _, c := range calls {
		c.Result = fmt.Sprint("together ", c.Arg)
	}
	return nil
}

type answer struct {
	res string
	err error
}

// queued starts do(arg) for each of args while the call 0 holds the
// leader, waits until they are all queued, then lets call 0 go and
// returns each arg's answer.
func queued(t *testing.T, f *fake, g *Group[int, string], ctxs map[int]context.Context, args ...int) map[int]answer {
	t.Helper()
	gate := make(chan struct{})
	f.gates = map[int]chan struct{}{0: gate}
	answers := map[int]answer{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	do := func(arg int) {
		ctx := ctxs[arg]
		if ctx == nil {
			ctx = context.Background()
		}
		res, err := g.Do(ctx, arg)
		mu.Lock()
		answers[arg] = answer{res, err}
		mu.Unlock()
	}
	wg.Go(func() { do(0) })
	testenv.Eventually(t, 10*time.Second, "the first call under way", func() bool { f.mu.Lock(); defer f.mu.Unlock(); return len(f.alones) == 1 })
	for _, a := range args {
		wg.Go(func() { do(a) })
	}
	testenv.Eventually(t, 10*time.Second, "the calls queued", func() bool { return g.Waiting() == len(args) })
	for _, a := range args {
		if ctx := ctxs[a]; ctx != nil {
			<-ctx.Done()
		}
	}
	close(gate)
	wg.Wait()
	return answers
}

// The calls that arrive while a group runs go together into the next one,
// at most max of them; a lone call is done alone.
func TestGroupsWhatArrivesWhileOneCommits(t *testing.T) {
	f := &fake{}
	g := New(3, f.alone, f.together)
	answers := queued(t, f, g, nil, 1, 2, 3, 4)
	// 0 alone; 1, 2, 3 together (they queued in any order, but the first
	// three queued go first); 4 then alone.
	if len(f.groups) != 1 || len(f.groups[0]) != 3 || len(f.alones) != 2 || f.alones[0] != 0 {
		t.Fatalf("groups %v, alone %v: want 0 alone, three together, the fourth alone", f.groups, f.alones)
	}
	for _, a := range []int{0, 1, 2, 3, 4} {
		want := "together"
		if a == 0 || a == f.alones[1] {
			want = "alone"
		}
		if got := answers[a]; got.err != nil || got.res != fmt.Sprint(want, " ", a) {
			t.Errorf("call %d answered %q, %v; want %s", a, got.res, got.err, want)
		}
	}
}

// A group that fails is done again one call at a time: the bad call gets
// its own error, the others their results.
func TestGroupFailsAlone(t *testing.T) {
	f := &fake{fail: func(arg int) bool { return arg == 2 }}
	g := New(8, f.alone, f.together)
	answers := queued(t, f, g, nil, 1, 2, 3)
	if diff := cmp.Diff([][]int{{1, 2, 3}}, f.groups); diff != "" {
		t.Errorf("groups (-want +got):\n%s", diff)
	}
	slices.Sort(f.alones)
	if diff := cmp.Diff([]int{0, 1, 2, 3}, f.alones); diff != "" {
		t.Errorf("done alone (-want +got):\n%s", diff)
	}
	for a, want := range map[int]string{1: "alone 1", 3: "alone 3"} {
		if got := answers[a]; got.err != nil || got.res != want {
			t.Errorf("call %d answered %q, %v; want %q", a, got.res, got.err, want)
		}
	}
	if got := answers[2]; got.err == nil || got.err.Error() != "arg 2 fails" {
		t.Errorf("call 2 answered %q, %v; want its own error", got.res, got.err)
	}
}

// A caller that goes before its group starts is left out of it; a caller
// that goes while its group runs is answered at once, and its work goes
// on, neither cancelled nor without its caller's values.
func TestGroupCancellation(t *testing.T) {
	f := &fake{}
	g := New(8, f.alone, f.together)
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	answers := queued(t, f, g, map[int]context.Context{2: gone}, 1, 2, 3)
	if diff := cmp.Diff([][]int{{1, 3}}, f.groups); diff != "" {
		t.Errorf("groups (-want +got):\n%s", diff)
	}
	if got := answers[2]; !errors.Is(got.err, context.Canceled) {
		t.Errorf("gone caller answered %q, %v; want context.Canceled", got.res, got.err)
	}

	// Call 1 queues behind call 0 (run alone, held at its gate), so that
	// its own group runs in the leader's goroutine.
	type key struct{}
	caller, cancel := context.WithCancel(context.WithValue(context.Background(), key{}, "caller's"))
	gate0, started, release := make(chan struct{}), make(chan struct{}), make(chan struct{})
	work := make(chan seen, 1)
	g = New(8, func(ctx context.Context, arg int) (string, error) {
		if arg == 0 {
			<-gate0
			return "done", nil
		}
		close(started)
		<-release
		work <- seenIn(ctx, key{})
		return "done", nil
	}, nil)
	go g.Do(context.Background(), 0)
	answered := make(chan error, 1)
	testenv.Eventually(t, 10*time.Second, "call 0 under way", func() bool { g.mu.Lock(); defer g.mu.Unlock(); return g.leading })
	go func() { _, err := g.Do(caller, 1); answered <- err }()
	testenv.Eventually(t, 10*time.Second, "call 1 queued", func() bool { return g.Waiting() == 1 })
	close(gate0)
	<-started
	cancel()
	if err := <-answered; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled while its group runs: err %v, want context.Canceled", err)
	}
	close(release)
	got := <-work
	if got.err != nil || got.value != "caller's" {
		t.Errorf("the work's context: err %v, value %v; want live, with the caller's values", got.err, got.value)
	}
	if !got.hasDeadline {
		t.Error("the work's context has no deadline: a hanging database would hold every later call")
	}
}

// seen is what a call's work saw of its context.
type seen struct {
	err         error
	value       any
	hasDeadline bool
}

func seenIn(ctx context.Context, key any) seen {
	_, ok := ctx.Deadline()
	return seen{ctx.Err(), ctx.Value(key), ok}
}

// A call that finds no group running runs in its caller's goroutine, and
// later calls queue meanwhile and run in a group of their own. When its
// caller goes during its work, the work goes on uncancelled and the
// caller is answered with ctx.Err() once it is done.
func TestLoneCallRunsInline(t *testing.T) {
	type key struct{}
	caller, cancel := context.WithCancel(context.WithValue(context.Background(), key{}, "caller's"))
	var inline bool
	var got seen
	f := &fake{}
	others := make(chan struct{})
	var g *Group[int, string]
	g = New(8, func(ctx context.Context, arg int) (string, error) {
		if arg != 0 {
			return f.alone(ctx, arg)
		}
		g.mu.Lock()
		inline = g.leading // set by Do before it runs the call here
		g.mu.Unlock()
		// Two calls arrive while this one runs; they go together.
		var wg sync.WaitGroup
		for _, a := range []int{1, 2} {
			wg.Go(func() { g.Do(context.Background(), a) })
		}
		testenv.Eventually(t, 10*time.Second, "the calls queued", func() bool { return g.Waiting() == 2 })
		cancel()
		got = seenIn(ctx, key{})
		go func() { wg.Wait(); close(others) }()
		return "done", nil
	}, f.together)
	res, err := g.Do(caller, 0)
	if !inline {
		t.Error("the lone call did not run in its caller's goroutine")
	}
	if !errors.Is(err, context.Canceled) || res != "done" {
		t.Errorf("lone call whose caller went: %q, %v; want its result and context.Canceled", res, err)
	}
	if got.err != nil || got.value != "caller's" || !got.hasDeadline {
		t.Errorf("the lone call's context: %+v; want live, bounded, with the caller's values", got)
	}
	<-others
	if diff := cmp.Diff([][]int{{1, 2}}, f.groups); diff != "" {
		t.Errorf("the calls that came meanwhile: groups (-want +got):\n%s", diff)
	}
}
