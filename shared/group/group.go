// Package group commits concurrent calls together: the calls that arrive
// while one group is being committed go together into the next, so that
// several callers share one transaction and one commit (one WAL flush), and
// each is answered, with its own result, once its group has committed.
//
// There is no timer: a group is whatever came while the previous one was
// being committed, so a lone call waits for nothing. A call that finds no
// group running runs at once in its caller's goroutine: at moderate rates
// most calls are such, and handing them to another goroutine and back cost
// more CPU than their grouping saved (profiles of order and the sinks).
package group

import (
	"context"
	"slices"
	"sync"
	"time"
)

// Call is one caller's work in a group.
type Call[A, R any] struct {
	// Ctx is the caller's context without its cancellation (the group goes
	// on when one caller goes), bounded by the group's timeout: work done
	// under it traces in the caller's trace.
	Ctx context.Context
	Arg A
	// Result and Err are the caller's answer, set by the group's work.
	Result R
	Err    error

	caller context.Context
	done   chan struct{}
}

// timeout bounds a group's work, which no caller can cancel: a database
// that hangs must not hold every later call behind it. It is longer than a
// KafkaSource waits for an answer (10 s, infra/eventing), so a caller has
// gone (and will retry) before its group gives up.
const timeout = 30 * time.Second

// Group runs calls together. Together runs a group's calls in one
// transaction and sets each one's Result and Err; when it fails (one call's
// statement failed, so the transaction did: nothing of it is committed),
// each call of the group is run alone, so a bad call fails only itself. A
// group of one is run alone too.
type Group[A, R any] struct {
	max      int
	alone    func(context.Context, A) (R, error)
	together func(context.Context, []*Call[A, R]) error

	mu      sync.Mutex
	waiting []*Call[A, R]
	leading bool // a goroutine is committing groups
}

// New returns a group of at most max calls. Its work, together and alone
// after it, is bounded by 30 s.
func New[A, R any](max int, alone func(context.Context, A) (R, error),
	together func(context.Context, []*Call[A, R]) error) *Group[A, R] {
	return &Group[A, R]{max: max, alone: alone, together: together}
}

// Do runs arg in the next group and returns its result. A caller whose ctx
// ends before its group starts is left out of it; one whose ctx ends while
// its group runs is answered with ctx.Err() at once, and its work may still
// commit. A call that finds no group running runs alone at once, in this
// goroutine: it returns when its work is done, whether or not ctx has
// ended meanwhile (its work is bounded like a group's).
func (g *Group[A, R]) Do(ctx context.Context, arg A) (R, error) {
	c := &Call[A, R]{Arg: arg, caller: ctx, done: make(chan struct{})}
	g.mu.Lock()
	if !g.leading {
		g.leading = true
		g.mu.Unlock()
		g.commit([]*Call[A, R]{c})
		// Calls that came meanwhile form the next group, led elsewhere.
		g.lead(true)
		if ctx.Err() != nil && c.Err == nil {
			// As for a caller gone while its group runs: its work may
			// have committed, but nobody waits for the result.
			return c.Result, ctx.Err()
		}
		return c.Result, c.Err
	}
	g.waiting = append(g.waiting, c)
	g.mu.Unlock()
	select {
	case <-c.done:
		return c.Result, c.Err
	case <-ctx.Done():
		var none R
		return none, ctx.Err()
	}
}

// Waiting reports how many calls wait for the next group.
func (g *Group[A, R]) Waiting() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.waiting)
}

// lead commits groups until none is waiting. With handOff, it only starts
// a goroutine for that when some are (the caller has just run alone).
func (g *Group[A, R]) lead(handOff bool) {
	for {
		g.mu.Lock()
		n := min(len(g.waiting), g.max)
		if n == 0 {
			g.leading = false
			g.mu.Unlock()
			return
		}
		if handOff {
			g.mu.Unlock()
			// The groups run on beyond the caller, so not under its
			// cancellation, and outside its trace: each call's work
			// traces in its own caller's (Call.Ctx).
			go g.lead(false)
			return
		}
		calls := slices.Clone(g.waiting[:n])
		g.waiting = slices.Delete(g.waiting, 0, n)
		g.mu.Unlock()
		g.commit(calls)
	}
}

// commit runs calls, together if it can, and answers each.
func (g *Group[A, R]) commit(calls []*Call[A, R]) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	// A caller that has gone already is left out: nobody waits for its
	// answer.
	live := calls[:0:0]
	for _, c := range calls {
		if c.caller.Err() != nil {
			close(c.done)
			continue
		}
		var stop context.CancelFunc
		c.Ctx, stop = context.WithDeadline(context.WithoutCancel(c.caller), deadline(ctx))
		defer stop()
		live = append(live, c)
	}
	defer func() {
		for _, c := range live {
			close(c.done)
		}
	}()
	if len(live) > 1 && g.together(ctx, live) == nil {
		return
	}
	for _, c := range live {
		c.Result, c.Err = g.alone(c.Ctx, c.Arg)
	}
}

func deadline(ctx context.Context) time.Time {
	d, _ := ctx.Deadline()
	return d
}
