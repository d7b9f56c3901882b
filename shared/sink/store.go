package sink

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mskafka/knative-functions/shared/events"
)

// ErrNotFound is returned for an order the sink holds no record of.
var ErrNotFound = errors.New("not found")

// State is what the framework keeps of every record besides the
// projection's own fields, in the columns cancelled, order_updated and
// created_at; a projection's record embeds it.
type State struct {
	// Cancelled tells that the order was cancelled (a shipment not to
	// ship, a void invoice).
	Cancelled bool `json:"cancelled"`
	// Updated is the order's last change as the events tell it (its
	// placement, or its cancellation when that came later); nil when the
	// events carried no time.
	Updated *time.Time `json:"updated,omitempty"`
	// Created is when the sink recorded the record.
	Created time.Time `json:"created"`
}

// NewState is the state of a record projected from o.
func NewState(o events.Order) State { return State{Updated: o.Updated.Ptr()} }

// Scan returns the destinations of the state's columns, in the order
// cancelled, order_updated, created_at, for a projection's Select.
func (s *State) Scan() []any { return []any{&s.Cancelled, &s.Updated, &s.Created} }

// UTC turns the times Postgres handed back in the server's zone into UTC,
// which the APIs speak.
func (s *State) UTC() {
	if s.Updated != nil {
		u := s.Updated.UTC()
		s.Updated = &u
	}
	s.Created = s.Created.UTC()
}

// Row is what a projection writes for one record: its own columns of the
// table (order_id among them, order_updated not: the framework writes that
// one from Updated, with digest and cancelled), and the columns of its
// lines, each with one value per line (LineColumn), for unnest. The
// framework numbers the lines from 1 into the column line_no and fills
// their order_id.
type Row struct {
	Columns []Column
	Updated *time.Time

	Lines       string // the table of the lines
	LineColumns []Column
}

// Column is a column's name and what is written to it.
type Column struct {
	Name  string
	Type  string // a line column's Postgres array type ("bigint[]"); empty for a record's own
	Value any
}

// Col is a column of the record itself.
func Col(name string, value any) Column { return Column{Name: name, Value: value} }

// LineColumn is a column of the lines: value of each line, in line order,
// as an array of arrayType ("bigint[]", "text[]", …).
func LineColumn[L, V any](name, arrayType string, lines []L, value func(L) V) Column {
	vs := make([]V, len(lines))
	for i, l := range lines {
		vs[i] = value(l)
	}
	return Column{Name: name, Type: arrayType, Value: vs}
}

// names are the columns' names.
func names(cs []Column) string {
	n := make([]string, len(cs))
	for i, c := range cs {
		n[i] = c.Name
	}
	return strings.Join(n, ", ")
}

// Querier runs queries; a *pgxpool.Pool and a pgx.Tx are ones.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// Projection is the part of a sink function that is its own: what it makes
// of an order (a record R, such as a shipment or an invoice) and how R is
// kept in its tables. Postgres does the rest.
//
// The table named by Table holds one row per order, with the projection's
// own columns and these, which Postgres uses: order_id bigint PRIMARY KEY,
// cancelled boolean, order_updated timestamptz, created_at timestamptz,
// updated_at timestamptz and digest bytea. The schema also holds the tables
// handled_event and cancellation (the framework's own, shared/sink/migrations).
type Projection[R any] interface {
	// Table names the table of the records.
	Table() string
	// Project takes from an order what the function keeps. It refuses an
	// order it could never store with an error wrapping events.ErrInvalid,
	// before the database sees it.
	Project(o events.Order) (R, error)
	// Insert tells how rec and its lines are written. The framework writes
	// them in one statement with the event's record, unless a row for the
	// order is there already.
	Insert(rec R) Row
	// Select reads the records of the given orders with their lines, in
	// the order of ids, leaving out ids it has no record of.
	Select(ctx context.Context, q Querier, ids []int64) ([]R, error)
}

// Postgres is the store of a sink function: its projection applied exactly
// once in effect per event, cancellations that may overtake their order,
// and the reads of the pages and the API.
type Postgres[R any] struct {
	pool *pgxpool.Pool
	proj Projection[R]
	opts options
	// group commits concurrent placements together (WithGroupCommit).
	group *placements
}

var _ Store = (*Postgres[struct{}])(nil)

var _ Pruner = (*Postgres[struct{}])(nil)

// Option changes a Postgres store.
type Option func(*options)

type options struct {
	retention Retention
	now       func() time.Time
	groupMax  int
}

// WithGroupCommit makes a store commit the placements that arrive while
// one is being committed together, up to max in one transaction (see
// newPlacements).
func WithGroupCommit(max int) Option {
	return func(o *options) { o.groupMax = max }
}

