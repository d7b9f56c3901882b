package sinktest

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

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
			before := serverUsage(b, pool)
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
			after := serverUsage(b, pool)
			b.ReportMetric(float64(after.wal-before.wal)/float64(b.N), "wal-B/op")
			b.ReportMetric(float64(after.cpuTicks-before.cpuTicks)*10e3/float64(b.N), "pg-cpu-µs/op")
		})
	}
}

type usage struct{ wal, cpuTicks int64 }

// serverUsage reads the WAL position and the CPU time of every Postgres
// process (its backends and its writers) so far.
func serverUsage(b *testing.B, pool *pgxpool.Pool) usage {
	b.Helper()
	var u usage
	ctx := context.Background()
	if err := pool.QueryRow(ctx, `SELECT (pg_current_wal_lsn() - '0/0')::bigint`).Scan(&u.wal); err != nil {
		b.Fatal(err)
	}
	rows, _ := pool.Query(ctx, `SELECT pid FROM pg_stat_activity`)
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		b.Fatal(err)
	}
	for _, pid := range pids {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue // gone, or another machine's
		}
		// utime and stime, in clock ticks (1/100 s), are the 14th and 15th
		// fields; the 2nd, the name, may hold spaces and ends with ')'.
		f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		u.cpuTicks += ut + st
	}
	return u
}
