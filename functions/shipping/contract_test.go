package shipping

import (
	"testing"

	"github.com/mskafka/knative-functions/shared/sink/sinktest"
)

// The sink contract on real Postgres, with the original's plain record of
// an order (updated in epoch milliseconds, an extra totalPrice field).
func TestPostgresContract(t *testing.T) {
	sinktest.Run(t, sinktest.Subject[Shipment]{Migrations: migrations, Site: site(), Projection: projection{},
		Order: "testdata/original-order.json", Record: "testdata/shipment.json"})
}

// BenchmarkPostgresPlaced stores placed events, as many at once as the
// topic has partitions, each committed alone and with group commit.
func BenchmarkPostgresPlaced(b *testing.B) {
	sinktest.Benchmark(b, sinktest.Subject[Shipment]{Migrations: migrations, Site: site(), Projection: projection{},
		Order: "testdata/original-order.json"})
}
