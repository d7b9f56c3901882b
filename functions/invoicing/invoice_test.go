package invoicing

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mskafka/knative-functions/shared/events"
	"github.com/mskafka/knative-functions/shared/money"
	"github.com/mskafka/knative-functions/shared/sink"
	"github.com/mskafka/knative-functions/shared/sink/sinktest"
)

// testInvoice is the invoice Project makes of testdata/order.json. The
// 3 × 0.10 line is there because a float64 gets it wrong.
func testInvoice() Invoice {
	updated := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	return Invoice{
		ID:             7,
		Customer:       Customer{CustomerID: 1, Name: "Wolff", Firstname: "Eberhard", Email: "eberhard.wolff@gmail.com"},
		BillingAddress: Address{Street: "Krischerstr. 100", Zip: "40789", City: "Monheim am Rhein"},
		Lines: []Line{
			{ItemID: 1, Name: "iPod", Count: 2, Price: 4200, Total: 8400},
			{ItemID: 3, Name: "iPod nano", Count: 1, Price: 100, Total: 100},
			{ItemID: 5, Name: "Cable", Count: 3, Price: 10, Total: 30},
		},
		Total: 8530,
		State: sink.State{Updated: &updated},
	}
}

func TestProject(t *testing.T) {
	sinktest.Project(t, projection{}, "testdata/order.json", testInvoice, []sinktest.ProjectCase[Invoice]{
		{Name: "complete order", Change: func(*events.Order) {}, Want: func(*Invoice) {}},
		{
			Name:   "no time",
			Change: func(o *events.Order) { o.Updated = events.Time{} },
			Want:   func(inv *Invoice) { inv.Updated = nil },
		},
		{
			Name:   "free item",
			Change: func(o *events.Order) { o.OrderLine[0].Item.Price = 0 },
			Want:   func(inv *Invoice) { inv.Lines[0].Price, inv.Lines[0].Total, inv.Total = 0, 0, 130 },
		},
		{Name: "no email", Change: func(o *events.Order) { o.Customer.Email = "" }},
		{Name: "not an email", Change: func(o *events.Order) { o.Customer.Email = "eberhard" }},
		{Name: "no street", Change: func(o *events.Order) { o.BillingAddress.Street = "" }},
		{Name: "no zip", Change: func(o *events.Order) { o.BillingAddress.Zip = "" }},
		{Name: "blank city", Change: func(o *events.Order) { o.BillingAddress.City = " " }},
		{Name: "no billing address", Change: func(o *events.Order) { o.BillingAddress = events.Address{} }},
		{Name: "negative price", Change: func(o *events.Order) { o.OrderLine[1].Item.Price = -1 }},
	})
}

func FuzzProject(f *testing.F) {
	sinktest.Fuzz(f, projection{}, "testdata/order.json", "testdata/original-order.json")
}

func TestNewInvoiceTotals(t *testing.T) {
	type line struct {
		count int
		price money.Cents
	}
	tests := []struct {
		name       string
		lines      []line
		wantTotals []money.Cents
		wantTotal  money.Cents
		wantErr    bool
	}{
		{name: "cents add up exactly", lines: []line{{3, 10}, {7, 1999}, {1, 1}}, wantTotals: []money.Cents{30, 13993, 1}, wantTotal: 14024},
		{name: "largest amount", lines: []line{{1, maxAmount}}, wantTotals: []money.Cents{maxAmount}, wantTotal: maxAmount},
		{name: "largest amount in one line", lines: []line{{3, maxAmount / 3}}, wantTotals: []money.Cents{maxAmount}, wantTotal: maxAmount},
		{name: "price too large", lines: []line{{1, maxAmount + 1}}, wantErr: true},
		{name: "line total too large", lines: []line{{2, maxAmount/2 + 1}}, wantErr: true},
		{name: "product would overflow int64", lines: []line{{math.MaxInt32, maxAmount}}, wantErr: true},
		{name: "total too large", lines: []line{{1, maxAmount}, {1, 1}}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := sinktest.Order(t, "testdata/order.json")
			o.OrderLine = nil
			for i, l := range tt.lines {
				o.OrderLine = append(o.OrderLine, events.Line{Count: l.count, Item: events.Item{ItemID: int64(i + 1), Name: "item", Price: l.price}})
			}
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
			var gotTotals []money.Cents
			for _, l := range got.Lines {
				gotTotals = append(gotTotals, l.Total)
			}
			if diff := cmp.Diff(tt.wantTotals, gotTotals); diff != "" {
				t.Errorf("line totals (-want +got):\n%s", diff)
			}
			if got.Total != tt.wantTotal {
				t.Errorf("total = %v, want %v", got.Total, tt.wantTotal)
			}
		})
	}
}
