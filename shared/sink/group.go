package sink

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mskafka/knative-functions/shared/db"
)

// group commits the placements that arrive while one is being committed
// together, in one transaction: one commit (one WAL flush) for several
// events instead of one each. Each caller is answered once the transaction
// that holds its placement has committed, with its own outcome. A group
// that fails (a statement of one of them failed, so the transaction did) is
// retried one placement at a time, so one bad event fails only itself.
//
// There is no timer: a group is whatever came while the previous one was
// being committed, so a lone event waits for nothing.
type group struct {
	pool *pgxpool.Pool
	max  int // most placements in one transaction

	mu      sync.Mutex
	waiting []*pending
	leading bool // a goroutine is committing groups
}

type pending struct {
	// ctx is the caller's, without its cancellation: the placement's
	// statements trace in its caller's trace even when run in a group.
	ctx     context.Context
	p       *placement
	outcome Outcome
	err     error
	done    chan struct{}
}

// place commits p in the next group and returns its outcome.
func (g *group) place(ctx context.Context, p *placement) (Outcome, error) {
	w := &pending{ctx: context.WithoutCancel(ctx), p: p, done: make(chan struct{})}
	g.mu.Lock()
	g.waiting = append(g.waiting, w)
	lead := !g.leading
	g.leading = true
	g.mu.Unlock()
	if lead {
		// The groups run on beyond this request's own (the next may hold
		// others' events), so not under its cancellation, and outside its
		// trace: each placement's statements trace in its own caller's.
		go g.lead(context.Background())
	}
	select {
	case <-w.done:
		return w.outcome, w.err
	case <-ctx.Done():
		// Answered as failed (retried); if its group commits, the retry
		// finds a duplicate.
		return "", ctx.Err()
	}
}

// lead commits groups until none is waiting.
func (g *group) lead(ctx context.Context) {
	for {
		g.mu.Lock()
		n := min(len(g.waiting), g.max)
		if n == 0 {
			g.leading = false
			g.mu.Unlock()
			return
		}
		batch := slices.Clone(g.waiting[:n])
		g.waiting = slices.Delete(g.waiting, 0, n)
		g.mu.Unlock()
		g.commit(ctx, batch)
	}
}

// groupTimeout bounds a group's work, which no caller can cancel: a
// Postgres that hangs must not hold every later event behind it. It is
// longer than a KafkaSource waits for an answer (10 s, infra/eventing), so
// a caller has gone (and will retry) before its group gives up.
const groupTimeout = 30 * time.Second

// commit runs batch in one transaction and answers each.
func (g *group) commit(ctx context.Context, batch []*pending) {
	defer func() {
		for _, w := range batch {
			close(w.done)
		}
	}()
	alone := func(w *pending) {
		ctx, cancel := context.WithTimeout(w.ctx, groupTimeout)
		defer cancel()
		w.outcome, w.err = placeOnce(ctx, g.pool, w.p)
	}
	if len(batch) == 1 {
		alone(batch[0])
		return
	}
	ctx, cancel := context.WithTimeout(ctx, groupTimeout)
	defer cancel()
	if err := g.together(ctx, batch); err != nil {
		for _, w := range batch {
			alone(w)
		}
		return
	}
	for _, w := range batch {
		w.outcome, w.err = w.p.outcome(w.ctx, g.pool)
	}
}

// together sends the placements of batch in one transaction, in one round
// trip. They take their order locks in order-id order, so two groups (two
// instances of a sink) cannot deadlock.
func (g *group) together(ctx context.Context, batch []*pending) error {
	slices.SortFunc(batch, func(a, b *pending) int { return cmp.Compare(a.p.orderID, b.p.orderID) })
	conn, err := g.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("acquire: %w", err)
	}
	defer conn.Release()
	b := &pgx.Batch{}
	b.Queue(`BEGIN`)
	callers := make([]context.Context, len(batch))
	owner := []int{-1}
	for i, w := range batch {
		callers[i] = w.ctx
		w.p.queue(b)
		for len(owner) < b.Len() {
			owner = append(owner, i)
		}
	}
	b.Queue(`COMMIT`)
	owner = append(owner, -1)
	err = conn.SendBatch(db.WithShares(ctx, callers, owner), b).Close()
	if conn.Conn().PgConn().TxStatus() != 'I' {
		// A failed statement left the transaction aborted: nothing of it
		// was committed.
		if _, rerr := conn.Exec(ctx, `ROLLBACK`); rerr != nil {
			conn.Conn().Close(ctx)
		}
		if err == nil {
			err = fmt.Errorf("commit %d placements: still in a transaction", len(batch))
		}
	}
	if err != nil {
		return fmt.Errorf("place %d orders together: %w", len(batch), err)
	}
	return nil
}
