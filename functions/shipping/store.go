package shipping

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mskafka/knative-functions/shared/events"
	"github.com/mskafka/knative-functions/shared/sink"
)

// Store keeps shipments in shipping's own Postgres schema.
type Store struct {
	pool *pgxpool.Pool
}

var _ sink.Store = (*Store)(nil)

// NewStore returns a store on pool, whose search path is shipping's schema.
func NewStore(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

// Placed records the shipment of an order. A redelivered event reports
// sink.Duplicate and changes nothing; so does the same order under another
// event id (a resend, or the original's plain record), because an order
// ships once. An order whose cancellation is already recorded is stored
// cancelled.
func (s *Store) Placed(ctx context.Context, ref sink.Ref, o events.Order) (sink.Outcome, error) {
	sh, err := newShipment(o)
	if err != nil {
		return "", err
	}
	return sink.Once(ctx, s.pool, ref, sh.ID, func(tx pgx.Tx) (sink.Outcome, error) {
		tag, err := tx.Exec(ctx, `
			INSERT INTO shipment (order_id, customer_id, name, firstname, street, zip, city, order_updated, cancelled)
			VALUES ($1, $2, $3, $4, $5, $6, $7,
				greatest($8::timestamptz, (SELECT updated FROM cancellation WHERE order_id = $1)),
				EXISTS (SELECT FROM cancellation WHERE order_id = $1))
			ON CONFLICT (order_id) DO NOTHING`,
			sh.ID, sh.Customer.CustomerID, sh.Customer.Name, sh.Customer.Firstname,
			sh.ShippingAddress.Street, sh.ShippingAddress.Zip, sh.ShippingAddress.City, sh.Updated)
		if err != nil {
			return "", fmt.Errorf("insert shipment %d: %w", sh.ID, err)
		}
		if tag.RowsAffected() == 0 {
			return sink.Duplicate, nil
		}
		rows := make([][]any, len(sh.Lines))
		for i, l := range sh.Lines {
			rows[i] = []any{sh.ID, i + 1, l.ItemID, l.Name, l.Count}
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"shipment_line"},
			[]string{"order_id", "line_no", "item_id", "item_name", "count"}, pgx.CopyFromRows(rows)); err != nil {
			return "", fmt.Errorf("insert lines of shipment %d: %w", sh.ID, err)
		}
		return sink.Stored, nil
	})
}

// Cancelled records the cancellation of an order and marks its shipment
// cancelled if it is here. A cancellation already recorded reports
// sink.Duplicate and changes nothing.
func (s *Store) Cancelled(ctx context.Context, ref sink.Ref, c events.Cancelled) (sink.Outcome, error) {
	var updated *time.Time
	if !c.Updated.IsZero() {
		t := c.Updated.UTC()
		updated = &t
	}
	return sink.Once(ctx, s.pool, ref, c.ID, func(tx pgx.Tx) (sink.Outcome, error) {
		tag, err := tx.Exec(ctx, `
			INSERT INTO cancellation (order_id, updated) VALUES ($1, $2)
			ON CONFLICT (order_id) DO NOTHING`, c.ID, updated)
		if err != nil {
			return "", fmt.Errorf("insert cancellation %d: %w", c.ID, err)
		}
		if tag.RowsAffected() == 0 {
			return sink.Duplicate, nil
		}
		if _, err := tx.Exec(ctx, `
			UPDATE shipment
			SET cancelled = true, order_updated = greatest(order_updated, $2), updated_at = now()
			WHERE order_id = $1`, c.ID, updated); err != nil {
			return "", fmt.Errorf("cancel shipment %d: %w", c.ID, err)
		}
		return sink.Stored, nil
	})
}

// Shipments returns all shipments, newest first.
func (s *Store) Shipments(ctx context.Context) ([]Shipment, error) {
	rows, _ := s.pool.Query(ctx, selectShipment+` ORDER BY created_at DESC, order_id DESC`)
	list, err := pgx.CollectRows(rows, scanShipment)
	if err != nil {
		return nil, fmt.Errorf("list shipments: %w", err)
	}
	if err := s.addLines(ctx, list); err != nil {
		return nil, err
	}
	return list, nil
}

// Shipment returns the shipment of an order, or ErrNotFound.
func (s *Store) Shipment(ctx context.Context, orderID int64) (Shipment, error) {
	rows, _ := s.pool.Query(ctx, selectShipment+` WHERE order_id = $1`, orderID)
	sh, err := pgx.CollectExactlyOneRow(rows, scanShipment)
	if errors.Is(err, pgx.ErrNoRows) {
		return Shipment{}, fmt.Errorf("shipment %d: %w", orderID, ErrNotFound)
	}
	if err != nil {
		return Shipment{}, fmt.Errorf("read shipment %d: %w", orderID, err)
	}
	list := []Shipment{sh}
	if err := s.addLines(ctx, list); err != nil {
		return Shipment{}, err
	}
	return list[0], nil
}

const selectShipment = `
	SELECT order_id, customer_id, name, firstname, street, zip, city, cancelled, order_updated, created_at
	FROM shipment`

func scanShipment(row pgx.CollectableRow) (Shipment, error) {
	var sh Shipment
	if err := row.Scan(&sh.ID, &sh.Customer.CustomerID, &sh.Customer.Name, &sh.Customer.Firstname,
		&sh.ShippingAddress.Street, &sh.ShippingAddress.Zip, &sh.ShippingAddress.City,
		&sh.Cancelled, &sh.Updated, &sh.Created); err != nil {
		return Shipment{}, err
	}
	// Postgres hands times back in the server's zone; the API speaks UTC.
	if sh.Updated != nil {
		*sh.Updated = sh.Updated.UTC()
	}
	sh.Created = sh.Created.UTC()
	return sh, nil
}

// addLines reads the lines of the shipments in one query.
func (s *Store) addLines(ctx context.Context, list []Shipment) error {
	if len(list) == 0 {
		return nil
	}
	index := make(map[int64]*Shipment, len(list))
	ids := make([]int64, len(list))
	for i := range list {
		index[list[i].ID] = &list[i]
		ids[i] = list[i].ID
	}
	rows, _ := s.pool.Query(ctx, `
		SELECT order_id, item_id, item_name, count FROM shipment_line
		WHERE order_id = ANY($1) ORDER BY order_id, line_no`, ids)
	var (
		orderID int64
		l       Line
	)
	_, err := pgx.ForEachRow(rows, []any{&orderID, &l.ItemID, &l.Name, &l.Count}, func() error {
		index[orderID].Lines = append(index[orderID].Lines, l)
		return nil
	})
	if err != nil {
		return fmt.Errorf("read shipment lines: %w", err)
	}
	return nil
}
