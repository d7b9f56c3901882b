package main

import (
	"context"
	_ "embed"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// The bound is minimal.sql: the least SQL an order needs, on its own
// tables (minimal-schema.sql). Beside it, order.sql: an order's statements
// as the code issues them, which moves when the code does.
var (
	//go:embed minimal.sql
	minimalSQL string
	//go:embed minimal-schema.sql
	minimalSchema string
	//go:embed order.sql
	orderSQL string
)

const (
	boundDuration  = 15 * time.Second
	commitDuration = 5 * time.Second
)

// bound runs pgbench on the same Postgres with no application in front:
// the minimal SQL of an order (the bound the pipeline is compared with),
// the code's own statements, and the plain one-INSERT commit rate.
func (b *bench) bound(ctx context.Context) error {
	if err := b.migrate(ctx); err != nil {
		return err
	}
	if _, err := b.admin.Exec(ctx, minimalSchema); err != nil {
		return fmt.Errorf("the bound's tables: %w", err)
	}
	b.own++
	minimal, _, err := b.pgbench(ctx, minimalSQL, boundDuration)
	if err != nil {
		return fmt.Errorf("minimal SQL: %w", err)
	}
	time.Sleep(statsSettle) // the minimal run's last commits reach the counter first
	before, err := b.commits(ctx)
	if err != nil {
		return err
	}
	code, codeRuns, err := b.pgbench(ctx, orderSQL, boundDuration)
	if err != nil {
		return fmt.Errorf("the code's SQL: %w", err)
	}
	time.Sleep(statsSettle)
	after, err := b.commits(ctx)
	if err != nil {
		return err
	}
	plain, _, err := b.pgbench(ctx, "INSERT INTO bench_minimal.plain_commit DEFAULT VALUES;\n", commitDuration)
	if err != nil {
		return fmt.Errorf("plain insert: %w", err)
	}
	b.report.Bound = Bound{
		OrdersPerSec:        minimal,
		Clients:             b.cfg.Clients,
		CodeOrdersPerSec:    code,
		CodeCommitsPerOrder: float64(after-before-1) / float64(codeRuns), // the first read of the counter commits too
		PlainCommitPerSec:   plain,
	}
	fmt.Fprintf(b.out, "  minimal SQL %.0f orders/s (%d clients, %v, 4 commits per order); the code's statements %.0f orders/s (%.2f commits per order); plain one-INSERT commits %.0f/s\n",
		minimal, b.cfg.Clients, boundDuration, code, b.report.Bound.CodeCommitsPerOrder, plain)
	return nil
}

var (
	tpsLine = regexp.MustCompile(`tps = ([0-9.]+) \(without initial connection time\)`)
	nLine   = regexp.MustCompile(`number of transactions actually processed: ([0-9]+)`)
)

// pgbench runs the script sql for d with the configured clients (simple
// protocol: every statement one round trip) and returns its rate and how
// many times it ran.
func (b *bench) pgbench(ctx context.Context, sql string, d time.Duration) (tps float64, n int64, err error) {
	cmd := exec.CommandContext(ctx, filepath.Join(b.cfg.PGBin, "pgbench"), "-n", "-c", strconv.Itoa(b.cfg.Clients), "-j", "2",
		"-T", strconv.Itoa(int(d.Seconds())), "-f", "-", b.cfg.AdminURL)
	cmd.Stdin = strings.NewReader(sql)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return 0, 0, fmt.Errorf("pgbench: %w: %s", err, lastLines(string(out), 5))
	}
	t, c := tpsLine.FindSubmatch(out), nLine.FindSubmatch(out)
	if t == nil || c == nil {
		return 0, 0, fmt.Errorf("pgbench printed no rate: %s", lastLines(string(out), 5))
	}
	tps, _ = strconv.ParseFloat(string(t[1]), 64)
	n, _ = strconv.ParseInt(string(c[1]), 10, 64)
	return tps, n, nil
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
