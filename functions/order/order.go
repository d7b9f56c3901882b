package order

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/mskafka/knative-functions/shared/events"
	"github.com/mskafka/knative-functions/shared/money"
)

// Limits on what one order may hold. They keep a single request from
// occupying the database or the topic, and are far above any real basket.
const (
	MaxLines       = 50
	MaxCount       = 1000
	MaxFieldLength = 200
)

// Order statuses.
const (
	StatusPlaced    = "placed"
	StatusCancelled = "cancelled"
)

// Sentinel errors, mapped to HTTP statuses in one place (http.go).
var (
	ErrNotFound = errors.New("order not found")
	// ErrKeyReused: a key that makes placing idempotent came again with a
	// different request (see ReusedError).
	ErrKeyReused = errors.New("key reused with a different request")
)

// Problem is one thing wrong with a request, tied to the field it concerns
// so a form can show it next to that field.
type Problem struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// InvalidError lists everything wrong with an order request.
type InvalidError struct{ Problems []Problem }

func (e *InvalidError) Error() string {
	msgs := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		msgs[i] = p.Field + ": " + p.Message
	}
	return "invalid order: " + strings.Join(msgs, "; ")
}

func (e *InvalidError) add(field, format string, args ...any) {
	e.Problems = append(e.Problems, Problem{Field: field, Message: fmt.Sprintf(format, args...)})
}

func (e *InvalidError) orNil() error {
	if len(e.Problems) == 0 {
		return nil
	}
	return e
}

// Request is an order request: the ids of customer and items, the addresses
// and the counts. Names and prices come from the catalogue, never from the client.
type Request struct {
	CustomerID      int64
	ShippingAddress events.Address
	BillingAddress  events.Address
	Lines           []RequestLine
}

// RequestLine is one line of a Request.
type RequestLine struct {
	ItemID int64
	Count  int
}

// RequestFromOrder takes the ids and counts out of an order-shaped JSON body.
func RequestFromOrder(o events.Order) Request {
	r := Request{
		CustomerID:      o.Customer.CustomerID,
		ShippingAddress: o.ShippingAddress,
		BillingAddress:  o.BillingAddress,
		Lines:           make([]RequestLine, len(o.OrderLine)),
	}
	for i, l := range o.OrderLine {
		r.Lines[i] = RequestLine{ItemID: l.Item.ItemID, Count: l.Count}
	}
	return r
}

// Digest is a SHA-256 of the request as Check leaves it (addresses
// trimmed), so a retry that differs only in JSON layout, field order or
// surrounding spaces has the same digest, and any change to what would be
// ordered has another.
func (r Request) Digest() []byte {
	b, _ := json.Marshal(r) // a struct of strings and integers always encodes
	sum := sha256.Sum256(b)
	return sum[:]
}

// Check validates what can be validated without the catalogue.
func (r *Request) Check() *InvalidError {
	bad := &InvalidError{}
	if r.CustomerID <= 0 {
		bad.add("customer", "choose a customer")
	}
	checkAddress(bad, "shippingAddress", &r.ShippingAddress)
	checkAddress(bad, "billingAddress", &r.BillingAddress)
	switch {
	case len(r.Lines) == 0:
		bad.add("orderLine", "an order needs at least one line")
	case len(r.Lines) > MaxLines:
		bad.add("orderLine", "at most %d lines per order, got %d", MaxLines, len(r.Lines))
	}
	for i, l := range r.Lines {
		if i >= MaxLines {
			break
		}
		if l.ItemID <= 0 {
			bad.add(fmt.Sprintf("orderLine[%d].item", i), "choose an item")
		}
		if l.Count < 1 || l.Count > MaxCount {
			bad.add(fmt.Sprintf("orderLine[%d].count", i), "count must be between 1 and %d", MaxCount)
		}
	}
	return bad
}

func checkAddress(bad *InvalidError, field string, a *events.Address) {
	for _, f := range []struct {
		name  string
		value *string
	}{{"street", &a.Street}, {"zip", &a.Zip}, {"city", &a.City}} {
		*f.value = strings.TrimSpace(*f.value)
		if msg := checkText(f.name, *f.value); msg != "" {
			bad.add(field+"."+f.name, "%s", msg)
		}
	}
}

// checkText says what is wrong with one line of text typed by a person
// (an address field), or "". The text is stored and shown as it came, so
// anything that would be altered, hidden or misread on the way is refused
// rather than repaired: invalid UTF-8 (it would become U+FFFD), U+FFFD
// itself (what a lone surrogate escape in JSON decodes to), control
// characters (NUL cannot be stored; terminal escapes and line breaks do not
// belong in one line), bidirectional overrides (they make text read
// differently from what it is), and text with nothing visible in it (a
// zero-width space only). The limit counts characters, not bytes.
func checkText(name, v string) string {
	switch {
	case v == "":
		return name + " is required"
	case !utf8.ValidString(v):
		return name + " is not valid UTF-8"
	case utf8.RuneCountInString(v) > MaxFieldLength:
		return fmt.Sprintf("%s is longer than %d characters", name, MaxFieldLength)
	}
	visible := false
	for i, r := range v {
		switch {
		case r == utf8.RuneError:
			return name + " contains the replacement character U+FFFD: the text was garbled before it arrived"
		case unicode.IsControl(r) || unicode.In(r, unicode.Zl, unicode.Zp):
			return fmt.Sprintf("%s contains the control character %U at byte %d", name, r, i)
		case unicode.In(r, unicode.Bidi_Control):
			return fmt.Sprintf("%s contains the bidirectional formatting character %U at byte %d", name, r, i)
		case unicode.In(r, unicode.L, unicode.N, unicode.P, unicode.S):
			visible = true
		}
	}
	if !visible {
		return name + " has nothing visible in it"
	}
	return ""
}

// Order is an order as the order function keeps it: the wire shape plus its
// own state.
type Order struct {
	events.Order
	Status  string      `json:"status"`
	Total   money.Cents `json:"total"`
	Created time.Time   `json:"created"`
	// Published is when the order's placed event reached Kafka; nil while it
	// waits in the outbox.
	Published *time.Time `json:"published,omitempty"`
	// EventID is the id of the order's placed event, the same on every re-send.
	EventID string `json:"eventId,omitempty"`
}

// Customer and Item are the catalogue, as the API lists it.
type (
	Customer = events.Customer
	Item     = events.Item
)
