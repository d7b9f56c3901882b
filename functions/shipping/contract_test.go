package shipping

import (
	"os"
	"testing"

	"github.com/mskafka/knative-functions/shared/db/dbtest"
	"github.com/mskafka/knative-functions/shared/sink/sinktest"
)

// testSchema makes a fresh schema in the Postgres at DATABASE_URL, dropped
// when the test ends.
func testSchema(t testing.TB) (url, schema string) { return dbtest.Schema(t, "shipping") }

// The sink contract on real Postgres, with the original's plain record of
// an order (updated in epoch milliseconds, an extra totalPrice field).
func TestPostgresContract(t *testing.T) {
	order, err := os.ReadFile("testdata/original-order.json")
	if err != nil {
		t.Fatal(err)
	}
	record, err := os.ReadFile("testdata/shipment.json")
	if err != nil {
		t.Fatal(err)
	}
	sinktest.Run(t, sinktest.Subject[Shipment]{Migrations: migrations, Site: site(), Projection: projection{}, Order: order, Record: record})
}
