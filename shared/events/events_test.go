package events

import (
	"encoding/json"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestDecodeOrderOriginalShape(t *testing.T) {
	data, err := os.ReadFile("testdata/original-order.json")
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeOrder(data)
	if err != nil {
		t.Fatal(err)
	}
	want := Order{
		ID:              7,
		Customer:        Customer{CustomerID: 1, Name: "Wolff", Firstname: "Eberhard", Email: "eberhard.wolff@gmail.com"},
		Updated:         Time{time.Date(2025, 11, 25, 10, 0, 0, 0, time.UTC)},
		ShippingAddress: Address{Street: "Ohlauer Str. 43", Zip: "10999", City: "Berlin"},
		BillingAddress:  Address{Street: "Krischerstr. 100", Zip: "40789", City: "Monheim am Rhein"},
		OrderLine: []Line{
			{Count: 2, Item: Item{ItemID: 1, Name: "iPod", Price: 4200}},
			{Count: 1, Item: Item{ItemID: 3, Name: "iPod nano", Price: 100}},
		},
		NumberOfLines: 2,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("DecodeOrder (-want +got):\n%s", diff)
	}
	if got.Total() != 8500 {
		t.Errorf("Total = %v, want 85.00", got.Total())
	}
}

func TestDecodeOrderInvalid(t *testing.T) {
	tests := []struct{ name, data string }{
		{"not json", `{`},
		{"no id", `{"customer":{"customerId":1},"orderLine":[{"count":1,"item":{"itemId":1}}]}`},
		{"no customer", `{"id":1,"orderLine":[{"count":1,"item":{"itemId":1}}]}`},
		{"no lines", `{"id":1,"customer":{"customerId":1}}`},
		{"zero count", `{"id":1,"customer":{"customerId":1},"orderLine":[{"count":0,"item":{"itemId":1}}]}`},
		{"bad time", `{"id":1,"updated":"yesterday","customer":{"customerId":1},"orderLine":[{"count":1,"item":{"itemId":1}}]}`},
		{"inexact price", `{"id":1,"customer":{"customerId":1},"orderLine":[{"count":1,"item":{"itemId":1,"price":0.001}}]}`},
		{"updated 1e16 epoch ms", `{"id":1,"updated":10000000000000000,"customer":{"customerId":1},"orderLine":[{"count":1,"item":{"itemId":1}}]}`},
		{"updated -9.2e18 epoch ms", `{"id":1,"updated":-9200000000000000000,"customer":{"customerId":1},"orderLine":[{"count":1,"item":{"itemId":1}}]}`},
		{"updated in year 9999", `{"id":1,"updated":"9999-01-01T00:00:00Z","customer":{"customerId":1},"orderLine":[{"count":1,"item":{"itemId":1}}]}`},
		{"updated before 1970", `{"id":1,"updated":"1969-12-31T23:59:59Z","customer":{"customerId":1},"orderLine":[{"count":1,"item":{"itemId":1}}]}`},
		{"NUL in a name", `{"id":1,"customer":{"customerId":1,"name":"W\u0000"},"orderLine":[{"count":1,"item":{"itemId":1}}]}`},
		{"NUL in a city", `{"id":1,"customer":{"customerId":1},"billingAddress":{"city":"B\u0000"},"orderLine":[{"count":1,"item":{"itemId":1}}]}`},
		{"NUL in an item name", `{"id":1,"customer":{"customerId":1},"orderLine":[{"count":1,"item":{"itemId":1,"name":"\u0000"}}]}`},
		{"count beyond int32", `{"id":1,"customer":{"customerId":1},"orderLine":[{"count":2147483648,"item":{"itemId":1}}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := DecodeOrder([]byte(tt.data)); !errors.Is(err, ErrInvalid) {
				t.Errorf("err = %v, want ErrInvalid", err)
			}
		})
	}
}

func TestDecodeCancelledTimeWindow(t *testing.T) {
	for _, data := range []string{`{"id":1,"updated":10000000000000000}`, `{"id":1,"updated":"0001-01-01T00:00:01Z"}`} {
		if _, err := DecodeCancelled([]byte(data)); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", data, err)
		}
	}
	c, err := DecodeCancelled([]byte(`{"id":1,"updated":0}`))
	if err != nil || !c.Updated.Equal(time.Unix(0, 0)) {
		t.Errorf("epoch 0: %v, %v; want 1970-01-01", c, err)
	}
}

// FuzzDecodeOrder: any data is an order every consumer can take, with its
// time in the window and no text Postgres cannot hold, or ErrInvalid.
func FuzzDecodeOrder(f *testing.F) {
	data, err := os.ReadFile("testdata/original-order.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add([]byte(`{"id":1,"updated":"2026-11-25T10:00:00Z","customer":{"customerId":1},"orderLine":[{"count":1,"item":{"itemId":1,"price":0.1}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		o, err := DecodeOrder(data)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
			return
		}
		if y := o.Updated.Year(); !o.Updated.IsZero() && (y < MinYear || y > MaxYear) {
			t.Errorf("updated %v outside the window", o.Updated)
		}
		if o.ID <= 0 || len(o.OrderLine) == 0 {
			t.Errorf("accepted %+v", o)
		}
		if _, err := json.Marshal(o); err != nil {
			t.Errorf("an accepted order cannot be written: %v", err)
		}
	})
}

func TestTimeRoundTrip(t *testing.T) {
	in := Time{time.Date(2026, 11, 25, 10, 0, 0, 123e6, time.UTC)}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `"2026-11-25T10:00:00.123Z"` {
		t.Errorf("marshal = %s", b)
	}
	var out Time
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if !out.Equal(in.Time) {
		t.Errorf("round trip = %v, want %v", out, in)
	}
}

// BenchmarkDecodeOrder is the per-event parsing cost in the sinks.
func BenchmarkDecodeOrder(b *testing.B) {
	data, err := os.ReadFile("testdata/original-order.json")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeOrder(data); err != nil {
			b.Fatal(err)
		}
	}
}
