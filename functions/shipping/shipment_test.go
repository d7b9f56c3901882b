package shipping

import (
	"testing"
	"time"

	"github.com/mskafka/knative-functions/shared/events"
	"github.com/mskafka/knative-functions/shared/sink"
	"github.com/mskafka/knative-functions/shared/sink/sinktest"
)

// testShipment is the shipment Project makes of testdata/order.json.
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
		State: sink.State{Updated: &updated},
	}
}

func TestProject(t *testing.T) {
	sinktest.Project(t, projection{}, "testdata/order.json", testShipment, []sinktest.ProjectCase[Shipment]{
		{Name: "complete order", Change: func(*events.Order) {}, Want: func(*Shipment) {}},
		{
			Name:   "no time",
			Change: func(o *events.Order) { o.Updated = events.Time{} },
			Want:   func(s *Shipment) { s.Updated = nil },
		},
		{
			Name:   "no customer name is fine",
			Change: func(o *events.Order) { o.Customer.Name, o.Customer.Firstname = "", "" },
			Want:   func(s *Shipment) { s.Customer.Name, s.Customer.Firstname = "", "" },
		},
		{Name: "no street", Change: func(o *events.Order) { o.ShippingAddress.Street = "" }},
		{Name: "no zip", Change: func(o *events.Order) { o.ShippingAddress.Zip = "" }},
		{Name: "blank city", Change: func(o *events.Order) { o.ShippingAddress.City = " \t" }},
		{Name: "no shipping address", Change: func(o *events.Order) { o.ShippingAddress = events.Address{} }},
		{Name: "no item name", Change: func(o *events.Order) { o.OrderLine[1].Item.Name = "" }},
	})
}

func FuzzProject(f *testing.F) {
	sinktest.Fuzz(f, projection{}, "testdata/order.json", "testdata/original-order.json")
}
