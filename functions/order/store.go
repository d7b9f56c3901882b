package order

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/propagation"

	"github.com/mskafka/knative-functions/shared/events"
	"github.com/mskafka/knative-functions/shared/group"
)

// Store keeps orders and their outbox in the order function's schema.
type Store struct {
	pool *pgxpool.Pool
	// group commits concurrent placements together (WithGroupCommit).
	group *placements
}

// StoreOption changes a Store.
type StoreOption func(*Store)

// WithGroupCommit makes a store commit the orders placed while one group
// is being committed together, up to max in one transaction (see
// placements); 1 places each alone.
func WithGroupCommit(max int) StoreOption {
	return func(s *Store) {
		if max > 1 {
			s.group = group.New(max, s.placeAlone, s.placeAll)
		}
	}
}

// NewStore wraps a pool whose search_path is the order schema.
func NewStore(pool *pgxpool.Pool, opts ...StoreOption) *Store {
	s := &Store{pool: pool}
	for _, o := range opts {
		o(s)
	}
	return s
}

// CommandKey makes placing an order idempotent: a command is identified by
// its CloudEvent source and id; a request of the JSON API by its
// Idempotency-Key header and a form by its one-time token, both with an
// empty Source (no CloudEvent has one).
type CommandKey struct{ Source, ID string }

// IdempotencyKey is the CommandKey of an Idempotency-Key header or a form's
// one-time token.
func IdempotencyKey(key string) *CommandKey { return &CommandKey{ID: key} }

// ReusedError is returned by Place for a key that placed an order before
// with a different request. It is permanent: the same request will fail
// the same way however often it is sent.
type ReusedError struct {
	Key     CommandKey
	OrderID int64
	// Stored and Got are the digests of the first request and of this one.
	Stored, Got []byte
}

func (e *ReusedError) Error() string {
	return fmt.Sprintf("key %q %q placed order %d with a different request", e.Key.Source, e.Key.ID, e.OrderID)
}

// Is makes errors.Is(err, ErrKeyReused) true.
func (e *ReusedError) Is(target error) bool { return target == ErrKeyReused }

// Placed is the result of Place.
type Placed struct {
	Order Order
	// Event is the outbox row that announces the order.
	Event OutboxRecord
	// Repeated is true when the command had been executed before: Order and
	// Event are then those of the first execution.
	Repeated bool
}

// Place validates req against the catalogue and stores the order with its
// outbox row in one transaction. With a key, the key and a digest of the
// request are stored in that transaction too: a key seen before with the
// same request returns the first result and changes nothing; with a
// different request it fails with a *ReusedError. A request that names an
// unknown customer or item fails with an *InvalidError, whatever its key.
//
// It is two round trips (see placeAll); with WithGroupCommit the orders
// placed while one group commits share the next group's two round trips
// and its commit, and each is answered after that commit with its own
// result.
func (s *Store) Place(ctx context.Context, req Request, cmd *CommandKey) (Placed, error) {
	if bad := req.Check(); bad.orNil() != nil {
		return Placed{}, bad
	}
	p := &placement{req: req, cmd: cmd, digest: req.Digest()}
	if s.group != nil {
		return s.group.Do(ctx, p)
	}
	return s.placeAlone(ctx, p)
}

func (s *Store) repeated(ctx context.Context, cmd CommandKey, digest []byte) (Placed, error) {
	var (
		id     *int64
		stored []byte
	)
	err := s.pool.QueryRow(ctx, `SELECT order_id, digest FROM command WHERE source = $1 AND id = $2`, cmd.Source, cmd.ID).
		Scan(&id, &stored)
	if err != nil {
		return Placed{}, fmt.Errorf("look up command %s/%s: %w", cmd.Source, cmd.ID, err)
	}
	if id == nil {
		return Placed{}, fmt.Errorf("command %s/%s has no order", cmd.Source, cmd.ID)
	}
	if stored != nil && !bytes.Equal(stored, digest) {
		return Placed{}, &ReusedError{Key: cmd, OrderID: *id, Stored: stored, Got: digest}
	}
	o, err := s.Get(ctx, *id)
	if err != nil {
		return Placed{}, err
	}
	rec, err := s.placedRecord(ctx, o.ID)
	if err != nil {
		return Placed{}, err
	}
	return Placed{Order: o, Event: rec, Repeated: true}, nil
}

