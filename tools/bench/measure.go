package main

import (
	"context"
	"fmt"
	"maps"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/procfs"

	"github.com/mskafka/knative-functions/tools/internal/wait"
)

// counters is what the database and /proc have counted up to a moment.
type counters struct {
	commits    int64
	statements int64              // -1: pg_stat_statements is not loaded
	pgWrites   int64              // requests written to Postgres by all its clients; -1: not counted
	kafkaReqs  int64              // requests written to the Kafka broker by all its clients; -1: not counted
	cpu        map[string]float64 // seconds
	own        int64              // the bench's own transactions so far
}

// statsSettle is how long Postgres's cumulative statistics take to show
// what has just been committed: each backend publishes its counters about
// once a second.
const statsSettle = 1100 * time.Millisecond

// snapshot reads the counters, after statsSettle.
func (b *bench) snapshot(ctx context.Context, pids map[string]int) (counters, error) {
	time.Sleep(statsSettle)
	c := counters{statements: -1, cpu: map[string]float64{}, own: b.own}
	var err error
	if c.commits, err = b.commits(ctx); err != nil {
		return c, err
	}
	// Only the functions' own roles: the bench's queries are not the pipeline's.
	err = b.admin.QueryRow(ctx, `SELECT coalesce(sum(s.calls), 0)::bigint FROM pg_stat_statements s
		JOIN pg_roles r ON r.oid = s.userid WHERE r.rolname IN ('orders', 'shipping', 'invoicing')`).Scan(&c.statements)
	b.own++
	if err != nil {
		c.statements = -1
	}
	for name, pid := range pids {
		if p, err := procStat(pid); err == nil {
			c.cpu[name] = p.CPUTime()
		}
	}
	maps.Copy(c.cpu, serverCPU())
	c.pgWrites, c.kafkaReqs = segmentsIn(b.cfg.AdminURL), segmentsIn("//"+strings.Split(b.cfg.Brokers, ",")[0])
	return c, nil
}

// segmentsIn counts the data segments that the sockets listening on the
// server's port (of its URL, or //host:port) have received so far: on loopback every request a client writes (a
// Postgres round trip, pgx's pipelined batch included, or a Kafka request)
// arrives as one segment, so the difference between two counts is the
// requests in between, as the kernel saw them. Connections closed in
// between take their counts with them. -1 when ss cannot tell.
func segmentsIn(server string) int64 {
	u, err := url.Parse(server)
	if err != nil || u.Port() == "" {
		return -1
	}
	out, err := exec.Command("ss", "-tinH", "state", "established", "( sport = :"+u.Port()+" )").Output()
	if err != nil {
		return -1
	}
	return sumDataSegsIn(out)
}

// sumDataSegsIn adds up the data_segs_in counters of ss -ti output.
func sumDataSegsIn(out []byte) int64 {
	var n int64
	for _, m := range dataSegsIn.FindAllSubmatch(out, -1) {
		v, _ := strconv.ParseInt(string(m[1]), 10, 64)
		n += v
	}
	return n
}

var dataSegsIn = regexp.MustCompile(`data_segs_in:([0-9]+)`)

// serverCPU is the CPU time so far of the servers on the same cores and of
// the load generator: every postgres process (a backend that has exited
// is counted in the postmaster's children's time), the Kafka broker's JVM,
// and this process.
func serverCPU() map[string]float64 {
	cpu := map[string]float64{}
	if p, err := procStat(os.Getpid()); err == nil {
		cpu["bench (load)"] = p.CPUTime()
	}
	procs, _ := procfs.AllProcs()
	for _, proc := range procs {
		name, _ := proc.Comm()
		if name == "java" {
			if args, _ := proc.CmdLine(); strings.Contains(strings.Join(args, " "), "kafka.Kafka") {
				name = "kafka"
			}
		}
		if name != "postgres" && name != "kafka" {
			continue
		}
		if p, err := procStat(proc.PID); err == nil {
			cpu[name] += p.CPUTime() + float64(p.CUTime+p.CSTime)/100 // children's, in ticks of USER_HZ (100)
		}
	}
	return cpu
}

// statementsReady loads pg_stat_statements into the database, when the
// server preloads it (infra/local/bench.sh does).
func (b *bench) statementsReady(ctx context.Context) error {
	_, err := b.admin.Exec(ctx, `CREATE EXTENSION IF NOT EXISTS pg_stat_statements`)
	b.own++
	return err
}

// Cost is what the pipeline spent per order in one step.
type Cost struct {
	CommitsPerOrder    float64            // Postgres commits, all processes
	StatementsPerOrder float64            // statements of the functions' roles; -1: not counted
	RoundTripsPerOrder float64            // requests written to Postgres (less the bench's own); -1: not counted
	KafkaReqsPerOrder  float64            // requests written to the broker: produce, fetch, offset commits, heartbeats; -1: not counted
	CPUSecPer1000      map[string]float64 // per process: order, shipping, invoicing, stack, postgres, kafka, bench (load)
}

