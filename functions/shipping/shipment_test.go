package shipping

import (
	"errors"
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mskafka/knative-functions/shared/events"
)

// testOrder is testdata/order.json, the order most tests place.
func testOrder(t testing.TB) events.Order {
	t.Helper()
	data, err := os.ReadFile("testdata/order.json")
	if err != nil {
		t.Fatal(err)
	}
	o, err := events.DecodeOrder(data)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// testShipment is the shipment of testOrder, as Project makes it.
func testShipment() Shipment {
	updated := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	return Shipment{
		ID:              7,
		Customer:        Customer{CustomerID: 1, Name: "Wolff", Firstname: "Eberhard"},
		ShippingAddress: Address{Street: "Ohlauer Str. 43", Zip: "10999", City: "Berlin"},
		Lines: []Line{
			{ItemID: 1, Name: "iPod", Count: 2},
			{ItemID: 3, Name: "iPod nano", Count: 1},
		},
		Updated: &updated,
	}
}

func TestNewShipment(t *testing.T) {
	tests := []struct {
		name    string
		change  func(o *events.Order)
		want    func(s *Shipment)
		wantErr bool
	}{
		{name: "complete order", change: func(*events.Order) {}, want: func(*Shipment) {}},
		{
			name:   "no time",
			change: func(o *events.Order) { o.Updated = events.Time{} },
			want:   func(s *Shipment) { s.Updated = nil },
		},
		{
			name:   "no customer name is fine",
			change: func(o *events.Order) { o.Customer.Name, o.Customer.Firstname = "", "" },
			want:   func(s *Shipment) { s.Customer.Name, s.Customer.Firstname = "", "" },
		},
		{name: "no street", change: func(o *events.Order) { o.ShippingAddress.Street = "" }, wantErr: true},
		{name: "no zip", change: func(o *events.Order) { o.ShippingAddress.Zip = "" }, wantErr: true},
		{name: "blank city", change: func(o *events.Order) { o.ShippingAddress.City = " \t" }, wantErr: true},
		{name: "no shipping address", change: func(o *events.Order) { o.ShippingAddress = events.Address{} }, wantErr: true},
		{name: "no item name", change: func(o *events.Order) { o.OrderLine[1].Item.Name = "" }, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := testOrder(t)
			tt.change(&o)
			got, err := projection{}.Project(o)
			if tt.wantErr {
				if !errors.Is(err, events.ErrInvalid) {
					t.Fatalf("err = %v, want ErrInvalid", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := testShipment()
			tt.want(&want)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Project (-want +got):\n%s", diff)
			}
		})
	}
}
