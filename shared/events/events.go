// Package events is the contract between order, shipping and invoicing: the
// CloudEvent types, the Kafka topic and the order JSON they exchange.
//
// The JSON field names are those of the original Spring Boot services, so
// either side can talk to the originals.
package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/mskafka/knative-functions/shared/money"
)

// The CloudEvent types and the place they travel.
const (
	// TypePlace is the command a client sends to the order function.
	TypePlace = "com.example.order.place"
	// TypePlaced is the domain event order publishes for each accepted order.
	TypePlaced = "com.example.order.placed"
	// TypeCancelled is the domain event order publishes when an order is cancelled.
	TypeCancelled = "com.example.order.cancelled"
	// TypeKafkaRecord is what a KafkaSource makes of a record that is not a CloudEvent.
	TypeKafkaRecord = "dev.knative.kafka.event"
	// TypePing is what a Knative PingSource sends: it wakes a function for
	// work that must happen later (draining the outbox, retention).
	TypePing = "dev.knative.sources.ping"

	// SourceOrder is the source attribute of the events order publishes.
	SourceOrder = "/order"
	// Topic is the Kafka topic the order events travel on, keyed by order id.
	Topic = "order"
	// DeadLetterTopic is where the KafkaSources put what no sink accepts.
	DeadLetterTopic = "order-dead-letter"
)

// The partition counts of Topic and DeadLetterTopic. The cluster's come
// from infra/kafka/topics.yaml and the local Kafka's from
// infra/local/kafka.sh; a test holds all three equal.
const (
	TopicPartitions           = 5
	DeadLetterTopicPartitions = 1
)

// Order is an order as it travels between the functions.
type Order struct {
	ID              int64    `json:"id"`
	Customer        Customer `json:"customer"`
	Updated         Time     `json:"updated"`
	ShippingAddress Address  `json:"shippingAddress"`
	BillingAddress  Address  `json:"billingAddress"`
	OrderLine       []Line   `json:"orderLine"`
	NumberOfLines   int      `json:"numberOfLines"`
}

// Customer is who placed an order.
type Customer struct {
	CustomerID int64  `json:"customerId"`
	Name       string `json:"name,omitempty"`
	Firstname  string `json:"firstname,omitempty"`
	Email      string `json:"email,omitempty"`
}

// Address is a postal address.
type Address struct {
	Street string `json:"street"`
	Zip    string `json:"zip"`
	City   string `json:"city"`
}

// Line is one line of an order: how many of which item.
type Line struct {
	Count int  `json:"count"`
	Item  Item `json:"item"`
}

// Item is something that can be ordered.
type Item struct {
	ItemID int64       `json:"itemId"`
	Name   string      `json:"name,omitempty"`
	Price  money.Cents `json:"price"`
}

// Cancelled is the data of a TypeCancelled event.
type Cancelled struct {
	ID      int64 `json:"id"`
	Updated Time  `json:"updated"`
}

// ErrInvalid marks data that can never be processed, however often it is
// retried. Sinks answer it with 400 so that the sender does not retry.
var ErrInvalid = errors.New("invalid event")

// Time is a timestamp that reads both RFC 3339 and epoch milliseconds (the
// original's Jackson default) and always writes RFC 3339.
type Time struct{ time.Time }

// Ptr returns the time in UTC, or nil when it is zero: the event carried
// none.
func (t Time) Ptr() *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// MarshalJSON writes RFC 3339 with milliseconds in UTC.
func (t Time) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte("null"), nil
	}
	return []byte(strconv.Quote(t.UTC().Format(time.RFC3339Nano))), nil
}

// The window of times an event may carry. Outside it a time is a mistake
// (epoch seconds read as milliseconds, a sentinel such as Long.MIN_VALUE)
// that Postgres or JSON could not even hold: year 10000 cannot be written
// as RFC 3339, and Postgres refuses years past 294276.
const (
	MinYear = 1970
	MaxYear = 2999
)

