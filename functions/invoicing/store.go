package invoicing

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mskafka/knative-functions/shared/events"
	"github.com/mskafka/knative-functions/shared/money"
	"github.com/mskafka/knative-functions/shared/sink"
)

// Store keeps invoices in invoicing's own Postgres schema.
//
// Amounts never pass through a float: they are written as pgtype.Numeric
// built from the cents (see numeric) and read back as (amount * 100)::bigint,
// exact because the columns are numeric(12,2).
type Store struct {
	pool *pgxpool.Pool
}

var _ sink.Store = (*Store)(nil)

// NewStore returns a store on pool, whose search path is invoicing's schema.
func NewStore(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

// Placed records the invoice of an order. A redelivered event reports
// sink.Duplicate and changes nothing; so does the same order under another
// event id (a resend, or the original's plain record), because an order is
// billed once. An order whose cancellation is already recorded gets a void
// invoice.
func (s *Store) Placed(ctx context.Context, ref sink.Ref, o events.Order) (sink.Outcome, error) {
	inv, err := newInvoice(o)
	if err != nil {
		return "", err
	}
	return sink.Once(ctx, s.pool, ref, inv.ID, func(tx pgx.Tx) (sink.Outcome, error) {
		tag, err := tx.Exec(ctx, `
			INSERT INTO invoice (order_id, customer_id, name, firstname, email, street, zip, city, total, order_updated, cancelled)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9,
				greatest($10::timestamptz, (SELECT updated FROM cancellation WHERE order_id = $1)),
				EXISTS (SELECT FROM cancellation WHERE order_id = $1))
			ON CONFLICT (order_id) DO NOTHING`,
			inv.ID, inv.Customer.CustomerID, inv.Customer.Name, inv.Customer.Firstname, inv.Customer.Email,
			inv.BillingAddress.Street, inv.BillingAddress.Zip, inv.BillingAddress.City, numeric(inv.Total), inv.Updated)
		if err != nil {
			return "", fmt.Errorf("insert invoice %d: %w", inv.ID, err)
		}
		if tag.RowsAffected() == 0 {
			return sink.Duplicate, nil
		}
		rows := make([][]any, len(inv.Lines))
		for i, l := range inv.Lines {
			rows[i] = []any{inv.ID, i + 1, l.ItemID, l.Name, l.Count, numeric(l.Price), numeric(l.Total)}
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"invoice_line"},
			[]string{"order_id", "line_no", "item_id", "item_name", "count", "price", "line_total"}, pgx.CopyFromRows(rows)); err != nil {
			return "", fmt.Errorf("insert lines of invoice %d: %w", inv.ID, err)
		}
		return sink.Stored, nil
	})
}

// Cancelled records the cancellation of an order and voids its invoice if
// it is here. A cancellation already recorded reports sink.Duplicate and
// changes nothing.
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
			UPDATE invoice
			SET cancelled = true, order_updated = greatest(order_updated, $2), updated_at = now()
			WHERE order_id = $1`, c.ID, updated); err != nil {
			return "", fmt.Errorf("void invoice %d: %w", c.ID, err)
		}
		return sink.Stored, nil
	})
}

// Invoices returns all invoices, newest first.
func (s *Store) Invoices(ctx context.Context) ([]Invoice, error) {
	rows, _ := s.pool.Query(ctx, selectInvoice+` ORDER BY created_at DESC, order_id DESC`)
	list, err := pgx.CollectRows(rows, scanInvoice)
	if err != nil {
		return nil, fmt.Errorf("list invoices: %w", err)
	}
	if err := s.addLines(ctx, list); err != nil {
		return nil, err
	}
	return list, nil
}

// Invoice returns the invoice of an order, or ErrNotFound.
func (s *Store) Invoice(ctx context.Context, orderID int64) (Invoice, error) {
	rows, _ := s.pool.Query(ctx, selectInvoice+` WHERE order_id = $1`, orderID)
	inv, err := pgx.CollectExactlyOneRow(rows, scanInvoice)
	if errors.Is(err, pgx.ErrNoRows) {
		return Invoice{}, fmt.Errorf("invoice %d: %w", orderID, ErrNotFound)
	}
	if err != nil {
		return Invoice{}, fmt.Errorf("read invoice %d: %w", orderID, err)
	}
	list := []Invoice{inv}
	if err := s.addLines(ctx, list); err != nil {
		return Invoice{}, err
	}
	return list[0], nil
}

const selectInvoice = `
	SELECT order_id, customer_id, name, firstname, email, street, zip, city,
		(total * 100)::bigint, cancelled, order_updated, created_at
	FROM invoice`

func scanInvoice(row pgx.CollectableRow) (Invoice, error) {
	var inv Invoice
	if err := row.Scan(&inv.ID, &inv.Customer.CustomerID, &inv.Customer.Name, &inv.Customer.Firstname, &inv.Customer.Email,
		&inv.BillingAddress.Street, &inv.BillingAddress.Zip, &inv.BillingAddress.City,
		&inv.Total, &inv.Cancelled, &inv.Updated, &inv.Created); err != nil {
		return Invoice{}, err
	}
	// Postgres hands times back in the server's zone; the API speaks UTC.
	if inv.Updated != nil {
		*inv.Updated = inv.Updated.UTC()
	}
	inv.Created = inv.Created.UTC()
	return inv, nil
}

// addLines reads the lines of the invoices in one query.
func (s *Store) addLines(ctx context.Context, list []Invoice) error {
	if len(list) == 0 {
		return nil
	}
	index := make(map[int64]*Invoice, len(list))
	ids := make([]int64, len(list))
	for i := range list {
		index[list[i].ID] = &list[i]
		ids[i] = list[i].ID
	}
	rows, _ := s.pool.Query(ctx, `
		SELECT order_id, item_id, item_name, count, (price * 100)::bigint, (line_total * 100)::bigint
		FROM invoice_line
		WHERE order_id = ANY($1) ORDER BY order_id, line_no`, ids)
	var (
		orderID int64
		l       Line
	)
	_, err := pgx.ForEachRow(rows, []any{&orderID, &l.ItemID, &l.Name, &l.Count, &l.Price, &l.Total}, func() error {
		index[orderID].Lines = append(index[orderID].Lines, l)
		return nil
	})
	if err != nil {
		return fmt.Errorf("read invoice lines: %w", err)
	}
	return nil
}

// numeric is an amount as Postgres numeric: its cents × 10⁻², exact.
func numeric(c money.Cents) pgtype.Numeric {
	return pgtype.Numeric{Int: big.NewInt(int64(c)), Exp: -2, Valid: true}
}