// NewPostgres returns the store of proj on pool, whose search path is the
// function's schema.
func NewPostgres[R any](pool *pgxpool.Pool, proj Projection[R], opts ...Option) *Postgres[R] {
	s := &Postgres[R]{pool: pool, proj: proj, opts: options{now: time.Now}}
	for _, o := range opts {
		o(&s.opts)
	}
	if s.opts.groupMax > 1 {
		s.group = newPlacements(pool, s.opts.groupMax)
	}
	return s
}

// Placed records the projection of an order. A redelivered event reports
// Duplicate and changes nothing; so does the same order with the same
// content under another event id (a resend, or the original's plain
// record), because an order is kept once. Other content under a known
// event or order id is a *ConflictError. An order whose cancellation is
// already recorded is stored cancelled.
//
// It is one round trip and one commit (see placeOnce): the order lock and
// a single statement that records the event, the record with its digest
// and cancellation, and its lines, sent together. With WithGroupCommit the
// placements that arrive while one is committing share the next round trip
// and commit (see group).
func (s *Postgres[R]) Placed(ctx context.Context, ref Ref, o events.Order) (Outcome, error) {
	rec, err := s.proj.Project(o)
	if err != nil {
		return "", err
	}
	p := &placement{table: s.proj.Table(), ref: ref, digest: Digest(rec), orderID: o.ID, row: s.proj.Insert(rec)}
	if s.group != nil {
		return s.group.Do(ctx, p)
	}
	return placeOnce(ctx, s.pool, p)
}

// Cancelled records the cancellation of an order and marks its record
// cancelled if it is here. A cancellation already recorded reports
// Duplicate and changes nothing. Its content is the order id alone: a
// cancellation is a cancellation, whatever time it carries.
func (s *Postgres[R]) Cancelled(ctx context.Context, ref Ref, c events.Cancelled) (Outcome, error) {
	updated := c.Updated.Ptr()
	table := s.proj.Table()
	return Once(ctx, s.pool, ref, Digest(events.Cancelled{ID: c.ID}), c.ID, func(tx pgx.Tx) (Outcome, error) {
		tag, err := tx.Exec(ctx, `
			INSERT INTO cancellation (order_id, updated) VALUES ($1, $2)
			ON CONFLICT (order_id) DO NOTHING`, c.ID, updated)
		if err != nil {
			return "", fmt.Errorf("insert cancellation %d: %w", c.ID, err)
		}
		if tag.RowsAffected() == 0 {
			return Duplicate, nil
		}
		if _, err := tx.Exec(ctx, `
			UPDATE `+table+`
			SET cancelled = true, order_updated = greatest(order_updated, $2), updated_at = now()
			WHERE order_id = $1`, c.ID, updated); err != nil {
			return "", fmt.Errorf("cancel %s %d: %w", table, c.ID, err)
		}
		return Stored, nil
	})
}

// List returns at most limit records after the first offset, newest first
// (the order they were recorded in, then the order id: a stable order for
// paging).
func (s *Postgres[R]) List(ctx context.Context, limit, offset int) ([]R, error) {
	rows, _ := s.pool.Query(ctx, `SELECT order_id FROM `+s.proj.Table()+`
		ORDER BY created_at DESC, order_id DESC LIMIT $1 OFFSET $2`, limit, offset)
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", s.proj.Table(), err)
	}
	list, err := s.proj.Select(ctx, s.pool, ids)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", s.proj.Table(), err)
	}
	return list, nil
}

// Get returns the record of an order, or ErrNotFound.
func (s *Postgres[R]) Get(ctx context.Context, orderID int64) (R, error) {
	var none R
	list, err := s.proj.Select(ctx, s.pool, []int64{orderID})
	switch {
	case err != nil:
		return none, fmt.Errorf("read %s %d: %w", s.proj.Table(), orderID, err)
	case len(list) == 0:
		return none, fmt.Errorf("%s %d: %w", s.proj.Table(), orderID, ErrNotFound)
	}
	return list[0], nil
}

// Lines runs query, whose $1 is ids, and gathers the lines of each order
// that scan reads from its rows, in the order of the rows: a projection's
// Select reads the lines of a whole page in one query with it.
func Lines[L any](ctx context.Context, q Querier, query string, ids []int64,
	scan func(pgx.CollectableRow) (int64, L, error)) (map[int64][]L, error) {
	rows, _ := q.Query(ctx, query, ids)
	lines := make(map[int64][]L, len(ids))
	_, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (struct{}, error) {
		id, l, err := scan(row)
		lines[id] = append(lines[id], l)
		return struct{}{}, err
	})
	if err != nil {
		return nil, fmt.Errorf("read lines: %w", err)
	}
	return lines, nil
}
