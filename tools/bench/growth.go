package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mskafka/knative-functions/shared/events"
	"github.com/mskafka/knative-functions/tools/internal/localstack"
	"github.com/mskafka/knative-functions/tools/internal/wait"
)

// Growth is the pipeline at one fixed rate while its history grows: a
// measured step at the start, the same rate until -growth-orders are
// placed, and the same measured step again; with a short retention, so that
// the tables retention trims show its bound within the run.
type Growth struct {
	Rate        float64
	Retention   time.Duration
	Orders      int // placed in all
	Early, Late Step
	Tables      []TableSize
	Rounds      map[string]Percentiles // retention ping → answered, per function
	Deletes     []Deletes
}

// TableSize is one table's rows and bytes (with its indexes) after the run.
type TableSize struct {
	Table string
	Rows  int64
	MiB   float64
}

// Deletes is what one function's retention DELETEs cost, as Postgres
// counted them (pg_stat_statements).
type Deletes struct {
	Role           string
	Calls, Rows    int64
	TotalMs, MaxMs float64
}

const (
	growthMeasured = 10_000      // orders the early and the late step each measure
	growthPing     = time.Minute // the PingSources' period: retention every minute, not every five or fifteen
)

func (b *bench) growth(ctx context.Context) error {
	g := &Growth{Rate: b.cfg.GrowthRate, Retention: b.cfg.GrowthRetention}
	b.report.Growth = g
	if err := b.statementsReady(ctx); err != nil {
		return err
	}
	// Keyed orders, so that the keys' table grows (and is trimmed) too.
	b.keys = true
	ret := g.Retention.String()
	// The bench plays the retention pings itself (playPings), to time each
	// round; the stack's own would fire on their schedule besides, so they
	// are put a day off, past the run.
	st, err := b.startStack(ctx, b.ownStack("stack-growth.log", "WARM=1", "PING_INTERVAL=24h",
		"IDEMPOTENCY_KEY_RETENTION="+ret, "OUTBOX_RETENTION="+ret, "HANDLED_EVENT_RETENTION="+ret))
	if err != nil {
		return err
	}
	defer stopStack(st)
	rounds := b.playPings(ctx, st)
	defer rounds() // on an early return
	measure := time.Duration(growthMeasured / g.Rate * float64(time.Second))
	// A warm-up first, as before the pipeline's steps: the broker's JVM
	// compiles its hot paths and the pools fill, which is no cost of history.
	_, warm := b.fire(ctx, st, g.Rate, b.cfg.Step)
	if g.Early, err = b.step(ctx, st, g.Rate, measure); err != nil {
		return err
	}
	g.Orders = len(warm) + g.Early.Accepted
	fmt.Fprintf(b.out, "  early: %s\n", cpuLine(g.Early))
	for fill := b.cfg.GrowthOrders - growthMeasured; g.Orders < fill && ctx.Err() == nil; {
		chunk := min(time.Minute, time.Duration(float64(fill-g.Orders)/g.Rate*float64(time.Second))+time.Second)
		tally, ids := b.fire(ctx, st, g.Rate, chunk)
		g.Orders += len(ids)
		fmt.Fprintf(b.out, "  %d orders placed (%d errors in the last %s)\n", g.Orders, tally.Sent-len(ids), chunk.Round(time.Second))
	}
	if g.Late, err = b.step(ctx, st, g.Rate, measure); err != nil {
		return err
	}
	g.Orders += g.Late.Accepted
	fmt.Fprintf(b.out, "  late:  %s\n", cpuLine(g.Late))
	g.Rounds = rounds()
	if g.Tables, err = b.tableSizes(ctx); err != nil {
		return err
	}
	g.Deletes, err = b.deletes(ctx)
	return err
}

// playPings plays the retention PingSources every growthPing until the
// function it returns is called, which returns how long each function's
// rounds took.
func (b *bench) playPings(ctx context.Context, st *localstack.Stack) (rounds func() map[string]Percentiles) {
	took := map[string][]time.Duration{}
	stop := wait.Every(growthPing, func() {
		for _, name := range localstack.Roster() {
			t0 := time.Now()
			// A PingSource's event, in binary mode as the adapter sends it.
			ping := cloudEvent(ctx, "http://"+st.Activator(name)+"/", events.TypePing, "/bench/growth",
				fmt.Sprintf("growth-%d", time.Now().UnixNano()), `{"delete":"past retention"}`)
			if err := b.send(ping); err != nil {
				fmt.Fprintf(b.out, "  retention ping to %s: %v\n", name, err)
				continue
			}
			took[name] = append(took[name], time.Since(t0))
		}
	})
	return func() map[string]Percentiles {
		stop()
		out := map[string]Percentiles{}
		for name, ds := range took {
			out[name] = percentiles(ds)
		}
		return out
	}
}

// tableSizes counts the rows and bytes of every table of the functions.
func (b *bench) tableSizes(ctx context.Context) ([]TableSize, error) {
	rows, err := b.admin.Query(ctx, `SELECT schemaname || '.' || relname, 0::bigint, pg_total_relation_size(relid) / 1048576.0::float8
		FROM pg_stat_user_tables WHERE schemaname IN ('orders', 'shipping', 'invoicing') ORDER BY 1`)
	b.own++
	if err != nil {
		return nil, fmt.Errorf("table sizes: %w", err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowToStructByPos[TableSize])
	for i, t := range tables {
		// The rows exactly, not the statistics' estimate.
		name := pgx.Identifier(strings.SplitN(t.Table, ".", 2)).Sanitize()
		if err := b.admin.QueryRow(ctx, `SELECT count(*) FROM `+name).Scan(&tables[i].Rows); err != nil {
			return nil, fmt.Errorf("count %s: %w", t.Table, err)
		}
		b.own++
	}
	return tables, err
}

// deletes reads the retention DELETEs' cost per function from Postgres.
func (b *bench) deletes(ctx context.Context) ([]Deletes, error) {
	rows, err := b.admin.Query(ctx, `SELECT r.rolname, sum(s.calls)::bigint, sum(s.rows)::bigint, sum(s.total_exec_time), max(s.max_exec_time)
		FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid
		WHERE r.rolname IN ('orders', 'shipping', 'invoicing') AND s.query ILIKE '%DELETE FROM%'
		GROUP BY r.rolname ORDER BY 1`)
	b.own++
	if err != nil {
		return nil, fmt.Errorf("retention statements: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[Deletes])
}

// Phases are the measured steps by name, in the order the report shows them.
func (g *Growth) Phases() map[string]Step { return map[string]Step{"early": g.Early, "late": g.Late} }

// Trimmed is the most rows a table that retention trims should hold.
func (g *Growth) Trimmed() float64 { return g.Rate * (g.Retention + growthPing).Seconds() }

// Function is the function whose role this is.
func (d Deletes) Function() string {
	if d.Role == "orders" {
		return "order"
	}
	return d.Role
}
