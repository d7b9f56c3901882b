// Command chaos runs the fault drills of `make test-chaos`: it starts the
// local stack (bin/stack) against the Postgres and Apache Kafka that
// infra/local/chaos.sh started, and for each drill places orders at a steady
// rate through the gateway, injects one fault, heals it, waits for the
// system to converge and checks the exact set of orders, shipments and
// invoices through the public APIs (and Postgres for what no API shows:
// phantom orders and the outbox).
//
// It prints one table row per drill, writes the table to CHAOS_REPORT, and
// exits non-zero when any drill lost, doubled or made up an order.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/kelseyhightower/envconfig"
)

// config is what one run does and where the servers are. The server
// variables are the ones infra/local/chaos.sh sets for its private servers;
// the stack reads its own (GATEWAY_ADDR, FUNCTION_PORT, …) from the same
// environment.
type config struct {
	Root        string        `envconfig:"REPO_ROOT" default:"." desc:"the repository: infra/local/*.sh and bin/ are found from here"`
	StackBin    string        `envconfig:"STACK_BIN" default:"bin/stack" desc:"the local stack runner, relative to REPO_ROOT"`
	DatabaseURL string        `envconfig:"DATABASE_URL" required:"true" desc:"admin URL of the Postgres the stack uses"`
	Brokers     []string      `envconfig:"KAFKA_BROKERS" required:"true" desc:"bootstrap servers of the Apache Kafka the stack uses"`
	KafkaDir    string        `envconfig:"KAFKA_DIR" required:"true" desc:"the broker's directory (infra/local/kafka.sh), for its pid file"`
	Gateway     string        `envconfig:"GATEWAY_ADDR" default:"127.0.0.1:22080" desc:"the stack's gateway"`
	FirstPort   int           `envconfig:"FUNCTION_PORT" default:"22081" desc:"the stack's activator of order; shipping's and invoicing's on the next two ports"`
	MetricsAddr string        `envconfig:"DISPATCH_METRICS_ADDR" default:"127.0.0.1:22464" desc:"the stack's dispatcher metrics"`
	Rate        float64       `envconfig:"CHAOS_RATE" default:"60" desc:"orders placed per second during each drill"`
	Warmup      time.Duration `envconfig:"CHAOS_WARMUP" default:"5s" desc:"load before the fault"`
	Tail        time.Duration `envconfig:"CHAOS_TAIL" default:"5s" desc:"load after the heal"`
	Drills      []string      `envconfig:"CHAOS_DRILLS" desc:"run only these drills (names, comma separated); empty: all"`
	Report      string        `envconfig:"CHAOS_REPORT" default:"artifacts/chaos.md" desc:"where the table is written, relative to REPO_ROOT"`
	StackLog    string        `envconfig:"CHAOS_STACK_LOG" default:"artifacts/chaos-stack.log" desc:"the stack's output, relative to REPO_ROOT"`
	StackPID    string        `envconfig:"CHAOS_STACK_PID" desc:"where to write the stack's process id (the script's trap stops it)"`
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(os.Args) > 1 {
		envconfig.Usagef("", &config{}, os.Stdout, envconfig.DefaultTableFormat)
		return
	}
	if err := run(ctx, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer) error {
	cfg, err := configure()
	if err != nil {
		return err
	}
	drills, err := selectDrills(allDrills(), cfg.Drills)
	if err != nil {
		return err
	}
	step := func(format string, args ...any) {
		fmt.Fprintf(out, "%s ▸ "+format+"\n", append([]any{time.Now().UTC().Format("15:04:05")}, args...)...)
	}

	e, err := newEnv(ctx, cfg)
	if err != nil {
		return err
	}
	defer e.close()

	step("stack: starting %s (output in %s)", cfg.StackBin, cfg.StackLog)
	if err := e.startStack(ctx); err != nil {
		return err
	}
	defer func() {
		step("stack: stopping")
		e.stack.Stop(30 * time.Second)
	}()

	runID := time.Now().UTC().Format("150405")
	var rows []row
	for i, d := range drills {
		step("drill %d/%d: %s", i+1, len(drills), d.name)
		r, err := runDrill(ctx, e, d, fmt.Sprintf("chaos-%s-%d", runID, i+1), step)
		if err != nil {
			return fmt.Errorf("drill %s: %w", d.name, err)
		}
		rows = append(rows, r)
		step("  %s", r.line())
	}

	if err := writeTable(out, cfg, rows); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	if failed := failures(rows); len(failed) > 0 {
		return fmt.Errorf("%d of %d drills failed: %s", len(failed), len(rows), strings.Join(failed, ", "))
	}
	return nil
}

// configure reads the configuration and makes its paths absolute.
func configure() (config, error) {
	var cfg config
	if err := envconfig.Process("", &cfg); err != nil {
		return cfg, fmt.Errorf("configuration: %w", err)
	}
	root, err := filepath.Abs(cfg.Root)
	if err != nil {
		return cfg, err
	}
	cfg.Root = root
	for _, p := range []*string{&cfg.StackBin, &cfg.Report, &cfg.StackLog} {
		if !filepath.IsAbs(*p) {
			*p = filepath.Join(root, *p)
		}
	}
	if cfg.Rate <= 0 {
		return cfg, fmt.Errorf("CHAOS_RATE %v: want more than 0", cfg.Rate)
	}
	return cfg, nil
}

// selectDrills keeps the named drills, in the order named.
func selectDrills(all []drill, names []string) ([]drill, error) {
	if len(names) == 0 {
		return all, nil
	}
	var out []drill
	for _, n := range names {
		i := slices.IndexFunc(all, func(d drill) bool { return d.name == strings.TrimSpace(n) })
		if i < 0 {
			return nil, fmt.Errorf("CHAOS_DRILLS: no drill %q", n)
		}
		out = append(out, all[i])
	}
	return out, nil
}
