package main

import (
	"cmp"
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mskafka/knative-functions/shared/db"
)

// Compare is one offered rate run on this checkout and on another revision
// (-baseline), alternately in the same run, so that the CPU each process
// spends per order is compared on the same machine at the same moment.
type Compare struct {
	Baseline string  // the other revision, as given
	Rate     float64 // orders/s offered to both
	Rounds   int     // each side ran this many measured steps
	This     []Step
	Base     []Step
}

// compareProcesses are the parts whose cost per order the comparison shows.
var compareProcesses = []string{"order", "shipping", "invoicing", "stack", "postgres", "kafka"}

// compare builds the baseline revision in a worktree of its own, gives each
// side a fresh database of its own on the same server (its functions
// migrate their own schemas; neither carries the orders of the steps
// before), and offers the same rate to both stacks in turn: baseline, this,
// baseline, this. Each stack gets a warm-up step first, not reported.
func (b *bench) compare(ctx context.Context) error {
	if b.cfg.Baseline == "" {
		return fmt.Errorf("no -baseline revision given")
	}
	base, cleanup, err := b.buildBaseline(ctx, b.cfg.Baseline)
	defer cleanup()
	if err != nil {
		return err
	}
	other, err := b.freshBench(ctx, "bench_baseline")
	if err != nil {
		return err
	}
	defer other.admin.Close()
	base.databaseURL = other.cfg.AdminURL
	this, err := b.freshBench(ctx, "bench_this")
	if err != nil {
		return err
	}
	defer this.admin.Close()
	rate := b.cfg.CompareRate
	if s := b.report.sustained(); rate == 0 && s != nil {
		rate = s.Offered // where this run's pipeline was last fine: groups form there
	}
	c := &Compare{Baseline: b.cfg.Baseline, Rate: cmp.Or(rate, 300), Rounds: 2}
	b.report.Compare = c
	for range c.Rounds {
		baseStep, err := other.measuredStep(ctx, base, c.Rate)
		if err != nil {
			return err
		}
		thisStep, err := this.measuredStep(ctx, this.ownStack("stack-compare.log", "WARM=1"), c.Rate)
		if err != nil {
			return err
		}
		c.Base, c.This = append(c.Base, baseStep), append(c.This, thisStep)
		fmt.Fprintf(b.out, "  round: baseline %s, this %s\n", cpuLine(baseStep), cpuLine(thisStep))
	}
	return nil
}

// measuredStep starts the stack, warms it up, offers rate once and stops it.
func (b *bench) measuredStep(ctx context.Context, run stackRun, rate float64) (Step, error) {
	st, err := b.startStack(ctx, run)
	if err != nil {
		return Step{}, err
	}
	defer stopStack(st)
	if _, err := b.step(ctx, st, rate, b.cfg.Step); err != nil {
		return Step{}, err
	}
	return b.step(ctx, st, rate, b.cfg.Step)
}

func cpuLine(s Step) string {
	var parts []string
	for _, p := range compareProcesses {
		parts = append(parts, fmt.Sprintf("%s %.2f", p, s.Cost.CPUSecPer1000[p]))
	}
	return fmt.Sprintf("CPU s/1000 orders: %s; e2e p99 %.1f ms", strings.Join(parts, ", "), s.E2E.P99)
}

// buildBaseline checks rev out into a temporary worktree and builds its
// bin/function and bin/stack there; the caller names its database.
func (b *bench) buildBaseline(ctx context.Context, rev string) (stackRun, func(), error) {
	dir, err := os.MkdirTemp("", "bench-baseline-")
	if err != nil {
		return stackRun{}, func() {}, err
	}
	cleanup := func() {
		exec.Command("git", "-C", b.cfg.Root, "worktree", "remove", "--force", dir).Run()
		os.RemoveAll(dir)
	}
	fmt.Fprintf(b.out, "  building %s in %s\n", rev, dir)
	for _, c := range [][]string{
		{"git", "-C", b.cfg.Root, "worktree", "add", "--detach", dir, rev},
		{"go", "-C", dir, "build", "-o", "bin/function", "./cmd/function"},
		{"go", "-C", filepath.Join(dir, "tools"), "build", "-o", "../bin/stack", "./stack"},
	} {
		cmd := exec.CommandContext(ctx, c[0], c[1:]...)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			return stackRun{}, cleanup, fmt.Errorf("%s: %w: %s", strings.Join(c, " "), err, lastLines(string(out), 5))
		}
	}
	return stackRun{log: "stack-baseline.log", root: dir, env: []string{"WARM=1"}}, cleanup, nil
}

// freshBench is this bench reading a fresh database of the given name on
// the same server, made for one side of the comparison: its own admin pool
// and its own count of the bench's transactions there.
func (b *bench) freshBench(ctx context.Context, database string) (*bench, error) {
	name := pgx.Identifier{database}.Sanitize()
	b.admin.Exec(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`)
	if _, err := b.admin.Exec(ctx, `CREATE DATABASE `+name); err != nil {
		return nil, fmt.Errorf("database %s: %w", database, err)
	}
	u, _ := url.Parse(b.cfg.AdminURL) // it parsed when the pool was made
	u.Path = "/" + database
	url := u.String()
	if err := db.Provision(ctx, url, db.Roles()...); err != nil {
		return nil, fmt.Errorf("prepare database %s: %w", database, err)
	}
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", db.Redact(url), err)
	}
	other := *b
	other.admin, other.own = pool, 0
	other.cfg.AdminURL = url
	if err := other.statementsReady(ctx); err != nil {
		fmt.Fprintf(b.out, "  statements not counted in %s: %v\n", database, err)
	}
	return &other, nil
}
