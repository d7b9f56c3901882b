package order

import (
	"context"
	"fmt"
	"time"

	"github.com/mskafka/knative-functions/shared/db"
)

// Retention is how long the order function keeps what only deduplication
// and the outbox need, and how it deletes the rest (Config documents the
// bounds and why).
type Retention struct {
	// Keys is how long an idempotency key (the command table) is kept.
	Keys time.Duration
	// Outbox is how long a sent outbox row is kept after it was sent; at
	// least Keys, since a repeated command is answered with its order's
	// placed event, read from the outbox.
	Outbox time.Duration
	db.Batches
}

// Pruned is what one round of retention deleted.
type Pruned struct {
	Keys   int64 `json:"keys"`
	Outbox int64 `json:"outbox"`
	// More tells that the round ran out of time with rows left to delete.
	More bool `json:"more,omitempty"`
}

// pruneKeys deletes the oldest keys received before $1, at most $2, found
// by the index command_received. The ctids are taken in the same statement
// (one snapshot), so each names the row that was read.
const pruneKeys = `DELETE FROM command WHERE ctid = ANY(ARRAY(
	SELECT ctid FROM command WHERE received < $1 ORDER BY received LIMIT $2)) AND received < $1`

// pruneOutbox deletes, of the first $2 outbox rows by seq (its primary
// key), those sent before $1. Reading a fixed number of rows in seq order
// keeps the cost of a batch bounded even when nothing is old enough: it
// never walks the rows kept. A row not yet sent is never deleted.
const pruneOutbox = `DELETE FROM outbox WHERE seq = ANY(ARRAY(
	SELECT seq FROM (SELECT seq, sent_at FROM outbox ORDER BY seq LIMIT $2) first
	WHERE sent_at < $1))`

// Prune deletes the idempotency keys and the sent outbox rows that can no
// longer matter at now, in batches bounded by r.Batches.
func (s *Store) Prune(ctx context.Context, r Retention, now time.Time) (Pruned, error) {
	var p Pruned
	var err error
	p.Keys, p.More, err = r.Delete(ctx, s.pool, pruneKeys, now.Add(-r.Keys))
	if err != nil {
		return p, fmt.Errorf("delete idempotency keys: %w", err)
	}
	var more bool
	p.Outbox, more, err = r.Delete(ctx, s.pool, pruneOutbox, now.Add(-r.Outbox))
	p.More = p.More || more
	if err != nil {
		return p, fmt.Errorf("delete sent outbox rows: %w", err)
	}
	return p, nil
}
