// Package orderapi is the tools' one client of the order function's JSON
// API: order requests over the seeded customers and items, their placement
// (with an Idempotency-Key) and its answer, cancelling one, reading JSON.
package orderapi

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/mskafka/knative-functions/shared/money"
)

// Request is an order request over what functions/order/migrations/001_init.sql
// seeds: customers 1 and 2, items 1 to 4.
type Request struct {
	N     int
	Key   string // the Idempotency-Key, and the street of both addresses
	Body  []byte
	Total money.Cents // what its invoice must come to
}

// NewRequest is request number n: customer 1+n%2, 1+n%3 of item 1+n%4.
// A key names the request in both addresses, so every stored order,
// shipment and invoice says which request it came from; without one
// (empty) the street is the seed's and no Idempotency-Key is sent.
func NewRequest(n int, key string) Request {
	count, item := 1+n%3, 1+n%4
	address := map[string]string{"street": cmp.Or(key, "Ohlauer Str. 43"), "zip": "10999", "city": "Berlin"}
	body, _ := json.Marshal(map[string]any{
		"customer":        map[string]int{"customerId": 1 + n%2},
		"shippingAddress": address,
		"billingAddress":  address,
		"orderLine":       []map[string]any{{"count": count, "item": map[string]int{"itemId": item}}},
	})
	price := map[int]money.Cents{1: 4200, 2: 2100, 3: 100, 4: 10000}[item] // as the seed charges
	return Request{N: n, Key: key, Body: body, Total: price.Times(count)}
}

// Client talks to one order function.
type Client struct {
	Base string // the function's root without a slash: http://gateway/order, or http://host:port
	HTTP *http.Client
}

// Placed is the answer to a placement.
type Placed struct {
	Status   int
	ID       int64 // from a 201
	Replayed bool  // the 201 carried Idempotent-Replayed: true
}

// Target is the placement of r as a load generator's target.
func (c Client) Target(r Request) vegeta.Target {
	h := http.Header{"Content-Type": {"application/json"}}
	if r.Key != "" {
		h.Set("Idempotency-Key", r.Key)
	}
	return vegeta.Target{Method: http.MethodPost, URL: c.Base + "/api/orders", Body: r.Body, Header: h}
}

// Answer reads a placement's answer: a 201 must name the order.
func Answer(status int, h http.Header, body []byte) (Placed, error) {
	p := Placed{Status: status, Replayed: h.Get("Idempotent-Replayed") == "true"}
	if status != http.StatusCreated {
		return p, nil
	}
	var o struct{ ID int64 } // "id"
	if err := json.Unmarshal(body, &o); err != nil || o.ID == 0 {
		return Placed{}, fmt.Errorf("201 without an order id: %.100s", body)
	}
	p.ID = o.ID
	return p, nil
}

// Cancel deletes order id and returns the status.
func (c Client) Cancel(ctx context.Context, id int64) (int, error) {
	resp, _, err := do(ctx, c.HTTP, http.MethodDelete, c.Base+"/api/orders/"+strconv.FormatInt(id, 10))
	if err != nil {
		return 0, err
	}
	return resp.StatusCode, nil
}

// ReadJSON decodes the JSON at url into v; anything but a 200 is an error
// naming the status.
func ReadJSON(ctx context.Context, client *http.Client, url string, v any) error {
	resp, body, err := do(ctx, client, http.MethodGet, url)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s", resp.Status)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	return nil
}

// do sends one request and reads the whole answer.
func do(ctx context.Context, client *http.Client, method, url string) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return nil, nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}
