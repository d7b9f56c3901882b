package db

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// Execer runs a statement; a *pgxpool.Pool is one.
type Execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// Batches bounds a round of retention deletes so that it never locks out
// the hot path: each statement deletes at most Rows rows in a transaction of
// its own (its row locks are held for one short statement), and the round
// stops after Time, leaving the rest for the next round.
type Batches struct {
	Rows int
	Time time.Duration
}

// Check refuses bounds that would delete nothing.
func (b Batches) Check() error {
	var errs []error
	if b.Rows <= 0 {
		errs = append(errs, fmt.Errorf("RETENTION_BATCH=%d: want a positive number of rows", b.Rows))
	}
	if b.Time <= 0 {
		errs = append(errs, fmt.Errorf("RETENTION_TIME=%v: want a positive duration", b.Time))
	}
	return errors.Join(errs...)
}

// Delete runs del, a DELETE whose $1 is cutoff and whose $2 is the most rows
// it may delete, until it deletes fewer than Rows (nothing older is left),
// the time is up or ctx ends. It returns how many rows it deleted and
// whether it stopped with rows left (the time was up).
func (b Batches) Delete(ctx context.Context, q Execer, del string, cutoff time.Time) (deleted int64, more bool, err error) {
	until := time.Now().Add(b.Time)
	for {
		tag, err := q.Exec(ctx, del, cutoff, b.Rows)
		if err != nil {
			return deleted, true, err
		}
		deleted += tag.RowsAffected()
		if tag.RowsAffected() < int64(b.Rows) {
			return deleted, false, nil
		}
		if time.Now().After(until) {
			return deleted, true, nil
		}
	}
}
