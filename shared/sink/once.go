package sink

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Beginner starts transactions; a *pgxpool.Pool is one.
type Beginner interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// Digest is the content digest of what a sink keeps of an event: the
// SHA-256 of its JSON. Two deliveries with the same digest carry the same
// content, whatever their wire format (RFC 3339 or epoch milliseconds,
// unknown fields, a CloudEvent or a plain record).
func Digest(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		// The projections are plain structs; a value that cannot be
		// marshalled is a bug, and a digest of its error still compares.
		b = []byte(err.Error())
	}
	sum := sha256.Sum256(b)
	return sum[:]
}

// Once is how a sink applies an event exactly once in effect: it runs apply
// in a transaction that first records ref with the digest of its content in
// the table handled_event of the function's schema (primary key (source,
// id)). If ref was recorded before with the same content, it reports
// Duplicate without calling apply, and the sender still gets its 2xx; with
// other content it fails with a *ConflictError. Either all of apply's
// changes and the record commit, or none do.
//
// The transaction also holds a lock on the order id. Without it a placement
// and a cancellation of the same order, applied at the same moment, would
// each miss the other's uncommitted row, and the record would end up not
// cancelled.
func Once(ctx context.Context, db Beginner, ref Ref, digest []byte, orderID int64, apply func(pgx.Tx) (Outcome, error)) (Outcome, error) {
	var outcome Outcome
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext(current_schema()), hashtext($1::bigint::text))`, orderID); err != nil {
			return fmt.Errorf("lock order %d: %w", orderID, err)
		}
		// ON CONFLICT rather than a lookup first: concurrent deliveries of one
		// event wait here for each other, and all but one find the row.
		tag, err := tx.Exec(ctx, `
			INSERT INTO handled_event (source, id, type, digest) VALUES ($1, $2, $3, $4)
			ON CONFLICT (source, id) DO NOTHING`, ref.Source, ref.ID, ref.Type, digest)
		if err != nil {
			return fmt.Errorf("record event %s %s: %w", ref.Source, ref.ID, err)
		}
		if tag.RowsAffected() == 0 {
			outcome, err = same(ctx, tx, fmt.Sprintf("event %s %s", ref.Source, ref.ID),
				`SELECT digest FROM handled_event WHERE source = $1 AND id = $2`, digest, ref.Source, ref.ID)
			return err
		}
		outcome, err = apply(tx)
		return err
	})
	if err != nil {
		return "", err
	}
	return outcome, nil
}

// same reads the digest held for what (by query with args) and reports
// Duplicate when it is digest, or unknown (a row from before digests were
// kept); a *ConflictError otherwise.
func same(ctx context.Context, tx pgx.Tx, what, query string, digest []byte, args ...any) (Outcome, error) {
	var held []byte
	if err := tx.QueryRow(ctx, query, args...).Scan(&held); err != nil {
		return "", fmt.Errorf("read digest of %s: %w", what, err)
	}
	if held != nil && !bytes.Equal(held, digest) {
		return "", &ConflictError{What: what, Held: held, Got: digest}
	}
	return Duplicate, nil
}

// ConflictError is an event with other content than the one the sink
// already holds under the same key: the same (source, id), or the same
// order id. It is permanent: the sender must not retry it, and the first
// content stays.
type ConflictError struct {
	What      string // "order 7", "event /order e-1"
	Held, Got []byte // the digests of the content held and of the event's
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("conflicting content: %s is held with other content (held digest %x, this event's %x)",
		e.What, e.Held[:8], e.Got[:8])
}
