package invoicing

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/mskafka/knative-functions/shared/events"
	"github.com/mskafka/knative-functions/shared/money"
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
	// Cancelled means the invoice is void: its order was cancelled.
	Cancelled bool `json:"cancelled"`
	// Updated is the order's last change as the events tell it (its
	// placement, or its cancellation when that came later); nil when the
	// events carried no time.
	Updated *time.Time `json:"updated,omitempty"`
	// Created is when invoicing recorded the invoice.
	Created time.Time `json:"created"`
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

// ErrNotFound is returned for an order that invoicing has no invoice for.
var ErrNotFound = errors.New("invoice not found")

// maxAmount is the largest amount a numeric(12,2) column holds.
const maxAmount money.Cents = 999_999_999_999

// newInvoice takes from an order what invoicing needs, computes the line
// totals and the total, and refuses an order it could never bill.
// DecodeOrder has already checked the id, the customer and the lines' items
// and counts. What the database would refuse on every retry (a NUL in a
// text, an amount beyond numeric(12,2), a count beyond an integer column) is
// refused here too, so that it is answered 400 rather than retried as a 500.
//
// A price of 0 is accepted: events.Item cannot tell a free item from a
// missing price.
func newInvoice(o events.Order) (Invoice, error) {
	c, a := o.Customer, o.BillingAddress
	switch {
	case blank(c.Email) || !strings.Contains(c.Email, "@"):
		return Invoice{}, fmt.Errorf("%w: order %d needs the customer's email", events.ErrInvalid, o.ID)
	case blank(a.Street) || blank(a.Zip) || blank(a.City):
		return Invoice{}, fmt.Errorf("%w: order %d needs a billing address with street, zip and city", events.ErrInvalid, o.ID)
	case hasNUL(c.Name, c.Firstname, c.Email, a.Street, a.Zip, a.City):
		return Invoice{}, fmt.Errorf("%w: order %d has a NUL character in its customer or address", events.ErrInvalid, o.ID)
	}
	inv := Invoice{
		ID:             o.ID,
		Customer:       Customer{CustomerID: c.CustomerID, Name: c.Name, Firstname: c.Firstname, Email: c.Email},
		BillingAddress: Address{Street: a.Street, Zip: a.Zip, City: a.City},
		Lines:          make([]Line, 0, len(o.OrderLine)),
	}
	if !o.Updated.IsZero() {
		t := o.Updated.UTC()
		inv.Updated = &t
	}
	for i, l := range o.OrderLine {
		price := l.Item.Price
		switch {
		case price < 0:
			return Invoice{}, fmt.Errorf("%w: order %d line %d has a negative price %v", events.ErrInvalid, o.ID, i+1, price)
		case hasNUL(l.Item.Name):
			return Invoice{}, fmt.Errorf("%w: order %d line %d has a NUL character in its item name", events.ErrInvalid, o.ID, i+1)
		case l.Count > math.MaxInt32:
			return Invoice{}, fmt.Errorf("%w: order %d line %d: count %d is too large", events.ErrInvalid, o.ID, i+1, l.Count)
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

func blank(s string) bool { return strings.TrimSpace(s) == "" }

// hasNUL reports a NUL character, which Postgres text cannot hold, in any of texts.
func hasNUL(texts ...string) bool {
	for _, t := range texts {
		if strings.ContainsRune(t, 0) {
			return true
		}
	}
	return false
}
