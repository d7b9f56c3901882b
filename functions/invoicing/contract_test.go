package invoicing

import (
	"testing"

	"github.com/mskafka/knative-functions/shared/sink/sinktest"
)

// The sink contract on real Postgres, with the original's plain record of
// an order (updated in epoch milliseconds, an extra totalPrice field).
func TestPostgresContract(t *testing.T) {
	sinktest.Run(t, sinktest.Subject[Invoice]{Migrations: migrations, Site: site(), Projection: projection{},
		Order: "testdata/original-order.json", Record: "testdata/invoice.json"})
}
