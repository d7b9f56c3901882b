// Command bench is `make bench`: it measures the whole pipeline (order →
// Kafka → shipping and invoicing) against the bound set by its own SQL run
// alone on the same Postgres, and writes JSON, Markdown and an SVG plot to
// bench/results/. In order: cold starts and idle memory of each function,
// started directly and held by the stack's activator; the bound (pgbench);
// the pipeline under stepped open-model load through the local stack; with
// -baseline, the same rate side by side with another revision; the sizes.
// -only growth runs the growth test instead (make bench-growth). It reports
// and never fails on a figure, only when it cannot measure at all.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// config is what one run measures, and against which servers.
type config struct {
	AdminURL  string        // Postgres admin URL; the functions' roles are made from it
	Brokers   string        // Kafka bootstrap servers
	Root      string        // the repository: bin/, infra/ and functions/ are found from here
	Out       string        // where the results go
	PGBin     string        // PostgreSQL binaries (pgbench)
	Step      time.Duration // how long each load step offers its rate
	Clients   int           // pgbench clients
	ColdRuns  int           // cold starts per function
	FirstPort int           // the stack's gateway; functions and metrics above it
	Rates     []float64     // only these offered rates, without the half-sustained step
	Only      string        // run only these steps (comma-separated keys)

	Baseline    string  // a revision to compare this checkout with, side by side
	CompareRate float64 // the rate both are offered

	GrowthRate      float64       // the growth run's fixed rate
	GrowthOrders    int           // orders it places in all
	GrowthRetention time.Duration // the functions' retention during it
}

func parse(args []string, out io.Writer) (config, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(out)
	c := config{}
	fs.StringVar(&c.AdminURL, "database-url", os.Getenv("DATABASE_URL"), "Postgres admin URL (env DATABASE_URL)")
	fs.StringVar(&c.Brokers, "kafka-brokers", os.Getenv("KAFKA_BROKERS"), "Kafka bootstrap servers (env KAFKA_BROKERS)")
	fs.StringVar(&c.Root, "root", ".", "the repository")
	fs.StringVar(&c.Out, "out", "bench/results", "results directory")
	fs.StringVar(&c.PGBin, "pg-bin", "/usr/lib/postgresql/15/bin", "PostgreSQL binaries")
	fs.DurationVar(&c.Step, "step", 8*time.Second, "duration of each load step")
	fs.IntVar(&c.Clients, "clients", 16, "pgbench clients")
	fs.IntVar(&c.ColdRuns, "cold-runs", 20, "cold starts per function")
	fs.IntVar(&c.FirstPort, "port", 21080, "the stack's gateway port; the functions, metrics and cold starts use the next few")
	rates := fs.String("rates", "", "offer these rates (e.g. 150,300) instead of steps derived from the bound")
	fs.StringVar(&c.Only, "only", "", "run only these steps, comma-separated: cold, bound, pipeline, compare, sizes, growth (growth runs only when named)")
	fs.StringVar(&c.Baseline, "baseline", os.Getenv("BASELINE"), "a git revision to compare with at one rate, side by side (env BASELINE; empty: no comparison)")
	fs.Float64Var(&c.CompareRate, "compare-rate", 0, "orders/s offered to both sides of the comparison; 0: this run's sustained rate (300 without one)")
	fs.Float64Var(&c.GrowthRate, "growth-rate", 300, "orders/s of the growth run")
	fs.IntVar(&c.GrowthOrders, "growth-orders", 300_000, "orders the growth run places in all")
	fs.DurationVar(&c.GrowthRetention, "growth-retention", 5*time.Minute, "the functions' retention of keys, sent outbox rows and handled events during the growth run")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	for r := range strings.FieldsFuncSeq(*rates, func(c rune) bool { return c == ',' || c == ' ' }) {
		v, err := strconv.ParseFloat(r, 64)
		if err != nil || v <= 0 {
			return config{}, fmt.Errorf("-rates: %q is not a rate", r)
		}
		c.Rates = append(c.Rates, v)
	}
	if c.AdminURL == "" || c.Brokers == "" {
		return config{}, fmt.Errorf("DATABASE_URL and KAFKA_BROKERS must name the servers (infra/local/bench.sh starts them)")
	}
	return c, nil
}

func run(ctx context.Context, args []string, out io.Writer) error {
	cfg, err := parse(args, out)
	if err != nil {
		return err
	}
	if cfg.Only == "growth" { // its report apart from the pipeline's
		cfg.Out = filepath.Join(cfg.Out, "growth")
	}
	if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
		return fmt.Errorf("results directory: %w", err)
	}
	b, err := newBench(ctx, cfg, out)
	if err != nil {
		return err
	}
	defer b.admin.Close()

	steps := []struct {
		key, name string
		do        func(context.Context) error
		runs      bool // without -only
	}{
		{"cold", "cold starts and idle memory of each function", b.coldStarts, true},
		{"bound", "bound: pgbench running the minimal SQL of an order, and the code's own", b.bound, true},
		{"pipeline", "pipeline: stepped open-model load through the local stack", b.pipeline, true},
		{"compare", "side by side with " + cfg.Baseline + " at one rate", b.compare, cfg.Baseline != ""},
		{"sizes", "sizes: binary and compressed image layer", b.sizes, true},
		{"growth", "growth: one rate while the history grows", b.growth, false},
	}
	for _, s := range steps {
		if cfg.Only == "" && !s.runs || cfg.Only != "" && !slices.Contains(strings.Split(cfg.Only, ","), s.key) {
			continue
		}
		fmt.Fprintf(out, "▸ %s\n", s.name)
		if err := s.do(ctx); err != nil {
			// A step that cannot measure is reported, and the others still run.
			fmt.Fprintf(out, "  not measured: %v\n", err)
			b.report.Problems = append(b.report.Problems, fmt.Sprintf("%s: %v", s.name, err))
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	b.report.Finish()
	paths, err := b.report.Write(cfg.Out)
	if err != nil {
		return err
	}
	fmt.Fprintln(out)
	if err := b.report.Markdown(out); err != nil {
		return err
	}
	for _, p := range paths {
		rel, _ := filepath.Rel(cfg.Root, p)
		fmt.Fprintf(out, "wrote %s\n", rel)
	}
	return nil
}
