package sink

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

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

// Batcher sends batches; a *pgxpool.Pool is one.
type Batcher interface {
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// placeOnce is Once for a placement, in one round trip: the order lock and
// one statement go in one batch, which Postgres runs as one implicit
// transaction (the batch ends with a single Sync), so the lock is held
// until that transaction commits and the statement, taking its snapshot
// after the lock, sees every earlier placement or cancellation of the
// order.
//
// The statement decides in SQL what Once and its apply decided in Go
// between round trips: the event is recorded unless the order is held
// with other content (nothing is written then, and the answer is a
// *ConflictError, as before after a rollback); the record is inserted only
// when the event was, with its digest and any cancellation that overtook
// it (what a second UPDATE did before); its lines only when the record was.
func placeOnce(ctx context.Context, db Batcher, p *placement) (Outcome, error) {
	b := &pgx.Batch{}
	p.queue(b)
	if err := db.SendBatch(ctx, b).Close(); err != nil {
		return "", fmt.Errorf("place order %d (event %s %s): %w", p.orderID, p.ref.Source, p.ref.ID, err)
	}
	return p.outcome(ctx, db)
}

// placement is one placed event on its way to the store: what placeOnce
// writes, and what its statement found.
type placement struct {
	table   string
	ref     Ref
	digest  []byte
	orderID int64
	row     Row

	eventHeld, recordHeld, eventNew, recordNew bool
	eventDigest, recordDigest                  []byte
}

// queue adds the order lock and the placement's statement to b.
func (p *placement) queue(b *pgx.Batch) {
	args := []any{p.ref.Source, p.ref.ID, p.ref.Type, p.digest, p.orderID, p.row.Updated}
	for _, c := range append(p.row.Columns, p.row.LineColumns...) {
		args = append(args, c.Value)
	}
	b.Queue(`SELECT pg_advisory_xact_lock(hashtext(current_schema()), hashtext($1::bigint::text))`, p.orderID)
	b.Queue(placeSQL(p.table, p.row), args...).QueryRow(func(r pgx.Row) error {
		return r.Scan(&p.eventHeld, &p.eventDigest, &p.recordHeld, &p.recordDigest, &p.eventNew, &p.recordNew)
	})
}

// outcome is what the placement's statement did, once committed.
func (p *placement) outcome(ctx context.Context, db Batcher) (Outcome, error) {
	event := fmt.Sprintf("event %s %s", p.ref.Source, p.ref.ID)
	switch {
	case p.recordNew:
		return Stored, nil
	case p.eventHeld:
		return compare(event, p.eventDigest, p.digest)
	case !p.eventNew && p.recordHeld && p.recordDigest != nil && !bytes.Equal(p.recordDigest, p.digest):
		return "", &ConflictError{What: fmt.Sprintf("order %d", p.orderID), Held: p.recordDigest, Got: p.digest}
	case !p.eventNew:
		// The event was recorded by a transaction that committed after this
		// statement's snapshot (a delivery of the same event id under another
		// order id): its digest is read now.
		var held []byte
		err := db.SendBatch(ctx, queue(`SELECT digest FROM handled_event WHERE source = $1 AND id = $2`, p.ref.Source, p.ref.ID, &held)).Close()
		if err != nil {
			return "", fmt.Errorf("read digest of %s: %w", event, err)
		}
		return compare(event, held, p.digest)
	default:
		// The event is new and the order was held with the same content
		// (a resend under another event id): the event is recorded, the
		// record is kept. Under the order lock the record cannot appear
		// between the snapshot and the insert.
		return Duplicate, nil
	}
}

func queue(sql string, a, b any, dest *[]byte) *pgx.Batch {
	q := &pgx.Batch{}
	q.Queue(sql, a, b).QueryRow(func(r pgx.Row) error { return r.Scan(dest) })
	return q
}

// compare is Duplicate when held is digest, or unknown (a row from before
// digests were kept); a *ConflictError otherwise.
func compare(what string, held, digest []byte) (Outcome, error) {
	if held != nil && !bytes.Equal(held, digest) {
		return "", &ConflictError{What: what, Held: held, Got: digest}
	}
	return Duplicate, nil
}

// placeSQL is the statement of placeOnce for table and the shape of row.
// Its parameters: $1 source, $2 id, $3 type, $4 digest, $5 order id,
// $6 the order's time, then the values of row.Columns and row.LineColumns.
func placeSQL(table string, row Row) string {
	var sb strings.Builder
	n := 6
	param := func() string { n++; return "$" + strconv.Itoa(n) }
	sb.WriteString(`WITH held AS (
	SELECT EXISTS (SELECT FROM handled_event WHERE source = $1 AND id = $2) AS event_held,
		(SELECT digest FROM handled_event WHERE source = $1 AND id = $2) AS event_digest,
		EXISTS (SELECT FROM ` + table + ` WHERE order_id = $5) AS record_held,
		(SELECT digest FROM ` + table + ` WHERE order_id = $5) AS record_digest
), ev AS (
	INSERT INTO handled_event (source, id, type, digest)
	SELECT $1, $2, $3, $4::bytea FROM held
	WHERE NOT (held.record_held AND held.record_digest IS NOT NULL AND held.record_digest <> $4::bytea)
	ON CONFLICT (source, id) DO NOTHING RETURNING 1
), rec AS (
	INSERT INTO ` + table + ` (` + names(row.Columns) + `, digest, cancelled, order_updated)
	SELECT `)
	for i := range row.Columns {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString(param())
	}
	sb.WriteString(`, $4::bytea, EXISTS (SELECT FROM cancellation c WHERE c.order_id = $5),
		greatest($6::timestamptz, (SELECT updated FROM cancellation c WHERE c.order_id = $5))
	FROM ev ON CONFLICT (order_id) DO NOTHING RETURNING order_id
), lines AS (
	INSERT INTO ` + row.Lines + ` (order_id, line_no, ` + names(row.LineColumns) + `)
	SELECT rec.order_id, l.line_no, l.` + strings.ReplaceAll(names(row.LineColumns), ", ", ", l.") + `
	FROM rec, unnest(`)
	for i, c := range row.LineColumns {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString(param() + "::" + c.Type)
	}
	sb.WriteString(`) WITH ORDINALITY AS l(` + names(row.LineColumns) + `, line_no)
)
SELECT held.event_held, held.event_digest, held.record_held, held.record_digest,
	EXISTS (SELECT FROM ev), EXISTS (SELECT FROM rec)
FROM held`)
	return sb.String()
}