// UnmarshalJSON accepts an RFC 3339 string, epoch milliseconds, or null,
// for a time in the years MinYear to MaxYear (UTC).
func (t *Time) UnmarshalJSON(b []byte) error {
	if err := t.parse(b); err != nil {
		return err
	}
	if y := t.UTC().Year(); !t.IsZero() && (y < MinYear || y > MaxYear) {
		return fmt.Errorf("time %s: want one in the years %d to %d", b, MinYear, MaxYear)
	}
	return nil
}

func (t *Time) parse(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case string(b) == "null":
		return nil
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return fmt.Errorf("time %q: want RFC 3339", s)
		}
		t.Time = v
	default:
		ms, err := strconv.ParseInt(string(b), 10, 64)
		if err != nil {
			return fmt.Errorf("time %s: want RFC 3339 or epoch milliseconds", b)
		}
		t.Time = time.UnixMilli(ms).UTC()
	}
	return nil
}

// Total is the sum of the order's line totals.
func (o Order) Total() money.Cents {
	var sum money.Cents
	for _, l := range o.OrderLine {
		sum += l.Item.Price.Times(l.Count)
	}
	return sum
}

// Key is the Kafka record key of an order's events: its id in decimal, so
// that all events of one order land on one partition, in order.
func Key(orderID int64) string { return strconv.FormatInt(orderID, 10) }

// DecodeOrder reads an order from event data and checks what every consumer
// needs: an id, a customer and at least one line with a positive count.
// Unknown fields are ignored, as the contract asks of consumers.
func DecodeOrder(data []byte) (Order, error) {
	var o Order
	if err := json.Unmarshal(data, &o); err != nil {
		return Order{}, fmt.Errorf("%w: order data: %v", ErrInvalid, err)
	}
	switch {
	case o.ID <= 0:
		return Order{}, fmt.Errorf("%w: order has no id", ErrInvalid)
	case o.Customer.CustomerID <= 0:
		return Order{}, fmt.Errorf("%w: order %d has no customer", ErrInvalid, o.ID)
	case len(o.OrderLine) == 0:
		return Order{}, fmt.Errorf("%w: order %d has no lines", ErrInvalid, o.ID)
	}
	if hasNUL(o.Customer.Name, o.Customer.Firstname, o.Customer.Email) || o.ShippingAddress.hasNUL() || o.BillingAddress.hasNUL() {
		return Order{}, fmt.Errorf("%w: order %d has a NUL character in its customer or an address", ErrInvalid, o.ID)
	}
	for i, l := range o.OrderLine {
		switch {
		case l.Count <= 0 || l.Item.ItemID <= 0:
			return Order{}, fmt.Errorf("%w: order %d line %d needs an item and a positive count", ErrInvalid, o.ID, i+1)
		case l.Count > MaxCount:
			return Order{}, fmt.Errorf("%w: order %d line %d: count %d is too large", ErrInvalid, o.ID, i+1, l.Count)
		case hasNUL(l.Item.Name):
			return Order{}, fmt.Errorf("%w: order %d line %d has a NUL character in its item name", ErrInvalid, o.ID, i+1)
		}
	}
	return o, nil
}

// MaxCount is the largest count of a line: the stores keep counts as
// Postgres integer.
const MaxCount = math.MaxInt32

// Complete tells whether the address has a street, a zip and a city.
func (a Address) Complete() bool {
	return !Blank(a.Street) && !Blank(a.Zip) && !Blank(a.City)
}

func (a Address) hasNUL() bool { return hasNUL(a.Street, a.Zip, a.City) }

// Blank tells whether s holds nothing but white space.
func Blank(s string) bool { return strings.TrimSpace(s) == "" }

// hasNUL reports a NUL character, which Postgres text cannot hold, in any of texts.
func hasNUL(texts ...string) bool {
	for _, t := range texts {
		if strings.ContainsRune(t, 0) {
			return true
		}
	}
	return false
}

// DecodeCancelled reads the data of a TypeCancelled event.
func DecodeCancelled(data []byte) (Cancelled, error) {
	var c Cancelled
	if err := json.Unmarshal(data, &c); err != nil {
		return Cancelled{}, fmt.Errorf("%w: cancellation data: %v", ErrInvalid, err)
	}
	if c.ID <= 0 {
		return Cancelled{}, fmt.Errorf("%w: cancellation has no order id", ErrInvalid)
	}
	return c, nil
}
