package order

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mskafka/knative-functions/shared/events"
)

func validRequest() Request {
	a := events.Address{Street: "Ohlauer Str. 43", Zip: "10999", City: "Berlin"}
	return Request{CustomerID: 1, ShippingAddress: a, BillingAddress: a, Lines: []RequestLine{{ItemID: 1, Count: 2}}}
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Request)
		want   []string // fields with problems
	}{
		{"valid", func(*Request) {}, nil},
		{"no customer", func(r *Request) { r.CustomerID = 0 }, []string{"customer"}},
		{"empty street", func(r *Request) { r.ShippingAddress.Street = "  " }, []string{"shippingAddress.street"}},
		{"long city", func(r *Request) { r.BillingAddress.City = strings.Repeat("x", MaxFieldLength+1) }, []string{"billingAddress.city"}},
		{"200 euro signs", func(r *Request) { r.BillingAddress.City = strings.Repeat("€", MaxFieldLength) }, nil},
		{"201 euro signs", func(r *Request) { r.BillingAddress.City = strings.Repeat("€", MaxFieldLength+1) }, []string{"billingAddress.city"}},
		{"NUL", func(r *Request) { r.ShippingAddress.Street = "Ohlauer\x00 Str." }, []string{"shippingAddress.street"}},
		{"terminal escape", func(r *Request) { r.ShippingAddress.City = "Berlin\x1b[2J" }, []string{"shippingAddress.city"}},
		{"line break", func(r *Request) { r.ShippingAddress.Street = "Ohlauer\nStr." }, []string{"shippingAddress.street"}},
		{"line separator", func(r *Request) { r.ShippingAddress.Street = "Ohlauer\u2028Str." }, []string{"shippingAddress.street"}},
		{"invalid UTF-8", func(r *Request) { r.ShippingAddress.Zip = "10\xff99" }, []string{"shippingAddress.zip"}},
		{"replacement character", func(r *Request) { r.ShippingAddress.Zip = "10\ufffd99" }, []string{"shippingAddress.zip"}},
		{"only a zero-width space", func(r *Request) { r.BillingAddress.Street = "\u200b" }, []string{"billingAddress.street"}},
		{"only a word joiner and a space", func(r *Request) { r.BillingAddress.Zip = "\u2060 " }, []string{"billingAddress.zip"}},
		{"67 euro signs", func(r *Request) { r.ShippingAddress.Street = strings.Repeat("€", 67) }, nil},
		{"right-to-left override", func(r *Request) { r.BillingAddress.City = "Berlin\u202e" }, []string{"billingAddress.city"}},
		{"umlauts and a non-breaking space", func(r *Request) { r.ShippingAddress.City = "Frankfurt\u00a0am Main, Höchst" }, nil},
		{"no lines", func(r *Request) { r.Lines = nil }, []string{"orderLine"}},
		{"zero count", func(r *Request) { r.Lines[0].Count = 0 }, []string{"orderLine[0].count"}},
		{"negative count", func(r *Request) { r.Lines[0].Count = -3 }, []string{"orderLine[0].count"}},
		{"huge count", func(r *Request) { r.Lines[0].Count = MaxCount + 1 }, []string{"orderLine[0].count"}},
		{"no item", func(r *Request) { r.Lines[0].ItemID = 0 }, []string{"orderLine[0].item"}},
		{"too many lines", func(r *Request) {
			r.Lines = make([]RequestLine, MaxLines+1)
			for i := range r.Lines {
				r.Lines[i] = RequestLine{ItemID: 1, Count: 1}
			}
		}, []string{"orderLine"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := validRequest()
			tt.change(&r)
			var got []string
			for _, p := range r.Check().Problems {
				got = append(got, p.Field)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("problem fields (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCheckTrimsAddresses(t *testing.T) {
	r := validRequest()
	r.ShippingAddress.City = "  Berlin \t"
	if bad := r.Check(); len(bad.Problems) != 0 {
		t.Fatal(bad)
	}
	if r.ShippingAddress.City != "Berlin" {
		t.Errorf("city = %q, want trimmed", r.ShippingAddress.City)
	}
}
