package invoicing

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/mskafka/knative-functions/shared/db"
	"github.com/mskafka/knative-functions/shared/events"
	"github.com/mskafka/knative-functions/shared/money"
	"github.com/mskafka/knative-functions/shared/sink"
)

// Invoice is what invoicing keeps of an order: whom to bill, where, for what.
type Invoice struct {
	// ID is the order's id; an order is billed once.
	ID             int64    `json:"id"`
	Customer       Customer `json:"customer"`
	BillingAddress Address  `json:"billingAddress"`
	Lines          []Line   `json:"lines"`
	// Total is the sum of the line totals.
	Total money.Cents `json:"total"`
	// State's Cancelled means the invoice is void.
	sink.State
}

// Customer is who is billed.
type Customer struct {
	CustomerID int64  `json:"customerId"`
	Name       string `json:"name"`
	Firstname  string `json:"firstname"`
	Email      string `json:"email"`
}

// Address is where the invoice goes.
type Address struct {
	Street string `json:"street"`
	Zip    string `json:"zip"`
	City   string `json:"city"`
}

// Line is one item billed: Total is Price times Count.
type Line struct {
	ItemID int64       `json:"itemId"`
	Name   string      `json:"name"`
	Count  int         `json:"count"`
	Price  money.Cents `json:"price"`
	Total  money.Cents `json:"total"`
}

// maxAmount is the largest amount a numeric(12,2) column holds.
const maxAmount money.Cents = 999_999_999_999

// projection is what invoicing makes of an order and how it keeps it; the
// sink framework (sink.Postgres) does the rest.
//
// Amounts never pass through a float: they are written as pgtype.Numeric
// built from the cents (see numeric) and read back as (amount * 100)::bigint,
// exact because the columns are numeric(12,2).
type projection struct{}

var _ sink.Projection[Invoice] = projection{}

func (projection) Table() string { return "invoice" }

// Project takes from an order what invoicing needs, computes the line
// totals and the total, and refuses an order it could never bill.
// DecodeOrder has already checked the id, the customer, the lines' items
// and counts, and that no text holds a NUL. An amount beyond numeric(12,2)
// is refused here, so that it is answered 400 rather than retried as a 500.
//
// A price of 0 is accepted: events.Item cannot tell a free item from a
// missing price.
func (projection) Project(o events.Order) (Invoice, error) {
	c, a := o.Customer, o.BillingAddress
	switch {
	case events.Blank(c.Email) || !strings.Contains(c.Email, "@"):
		return Invoice{}, fmt.Errorf("%w: order %d needs the customer's email", events.ErrInvalid, o.ID)
	case !a.Complete():
		return Invoice{}, fmt.Errorf("%w: order %d needs a billing address with street, zip and city", events.ErrInvalid, o.ID)
	}
	inv := Invoice{
		ID:             o.ID,
		Customer:       Customer{CustomerID: c.CustomerID, Name: c.Name, Firstname: c.Firstname, Email: c.Email},
		BillingAddress: Address{Street: a.Street, Zip: a.Zip, City: a.City},
		Lines:          make([]Line, 0, len(o.OrderLine)),
		State:          sink.NewState(o),
	}
	for i, l := range o.OrderLine {
		price := l.Item.Price
		switch {
		case price < 0:
			return Invoice{}, fmt.Errorf("%w: order %d line %d has a negative price %v", events.ErrInvalid, o.ID, i+1, price)
		// Checked by division, so that the product cannot overflow first.
		case price > maxAmount || price > 0 && money.Cents(l.Count) > maxAmount/price:
			return Invoice{}, fmt.Errorf("%w: order %d line %d: %d × %v is too large", events.ErrInvalid, o.ID, i+1, l.Count, price)
		}
		line := Line{ItemID: l.Item.ItemID, Name: l.Item.Name, Count: l.Count, Price: price, Total: price.Times(l.Count)}
		inv.Lines = append(inv.Lines, line)
		inv.Total += line.Total
		if inv.Total > maxAmount {
			return Invoice{}, fmt.Errorf("%w: order %d: total is too large", events.ErrInvalid, o.ID)
		}
	}
	return inv, nil
}

// Insert writes the invoice and its lines.
func (projection) Insert(inv Invoice) sink.Row {
	return sink.Row{
		Columns: []sink.Column{sink.Col("order_id", inv.ID), sink.Col("customer_id", inv.Customer.CustomerID),
			sink.Col("name", inv.Customer.Name), sink.Col("firstname", inv.Customer.Firstname), sink.Col("email", inv.Customer.Email),
			sink.Col("street", inv.BillingAddress.Street), sink.Col("zip", inv.BillingAddress.Zip), sink.Col("city", inv.BillingAddress.City),
			sink.Col("total", db.Numeric(inv.Total))},
		Updated: inv.Updated,
		Lines:   "invoice_line",
		LineColumns: []sink.Column{
			sink.LineColumn("item_id", "bigint[]", inv.Lines, func(l Line) int64 { return l.ItemID }),
			sink.LineColumn("item_name", "text[]", inv.Lines, func(l Line) string { return l.Name }),
			sink.LineColumn("count", "integer[]", inv.Lines, func(l Line) int64 { return int64(l.Count) }),
			sink.LineColumn("price", "numeric[]", inv.Lines, func(l Line) pgtype.Numeric { return db.Numeric(l.Price) }),
			sink.LineColumn("line_total", "numeric[]", inv.Lines, func(l Line) pgtype.Numeric { return db.Numeric(l.Total) }),
		},
	}
}

// Select reads the invoices of the orders ids, in that order, with their
// lines: two queries whatever the number.
func (projection) Select(ctx context.Context, q sink.Querier, ids []int64) ([]Invoice, error) {
	rows, _ := q.Query(ctx, `
		SELECT order_id, customer_id, name, firstname, email, street, zip, city,
			(total * 100)::bigint, cancelled, order_updated, created_at
		FROM invoice WHERE order_id = ANY($1) ORDER BY array_position($1, order_id)`, ids)
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Invoice, error) {
		var inv Invoice
		err := row.Scan(append([]any{&inv.ID, &inv.Customer.CustomerID, &inv.Customer.Name, &inv.Customer.Firstname,
			&inv.Customer.Email, &inv.BillingAddress.Street, &inv.BillingAddress.Zip, &inv.BillingAddress.City,
			&inv.Total}, inv.State.Scan()...)...)
		inv.State.UTC()
		return inv, err
	})
	if err != nil || len(list) == 0 {
		return list, err
	}
	lines, err := sink.Lines(ctx, q, `SELECT order_id, item_id, item_name, count, (price * 100)::bigint, (line_total * 100)::bigint
		FROM invoice_line WHERE order_id = ANY($1) ORDER BY order_id, line_no`, ids,
		func(row pgx.CollectableRow) (int64, Line, error) {
			var (
				id int64
				l  Line
			)
			err := row.Scan(&id, &l.ItemID, &l.Name, &l.Count, &l.Price, &l.Total)
			return id, l, err
		})
	for i := range list {
		list[i].Lines = lines[list[i].ID]
	}
	return list, err
}
