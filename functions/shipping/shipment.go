package shipping

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/mskafka/knative-functions/shared/events"
	"github.com/mskafka/knative-functions/shared/sink"
)

// Shipment is what shipping keeps of an order: who gets which items where.
type Shipment struct {
	// ID is the order's id; an order ships once.
	ID              int64    `json:"id"`
	Customer        Customer `json:"customer"`
	ShippingAddress Address  `json:"shippingAddress"`
	Lines           []Line   `json:"lines"`
	sink.State
}

// Customer is who receives a shipment.
type Customer struct {
	CustomerID int64  `json:"customerId"`
	Name       string `json:"name"`
	Firstname  string `json:"firstname"`
}

// Address is where a shipment goes.
type Address struct {
	Street string `json:"street"`
	Zip    string `json:"zip"`
	City   string `json:"city"`
}

// Line is how many of one item a shipment holds.
type Line struct {
	ItemID int64  `json:"itemId"`
	Name   string `json:"name"`
	Count  int    `json:"count"`
}

// projection is what shipping makes of an order and how it keeps it; the
// sink framework (sink.Postgres) does the rest.
type projection struct{}

var _ sink.Projection[Shipment] = projection{}

func (projection) Table() string { return "shipment" }

// Project takes from an order what shipping needs, and refuses an order it
// could never ship. DecodeOrder has already checked the id, the customer,
// the lines' items and counts, and that no text holds a NUL.
func (projection) Project(o events.Order) (Shipment, error) {
	a := o.ShippingAddress
	if !a.Complete() {
		return Shipment{}, fmt.Errorf("%w: order %d needs a shipping address with street, zip and city", events.ErrInvalid, o.ID)
	}
	s := Shipment{
		ID:              o.ID,
		Customer:        Customer{CustomerID: o.Customer.CustomerID, Name: o.Customer.Name, Firstname: o.Customer.Firstname},
		ShippingAddress: Address{Street: a.Street, Zip: a.Zip, City: a.City},
		Lines:           make([]Line, 0, len(o.OrderLine)),
		State:           sink.NewState(o),
	}
	for i, l := range o.OrderLine {
		if events.Blank(l.Item.Name) {
			return Shipment{}, fmt.Errorf("%w: order %d line %d has no item name", events.ErrInvalid, o.ID, i+1)
		}
		s.Lines = append(s.Lines, Line{ItemID: l.Item.ItemID, Name: l.Item.Name, Count: l.Count})
	}
	return s, nil
}

// Insert writes the shipment and its lines.
func (projection) Insert(sh Shipment) sink.Row {
	return sink.Row{
		Columns: []sink.Column{sink.Col("order_id", sh.ID), sink.Col("customer_id", sh.Customer.CustomerID),
			sink.Col("name", sh.Customer.Name), sink.Col("firstname", sh.Customer.Firstname),
			sink.Col("street", sh.ShippingAddress.Street), sink.Col("zip", sh.ShippingAddress.Zip), sink.Col("city", sh.ShippingAddress.City)},
		Updated: sh.Updated,
		Lines:   "shipment_line",
		LineColumns: []sink.Column{
			sink.LineColumn("item_id", "bigint[]", sh.Lines, func(l Line) int64 { return l.ItemID }),
			sink.LineColumn("item_name", "text[]", sh.Lines, func(l Line) string { return l.Name }),
			sink.LineColumn("count", "integer[]", sh.Lines, func(l Line) int64 { return int64(l.Count) }),
		},
	}
}

// Select reads the shipments of the orders ids, in that order, with their
// lines: two queries whatever the number.
func (projection) Select(ctx context.Context, q sink.Querier, ids []int64) ([]Shipment, error) {
	rows, _ := q.Query(ctx, `
		SELECT order_id, customer_id, name, firstname, street, zip, city, cancelled, order_updated, created_at
		FROM shipment WHERE order_id = ANY($1) ORDER BY array_position($1, order_id)`, ids)
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Shipment, error) {
		var sh Shipment
		err := row.Scan(append([]any{&sh.ID, &sh.Customer.CustomerID, &sh.Customer.Name, &sh.Customer.Firstname,
			&sh.ShippingAddress.Street, &sh.ShippingAddress.Zip, &sh.ShippingAddress.City}, sh.State.Scan()...)...)
		sh.State.UTC()
		return sh, err
	})
	if err != nil || len(list) == 0 {
		return list, err
	}
	lines, err := sink.Lines(ctx, q, `SELECT order_id, item_id, item_name, count FROM shipment_line
		WHERE order_id = ANY($1) ORDER BY order_id, line_no`, ids,
		func(row pgx.CollectableRow) (int64, Line, error) {
			var (
				id int64
				l  Line
			)
			err := row.Scan(&id, &l.ItemID, &l.Name, &l.Count)
			return id, l, err
		})
	for i := range list {
		list[i].Lines = lines[list[i].ID]
	}
	return list, err
}
