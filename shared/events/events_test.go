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
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := DecodeOrder([]byte(tt.data)); !errors.Is(err, ErrInvalid) {
				t.Errorf("err = %v, want ErrInvalid", err)
			}
		})
	}
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
