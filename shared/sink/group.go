package sink

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mskafka/knative-functions/shared/db"
	"github.com/mskafka/knative-functions/shared/group"
)

// placements commits placed events together (see package group).
type placements = group.Group[*placement, Outcome]

func newPlacements(pool *pgxpool.Pool, max int) *placements {
	alone := func(ctx context.Context, p *placement) (Outcome, error) { return placeOnce(ctx, pool, p) }
	together := func(ctx context.Context, calls []*group.Call[*placement, Outcome]) error {
		if err := placeTogether(ctx, pool, calls); err != nil {
			return err
		}
		for _, c := range calls {
			c.Result, c.Err = c.Arg.outcome(c.Ctx, pool)
		}
		return nil
	}
	return group.New(max, alone, together)
}

// placeTogether sends the placements of calls in one transaction, in one
// round trip. They take their order locks in order-id order, so two groups
// (two instances of a sink) cannot deadlock.
func placeTogether(ctx context.Context, pool *pgxpool.Pool, calls []*group.Call[*placement, Outcome]) error {
	slices.SortFunc(calls, func(a, b *group.Call[*placement, Outcome]) int { return cmp.Compare(a.Arg.orderID, b.Arg.orderID) })
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("acquire: %w", err)
	}
	defer conn.Release()
	b := &pgx.Batch{}
	b.Queue(`BEGIN`)
	callers := make([]context.Context, len(calls))
	owner := []int{-1}
	for i, c := range calls {
		callers[i] = c.Ctx
		c.Arg.queue(b)
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
			err = fmt.Errorf("commit %d placements: still in a transaction", len(calls))
		}
	}
	if err != nil {
		return fmt.Errorf("place %d orders together: %w", len(calls), err)
	}
	return nil
}
