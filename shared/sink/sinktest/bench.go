package sinktest

import (
	"context"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/mskafka/knative-functions/shared/events"
	"github.com/mskafka/knative-functions/shared/sink"
	"github.com/mskafka/knative-functions/shared/testenv"
)

// inFlight is how many events a sink has in flight under load: one per
// partition of the topic (a KafkaSource delivers in order).
const inFlight = events.TopicPartitions

// Benchmark measures storing placed events with inFlight of them at once,
// each committed alone and with group commit, side by side: the time per
// event, the WAL written per event (a commit record each, at the least), and
// the CPU Postgres spent per event.
func Benchmark[R any](b *testing.B, s Subject[R]) {
	data, err := os.ReadFile(s.Order)
	if err != nil {
		b.Fatal(err)
	}
	order, err := events.DecodeOrder(data)
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		opts []sink.Option
	}{
		{"alone", nil},
		{"grouped", []sink.Option{sink.WithGroupCommit(inFlight)}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			pool := testenv.Pool(b, s.Site.Section, s.Migrations)
			if err := sink.Migrate(b.Context(), pool, s.Migrations); err != nil {
				b.Fatal(err)
			}
			store := sink.NewPostgres(pool, s.Projection, tc.opts...)
			var next atomic.Int64
			before := testenv.ServerUsage(b, pool)
			b.ResetTimer()
			var wg sync.WaitGroup
			for range inFlight {
				wg.Go(func() {
					for {
						i := next.Add(1)
						if i > int64(b.N) {
							return
						}
						o := order
						o.ID = i
						ref := sink.Ref{Source: events.SourceOrder, ID: "bench-" + strconv.FormatInt(i, 10), Type: events.TypePlaced}
						if _, err := store.Placed(context.Background(), ref, o); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			testenv.ServerUsage(b, pool).ReportSince(b, before)
		})
	}
}
