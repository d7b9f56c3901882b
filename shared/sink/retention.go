package sink

import (
	"context"
	"fmt"
	"time"

	"github.com/mskafka/knative-functions/shared/db"
)

// Retention is how long a sink keeps the record of an event it handled
// and of a cancellation, and how it deletes the older ones (Config
// documents the bound and why).
type Retention struct {
	Handled time.Duration
	db.Batches
}

// Pruned is what one round of retention deleted.
type Pruned struct {
	Handled       int64 `json:"handledEvents"`
	Cancellations int64 `json:"cancellations,omitempty"`
	// More tells that the round ran out of time with rows left to delete.
	More bool `json:"more,omitempty"`
}

// Pruner deletes what is past its retention; the sink's Handler calls it
// for a PingSource's ping when its store is one.
type Pruner interface {
	Prune(ctx context.Context) (Pruned, error)
}

// pruneHandled deletes the oldest records of events handled before $1, at
// most $2, found by the index handled_event_handled_at. The ctids are taken
// in the same statement (one snapshot), so each names the row that was read.
const pruneHandled = `DELETE FROM handled_event WHERE ctid = ANY(ARRAY(
	SELECT ctid FROM handled_event WHERE handled_at < $1 ORDER BY handled_at LIMIT $2)) AND handled_at < $1`

// pruneCancelled deletes the oldest cancellations recorded before $1, at
// most $2, found by the index cancellation_recorded_at; as pruneHandled.
const pruneCancelled = `DELETE FROM cancellation WHERE ctid = ANY(ARRAY(
	SELECT ctid FROM cancellation WHERE recorded_at < $1 ORDER BY recorded_at LIMIT $2)) AND recorded_at < $1`

// WithRetention makes a store delete, when pinged, the records of events
// handled, and the cancellations recorded, longer ago than r.Handled.
func WithRetention(r Retention) Option {
	return func(o *options) { o.retention = r }
}

// Prune deletes the records of events handled longer ago than the store's
// retention: such an event is no longer on its topic, so it cannot come
// again; then the cancellations recorded before it, which no placed event
// can still overtake. Without a retention it deletes nothing.
func (s *Postgres[R]) Prune(ctx context.Context) (Pruned, error) {
	r := s.opts.retention
	if r.Handled <= 0 || r.Rows <= 0 {
		return Pruned{}, nil
	}
	cutoff := s.opts.now().Add(-r.Handled)
	var p Pruned
	var err error
	if p.Handled, p.More, err = r.Delete(ctx, s.pool, pruneHandled, cutoff); err != nil || p.More {
		return p, wrapPrune("handled events", err)
	}
	p.Cancellations, p.More, err = r.Delete(ctx, s.pool, pruneCancelled, cutoff)
	return p, wrapPrune("cancellations", err)
}

func wrapPrune(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("delete %s: %w", what, err)
}
