// Command bench is `make bench`: it measures the whole pipeline (order →
// Kafka → shipping and invoicing) against the bound set by its own SQL, run
// alone on the same Postgres in the same run, and writes what it saw to
// bench/results/ as JSON, Markdown and an SVG plot.
//
// The steps, in order: cold starts and idle memory of each function (which
// also migrates the schemas), the bound (pgbench running an order's
// statements), the pipeline under stepped open-model load through the local
// stack, and the sizes of the binary and of the image layer it would make.
// It never fails on a figure: it reports. It fails only when it cannot
// measure at all (no database, no binary).
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
	fs.StringVar(&c.Only, "only", "", "run only these steps, comma-separated: cold, bound, pipeline, sizes")
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
	if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
		return fmt.Errorf("results directory: %w", err)
	}
	b, err := newBench(ctx, cfg, out)
	if err != nil {
		return err
	}
	defer b.close()

	steps := []struct {
		key, name string
		do        func(context.Context) error
	}{
		{"cold", "cold starts and idle memory of each function", b.coldStarts},
		{"bound", "bound: pgbench running an order's own SQL", b.bound},
		{"pipeline", "pipeline: stepped open-model load through the local stack", b.pipeline},
		{"sizes", "sizes: binary and compressed image layer", b.sizes},
	}
	for _, s := range steps {
		if cfg.Only != "" && !slices.Contains(strings.Split(cfg.Only, ","), s.key) {
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
	b.report.Markdown(out)
	for _, p := range paths {
		rel, _ := filepath.Rel(cfg.Root, p)
		fmt.Fprintf(out, "wrote %s\n", rel)
	}
	return nil
}
