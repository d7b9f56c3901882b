package sink

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Beginner starts transactions; a *pgxpool.Pool is one.
type Beginner interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// Once is how a sink applies an event exactly once in effect: it runs apply
// in a transaction that first records ref in the table handled_event of the
// function's schema (primary key (source, id)). If ref was recorded before,
// it reports Duplicate without calling apply, and the sender still gets its
// 2xx. Either all of apply's changes and the record commit, or none do.
//
// The transaction also holds a lock on the order id. Without it a placement
// and a cancellation of the same order, applied at the same moment, would
// each miss the other's uncommitted row, and the shipment or invoice would
// end up not cancelled.
func Once(ctx context.Context, db Beginner, ref Ref, orderID int64, apply func(pgx.Tx) (Outcome, error)) (Outcome, error) {
	var outcome Outcome
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext(current_schema()), hashtext($1::bigint::text))`, orderID); err != nil {
			return fmt.Errorf("lock order %d: %w", orderID, err)
		}
		// ON CONFLICT rather than a lookup first: concurrent deliveries of one
		// event wait here for each other, and all but one find the row.
		tag, err := tx.Exec(ctx, `
			INSERT INTO handled_event (source, id, type) VALUES ($1, $2, $3)
			ON CONFLICT (source, id) DO NOTHING`, ref.Source, ref.ID, ref.Type)
		if err != nil {
			return fmt.Errorf("record event %s %s: %w", ref.Source, ref.ID, err)
		}
		if tag.RowsAffected() == 0 {
			outcome = Duplicate
			return nil
		}
		outcome, err = apply(tx)
		return err
	})
	if err != nil {
		return "", err
	}
	return outcome, nil
}
