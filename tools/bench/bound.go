package main

import (
	"context"
	_ "embed"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"time"
)

// orderSQL is an order's statements as the code issues them.
//
//go:embed order.sql
var orderSQL string

const (
	boundDuration  = 15 * time.Second
	commitDuration = 5 * time.Second
)

// bound runs pgbench with an order's own SQL on the same Postgres: the
// orders per second the database gives with no application in front, and
// beside it the plain one-INSERT commit rate.
func (b *bench) bound(ctx context.Context) error {
	if err := b.migrate(ctx); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "bench-sql")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	script := filepath.Join(dir, "order.sql")
	if err := os.WriteFile(script, []byte(orderSQL), 0o644); err != nil {
		return err
	}
	before, err := b.commits(ctx)
	if err != nil {
		return err
	}
	orders, err := b.pgbench(ctx, script, boundDuration)
	if err != nil {
		return fmt.Errorf("order SQL: %w", err)
	}
	time.Sleep(time.Second) // the server publishes its counters about once a second
	after, err := b.commits(ctx)
	if err != nil {
		return err
	}
	insert := filepath.Join(dir, "insert.sql")
	os.WriteFile(insert, []byte("INSERT INTO public.bench_commit DEFAULT VALUES;\n"), 0o644)
	if _, err := b.admin.Exec(ctx, `CREATE TABLE IF NOT EXISTS public.bench_commit (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return err
	}
	b.own++
	plain, err := b.pgbench(ctx, insert, commitDuration)
	if err != nil {
		return fmt.Errorf("plain insert: %w", err)
	}
	b.report.Bound = Bound{
		OrdersPerSec:      orders.tps,
		Clients:           b.cfg.Clients,
		CommitsPerOrder:   float64(after-before-1) / float64(orders.n), // the first read of the counter commits too
		PlainCommitPerSec: plain.tps,
	}
	fmt.Fprintf(b.out, "  %.0f orders/s (%d clients, %v), %.2f commits per order; plain one-INSERT commits %.0f/s\n",
		orders.tps, b.cfg.Clients, boundDuration, b.report.Bound.CommitsPerOrder, plain.tps)
	return nil
}

type pgbenchResult struct {
	tps float64
	n   int64
}

var (
	tpsLine = regexp.MustCompile(`tps = ([0-9.]+) \(without initial connection time\)`)
	nLine   = regexp.MustCompile(`number of transactions actually processed: ([0-9]+)`)
)

// pgbench runs script for d with the configured clients (simple protocol:
// every statement one round trip) and returns its rate.
func (b *bench) pgbench(ctx context.Context, script string, d time.Duration) (pgbenchResult, error) {
	u, err := url.Parse(b.cfg.AdminURL)
	if err != nil {
		return pgbenchResult{}, err
	}
	cmd := exec.CommandContext(ctx, filepath.Join(b.cfg.PGBin, "pgbench"), "-n",
		"-c", strconv.Itoa(b.cfg.Clients), "-j", "2", "-T", strconv.Itoa(int(d.Seconds())), "-f", script)
	pass, _ := u.User.Password()
	cmd.Env = append(os.Environ(), "PGHOST="+u.Hostname(), "PGPORT="+u.Port(), "PGUSER="+u.User.Username(),
		"PGPASSWORD="+pass, "PGDATABASE="+filepath.Base(u.Path))
	out, err := cmd.CombinedOutput()
	if err != nil {
		return pgbenchResult{}, fmt.Errorf("pgbench: %w: %s", err, lastLines(string(out), 5))
	}
	t, n := tpsLine.FindSubmatch(out), nLine.FindSubmatch(out)
	if t == nil || n == nil {
		return pgbenchResult{}, fmt.Errorf("pgbench printed no rate: %s", lastLines(string(out), 5))
	}
	var r pgbenchResult
	r.tps, _ = strconv.ParseFloat(string(t[1]), 64)
	r.n, _ = strconv.ParseInt(string(n[1]), 10, 64)
	return r, nil
}

// commits is the database's count of committed transactions so far.
func (b *bench) commits(ctx context.Context) (int64, error) {
	var n int64
	err := b.admin.QueryRow(ctx, `SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()`).Scan(&n)
	b.own++
	if err != nil {
		return 0, fmt.Errorf("read commit count: %w", err)
	}
	return n, nil
}
