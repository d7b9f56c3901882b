package shipping

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/mskafka/knative-functions/shared/events"
)

// Shipment is what shipping keeps of an order: who gets which items where.
type Shipment struct {
	// ID is the order's id; an order ships once.
	ID              int64    `json:"id"`
	Customer        Customer `json:"customer"`
	ShippingAddress Address  `json:"shippingAddress"`
	Lines           []Line   `json:"lines"`
	Cancelled       bool     `json:"cancelled"`
	// Updated is the order's last change as the events tell it (its
	// placement, or its cancellation when that came later); nil when the
	// events carried no time.
	Updated *time.Time `json:"updated,omitempty"`
	// Created is when shipping recorded the shipment.
	Created time.Time `json:"created"`
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

// ErrNotFound is returned for an order that shipping has no shipment for.
var ErrNotFound = errors.New("shipment not found")

// newShipment takes from an order what shipping needs, and refuses an order
// it could never ship. DecodeOrder has already checked the id, the customer
// and the lines' items and counts. What the database would refuse on every
// retry (a NUL in a text, a count beyond an integer column) is refused here
// too, so that it is answered 400 rather than retried as a 500.
func newShipment(o events.Order) (Shipment, error) {
	a := o.ShippingAddress
	switch {
	case blank(a.Street) || blank(a.Zip) || blank(a.City):
		return Shipment{}, fmt.Errorf("%w: order %d needs a shipping address with street, zip and city", events.ErrInvalid, o.ID)
	case hasNUL(o.Customer.Name, o.Customer.Firstname, a.Street, a.Zip, a.City):
		return Shipment{}, fmt.Errorf("%w: order %d has a NUL character in its customer or address", events.ErrInvalid, o.ID)
	}
	s := Shipment{
		ID:              o.ID,
		Customer:        Customer{CustomerID: o.Customer.CustomerID, Name: o.Customer.Name, Firstname: o.Customer.Firstname},
		ShippingAddress: Address{Street: a.Street, Zip: a.Zip, City: a.City},
		Lines:           make([]Line, 0, len(o.OrderLine)),
	}
	if !o.Updated.IsZero() {
		t := o.Updated.UTC()
		s.Updated = &t
	}
	for i, l := range o.OrderLine {
		switch {
		case blank(l.Item.Name):
			return Shipment{}, fmt.Errorf("%w: order %d line %d has no item name", events.ErrInvalid, o.ID, i+1)
		case hasNUL(l.Item.Name):
			return Shipment{}, fmt.Errorf("%w: order %d line %d has a NUL character in its item name", events.ErrInvalid, o.ID, i+1)
		case l.Count > math.MaxInt32:
			return Shipment{}, fmt.Errorf("%w: order %d line %d: count %d is too large", events.ErrInvalid, o.ID, i+1, l.Count)
		}
		s.Lines = append(s.Lines, Line{ItemID: l.Item.ItemID, Name: l.Item.Name, Count: l.Count})
	}
	return s, nil
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