// Cancel marks an order cancelled and queues the cancelled event. Cancelling
// a cancelled order changes nothing and queues nothing.
func (s *Store) Cancel(ctx context.Context, id int64) (Order, error) {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var updated time.Time
		err := tx.QueryRow(ctx, `UPDATE orders SET status = 'cancelled', updated = now()
			WHERE id = $1 AND status = 'placed' RETURNING updated`, id).Scan(&updated)
		if errors.Is(err, pgx.ErrNoRows) {
			var exists bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM orders WHERE id = $1)`, id).Scan(&exists); err != nil {
				return fmt.Errorf("look up order %d: %w", id, err)
			}
			if !exists {
				return ErrNotFound
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("cancel order %d: %w", id, err)
		}
		_, err = addOutbox(ctx, tx, id, events.TypeCancelled, events.Cancelled{ID: id, Updated: events.Time{Time: updated}})
		return err
	})
	if err != nil {
		return Order{}, err
	}
	return s.Get(ctx, id)
}

const orderColumns = `o.id, o.customer_id, c.name, c.firstname, c.email,
	o.shipping_street, o.shipping_zip, o.shipping_city, o.billing_street, o.billing_zip, o.billing_city,
	o.status, o.created, o.updated,
	(SELECT sent_at FROM outbox b WHERE b.order_id = o.id AND b.type = '` + events.TypePlaced + `') AS published,
	(SELECT id::text FROM outbox b WHERE b.order_id = o.id AND b.type = '` + events.TypePlaced + `') AS event_id,
	(SELECT count(*) FROM order_line l WHERE l.order_id = o.id) AS lines,
	(SELECT coalesce(sum(l.count * l.price) * 100, 0)::bigint FROM order_line l WHERE l.order_id = o.id) AS total`

func scanOrder(row pgx.Row) (Order, error) {
	var (
		o       Order
		updated time.Time
		eventID *string
	)
	err := row.Scan(&o.ID, &o.Customer.CustomerID, &o.Customer.Name, &o.Customer.Firstname, &o.Customer.Email,
		&o.ShippingAddress.Street, &o.ShippingAddress.Zip, &o.ShippingAddress.City,
		&o.BillingAddress.Street, &o.BillingAddress.Zip, &o.BillingAddress.City,
		&o.Status, &o.Created, &updated, &o.Published, &eventID, &o.NumberOfLines, &o.Total)
	o.Updated = events.Time{Time: updated}
	if eventID != nil {
		o.EventID = *eventID
	}
	return o, err
}

// Get reads one order with its lines.
func (s *Store) Get(ctx context.Context, id int64) (Order, error) {
	o, err := scanOrder(s.pool.QueryRow(ctx, `SELECT `+orderColumns+`
		FROM orders o JOIN customer c ON c.id = o.customer_id WHERE o.id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Order{}, ErrNotFound
	}
	if err != nil {
		return Order{}, fmt.Errorf("read order %d: %w", id, err)
	}
	rows, err := s.pool.Query(ctx, `SELECT l.count, i.id, i.name, (l.price * 100)::bigint
		FROM order_line l JOIN item i ON i.id = l.item_id WHERE l.order_id = $1 ORDER BY l.line_no`, id)
	if err != nil {
		return Order{}, fmt.Errorf("read lines of order %d: %w", id, err)
	}
	o.OrderLine, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (events.Line, error) {
		var l events.Line
		err := r.Scan(&l.Count, &l.Item.ItemID, &l.Item.Name, &l.Item.Price)
		return l, err
	})
	if err != nil {
		return Order{}, fmt.Errorf("read lines of order %d: %w", id, err)
	}
	return o, nil
}

// List returns a page of orders, newest first, without their lines.
func (s *Store) List(ctx context.Context, limit, offset int) ([]Order, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+orderColumns+`
		FROM orders o JOIN customer c ON c.id = o.customer_id
		ORDER BY o.created DESC, o.id DESC LIMIT $1 OFFSET $2`, limit, offset)
	if err != nil {
		return nil, fmt.Errorf("list orders: %w", err)
	}
	orders, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Order, error) { return scanOrder(r) })
	if err != nil {
		return nil, fmt.Errorf("list orders: %w", err)
	}
	return orders, nil
}

// Customers lists the catalogue's customers.
func (s *Store) Customers(ctx context.Context) ([]Customer, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, name, firstname, email FROM customer ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list customers: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Customer, error) {
		var c Customer
		err := r.Scan(&c.CustomerID, &c.Name, &c.Firstname, &c.Email)
		return c, err
	})
}

// Items lists the catalogue's items.
func (s *Store) Items(ctx context.Context) ([]Item, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, name, (price * 100)::bigint FROM item ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list items: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Item, error) {
		var it Item
		err := r.Scan(&it.ItemID, &it.Name, &it.Price)
		return it, err
	})
}

// OutboxRecord is one event waiting in (or sent from) the outbox.
type OutboxRecord struct {
	Seq     int64
	ID      string
	OrderID int64
	Type    string
	Payload []byte
	Created time.Time
	// Trace is the W3C trace context (traceparent, tracestate) of the
	// request that wrote the row: the relay sends the event later, in a
	// span of that trace.
	Trace propagation.MapCarrier
}

func addOutbox(ctx context.Context, tx pgx.Tx, orderID int64, typ string, data any) (OutboxRecord, error) {
	payload, err := json.Marshal(data)
	if err != nil {
		return OutboxRecord{}, fmt.Errorf("encode %s of order %d: %w", typ, orderID, err)
	}
	rec := OutboxRecord{ID: uuid.NewString(), OrderID: orderID, Type: typ, Payload: payload, Trace: propagation.MapCarrier{}}
	propagation.TraceContext{}.Inject(ctx, rec.Trace)
	err = tx.QueryRow(ctx, `INSERT INTO outbox (id, order_id, type, payload, traceparent, tracestate)
		VALUES ($1, $2, $3, $4, nullif($5, ''), nullif($6, '')) RETURNING seq, created`,
		rec.ID, orderID, typ, payload, rec.Trace["traceparent"], rec.Trace["tracestate"]).Scan(&rec.Seq, &rec.Created)
	if err != nil {
		return OutboxRecord{}, fmt.Errorf("queue %s of order %d: %w", typ, orderID, err)
	}
	return rec, nil
}

func (s *Store) placedRecord(ctx context.Context, orderID int64) (OutboxRecord, error) {
	rec := OutboxRecord{OrderID: orderID, Type: events.TypePlaced}
	err := s.pool.QueryRow(ctx, `SELECT seq, id::text, payload, created FROM outbox WHERE order_id = $1 AND type = $2`,
		orderID, events.TypePlaced).Scan(&rec.Seq, &rec.ID, &rec.Payload, &rec.Created)
	if err != nil {
		return OutboxRecord{}, fmt.Errorf("read placed event of order %d: %w", orderID, err)
	}
	return rec, nil
}