// cost divides what was counted between two snapshots by the orders.
// Between them the bench itself ran a known number of transactions (its
// own counters and polls), which are taken out.
func cost(before, after counters, orders int) Cost {
	if orders == 0 {
		return Cost{}
	}
	own := after.own - before.own // each of them a commit and a request too
	per := func(before, after, less int64) float64 {
		if before < 0 || after < 0 {
			return -1 // not counted
		}
		return float64(after-before-less) / float64(orders)
	}
	c := Cost{
		CommitsPerOrder:    per(before.commits, after.commits, own),
		StatementsPerOrder: per(before.statements, after.statements, 0),
		RoundTripsPerOrder: per(before.pgWrites, after.pgWrites, own),
		KafkaReqsPerOrder:  per(before.kafkaReqs, after.kafkaReqs, 0),
		CPUSecPer1000:      map[string]float64{},
	}
	for name := range maps.Keys(after.cpu) {
		c.CPUSecPer1000[name] = (after.cpu[name] - before.cpu[name]) * 1000 / float64(orders)
	}
	return c
}

// waitStored waits until every accepted order has a shipment and an invoice,
// or until nothing has moved for 15 s; it returns how long that took and
// how many orders were still missing (lost).
func (b *bench) waitStored(ctx context.Context, ids []int64) (time.Duration, int, error) {
	start := time.Now()
	missing, lastChange := -1, time.Now()
	for {
		var n int
		err := b.admin.QueryRow(ctx, `SELECT count(*) FROM unnest($1::bigint[]) AS a(id)
			WHERE NOT EXISTS (SELECT FROM shipping.shipment s WHERE s.order_id = a.id)
			   OR NOT EXISTS (SELECT FROM invoicing.invoice i WHERE i.order_id = a.id)`, ids).Scan(&n)
		b.own++
		if err != nil {
			return 0, 0, fmt.Errorf("count stored orders: %w", err)
		}
		if n == 0 {
			return time.Since(start), 0, nil
		}
		if n != missing {
			missing, lastChange = n, time.Now()
		}
		if time.Since(lastChange) > 15*time.Second || ctx.Err() != nil {
			return time.Since(start), n, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// delays are the times from each order's commit to the later of its
// shipment's and its invoice's commits, all as the database recorded them
// (track_commit_timestamp), so that no client clock is involved.
func (b *bench) delays(ctx context.Context, ids []int64) (e2e, relayed []time.Duration, err error) {
	// The outbox row's xmin is the relay's transaction that marked it sent,
	// after Kafka acknowledged it: the first leg of the delay.
	rows, err := b.admin.Query(ctx, `
		SELECT extract(epoch FROM greatest(pg_xact_commit_timestamp(s.xmin), pg_xact_commit_timestamp(i.xmin))
		                         - pg_xact_commit_timestamp(o.xmin)),
		       extract(epoch FROM pg_xact_commit_timestamp(ob.xmin) - pg_xact_commit_timestamp(o.xmin))
		FROM orders.orders o
		JOIN shipping.shipment s ON s.order_id = o.id
		JOIN invoicing.invoice i ON i.order_id = o.id
		LEFT JOIN orders.outbox ob ON ob.order_id = o.id AND ob.sent_at IS NOT NULL
		WHERE o.id = ANY($1)`, ids)
	b.own++
	if err != nil {
		return nil, nil, fmt.Errorf("read commit times: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var sec, relay *float64
		if err := rows.Scan(&sec, &relay); err != nil {
			return nil, nil, err
		}
		if sec == nil {
			return nil, nil, fmt.Errorf("no commit time recorded: is track_commit_timestamp on? (infra/local/bench.sh turns it on)")
		}
		e2e = append(e2e, time.Duration(*sec*float64(time.Second)))
		if relay != nil {
			relayed = append(relayed, time.Duration(*relay*float64(time.Second)))
		}
	}
	return e2e, relayed, rows.Err()
}

// sampleRSS keeps the largest resident set of each process until the
// function it returns is called, which returns them in MiB.
func sampleRSS(pids map[string]int) (peaks func() map[string]float64) {
	peak := map[string]float64{}
	sample := func() {
		for name, pid := range pids {
			if p, err := procStat(pid); err == nil {
				peak[name] = max(peak[name], mib(int64(p.ResidentMemory())))
			}
		}
	}
	sample()
	stop := wait.Every(250*time.Millisecond, sample)
	return func() map[string]float64 { stop(); return peak }
}
