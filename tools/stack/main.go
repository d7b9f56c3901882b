// Command stack runs the whole system on one machine (`make run`) and plays
// the parts Knative plays on a cluster, from the same manifests in infra/:
// a private Postgres, an embedded Kafka (unless KAFKA_BROKERS names one),
// the three functions as supervised processes of bin/function, each behind
// an activator that starts it on demand and stops it when idle, the
// KafkaSource dispatchers and the gateway with the menu. Ctrl-C stops all it
// started; a kill -9 of the stack takes the functions with it. It tells its
// PIDs and ports in the file STACK_STATE names (tools/internal/localstack).
package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/kelseyhightower/envconfig"
	"github.com/rcrowley/go-metrics"

	"github.com/mskafka/knative-functions/shared/profile"
	"github.com/mskafka/knative-functions/tools/internal/localstack"
	"github.com/mskafka/knative-functions/tools/stack/internal/watch"
)

// config is the stack's own configuration; the functions read theirs.
type config struct {
	DatabaseURL  string        `envconfig:"DATABASE_URL" desc:"admin URL of an existing Postgres; empty: start a private one"`
	KafkaBrokers []string      `envconfig:"KAFKA_BROKERS" desc:"bootstrap servers of an existing Kafka; empty: run the embedded one"`
	Gateway      string        `envconfig:"GATEWAY_ADDR" default:"127.0.0.1:8080" desc:"where the menu and the /order/, /shipping/, /invoicing/ routes listen"`
	EmbeddedAddr string        `envconfig:"EMBEDDED_KAFKA_ADDR" default:"127.0.0.1:9092" desc:"where the embedded Kafka listens"`
	FirstPort    int           `envconfig:"FUNCTION_PORT" default:"8081" desc:"order's activator listens here, shipping's and invoicing's on the next two ports"`
	Warm         bool          `envconfig:"WARM" desc:"1: keep the functions running instead of scaling them to zero when idle"`
	Idle         time.Duration `envconfig:"SCALE_TO_ZERO_IDLE" desc:"idle period before a function is stopped; empty: the retention period in infra/functions/revision-template.yaml"`
	PingInterval time.Duration `envconfig:"PING_INTERVAL" desc:"tests: deliver every PingSource at this interval instead of on its schedule"`
	DataDir      string        `envconfig:"DATA_DIR" default:".data" desc:"where Postgres and the embedded Kafka keep their data"`
	Bin          string        `envconfig:"FUNCTION_BIN" default:"bin/function" desc:"the function binary, relative to REPO_ROOT"`
	Root         string        `envconfig:"REPO_ROOT" default:"." desc:"the repository: infra/, functions/*/func.yaml and bin/ are found from here"`
	Observe      bool          `envconfig:"OBSERVE" desc:"1: also run a local Jaeger (infra/local/jaeger.sh) and send every process's traces to it"`
	JaegerOTLP   int           `envconfig:"JAEGER_OTLP_PORT" default:"4318" desc:"with OBSERVE: Jaeger's OTLP/HTTP port on 127.0.0.1"`
	JaegerQuery  int           `envconfig:"JAEGER_QUERY_PORT" default:"16686" desc:"with OBSERVE: Jaeger's query API port on 127.0.0.1"`
	Only         string        `envconfig:"ONLY" desc:"order, shipping or invoicing: run that function alone on GATEWAY_ADDR, as func run would (no gateway, no dispatchers)"`
	MetricsAddr  string        `envconfig:"DISPATCH_METRICS_ADDR" default:"127.0.0.1:9464" desc:"where the dispatcher serves GET /metrics; each function serves its own at /metrics"`
	LogLevel     slog.Level    `envconfig:"LOG_LEVEL" default:"info" desc:"debug, info, warn or error: the dispatchers' and pings' logs (info: a line per delivery); the functions read it too"`
	StateFile    string        `envconfig:"STACK_STATE" desc:"where the stack keeps its PIDs and ports as JSON while it runs; empty: stack.json in DATA_DIR"`
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(os.Args) > 1 { // --help, or anything else: the stack takes no arguments
		envconfig.Usagef("", &config{}, os.Stdout, envconfig.DefaultTableFormat)
		return
	}
	// sarama keeps go-metrics meters and histograms of every request that
	// nobody here reads (about 2% of the CPU under load, in the profiles);
	// this is sarama's documented switch to turn them off.
	metrics.UseNilMetrics = true
	stopProfile := profile.Start("stack")
	err := run(ctx, os.Stdout)
	stopProfile()
	if err != nil {
		fmt.Fprintln(os.Stderr, "stack:", err)
		os.Exit(1)
	}
}

// run starts the platform, waits for Ctrl-C or a failure, and undoes what
// was started in reverse order. ONLY is decided here, once: one function
// alone, or the whole platform.
func run(ctx context.Context, out io.Writer) error {
	var cfg config
	if err := envconfig.Process("", &cfg); err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	if cfg.Only != "" && !localstack.Known(cfg.Only) {
		return fmt.Errorf("ONLY=%q: want order, shipping or invoicing", cfg.Only)
	}
	cfg.StateFile = cmp.Or(cfg.StateFile, dataPath(cfg.Root, cfg.DataDir, "stack.json"))
	p := &platform{con: &console{out: out}, failed: make(chan error, 4),
		log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	defer p.stop()
	start := runAll
	if cfg.Only != "" {
		start = runAlone
	}
	fns, err := start(ctx, p, cfg)
	if err != nil {
		return err
	}
	if err := fns.write(true); err != nil {
		return fmt.Errorf("state: %w", err)
	}
	select {
	case <-ctx.Done():
		return nil
	case err := <-p.failed:
		return err
	}
}

// runAll starts the whole platform: the servers, the functions behind
// their activators, the dispatchers, the pings and the gateway.
func runAll(ctx context.Context, p *platform, cfg config) (*functions, error) {
	layout := localstack.Layout{Gateway: cfg.Gateway, FunctionPort: cfg.FirstPort, Metrics: cfg.MetricsAddr}
	free := []string{cfg.Gateway}
	for _, name := range localstack.Roster() {
		free = append(free, layout.Activator(name))
	}
	srv, err := p.startServers(ctx, cfg, len(cfg.KafkaBrokers) == 0, free)
	if err != nil {
		return nil, err
	}
	fns, err := p.startFunctions(ctx, cfg, srv, layout)
	if err != nil {
		return nil, fmt.Errorf("functions: %w", err)
	}
	ev, err := p.startEventing(ctx, cfg, srv, fns)
	if err != nil {
		return nil, err
	}
	w, err := newWatcher(fns, ev, srv)
	if err != nil {
		return nil, fmt.Errorf("platform page: %w", err)
	}
	p.cleanup(w.close)
	if err := p.startGateway(cfg, fns, watch.Handler(w.read, p.log)); err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	p.con.printf("\nReady: open http://%s/ (order, shipping, invoicing under /order/, /shipping/, /invoicing/). Ctrl-C stops everything.\n", cfg.Gateway)
	p.con.printf("Platform: http://%s/platform/ shows the functions, KafkaSources, pings and the outbox live.\n", cfg.Gateway)
	if cfg.Observe {
		p.con.printf("Traces: Jaeger's query API on http://127.0.0.1:%d/api/traces?service=order (the module build has no web UI).\n", cfg.JaegerQuery)
	}
	p.con.printf("\n")
	return fns, nil
}

// runAlone runs one function on the gateway's address, as func run would:
// no activator, no dispatchers, no gateway; Kafka only for order.
func runAlone(ctx context.Context, p *platform, cfg config) (*functions, error) {
	srv, err := p.startServers(ctx, cfg, len(cfg.KafkaBrokers) == 0 && cfg.Only == "order", []string{cfg.Gateway})
	if err != nil {
		return nil, err
	}
	fns := newFunctions(cfg, localstack.Layout{Gateway: cfg.Gateway})
	p.cleanup(fns.remove) // after the function has stopped: cleanups run in reverse
	proc, err := p.supervised(cfg, srv, cfg.Only, cfg.Gateway, fns.changed)
	if err != nil {
		return nil, err
	}
	p.cleanup(proc.Down)
	p.con.step("%s: starting on %s", cfg.Only, cfg.Gateway)
	if _, err := proc.Up(ctx); err != nil {
		return nil, fmt.Errorf("functions: %w", err)
	}
	fns.add(cfg.Only, cfg.Gateway, proc, nil)
	p.con.printf("\nReady: %s alone on %s (POST CloudEvents to it, or open it in the browser). Ctrl-C stops it.\n\n", cfg.Only, fns.urls[cfg.Only])
	return fns, nil
}

// platform is what every step uses: the console, the cleanups to run at
// the end, and the channel on which a part that stopped on its own reports.
type platform struct {
	con      *console
	log      *slog.Logger
	cleanups []func()
	failed   chan error
}

// cleanup registers f to run when the stack stops.
func (p *platform) cleanup(f func()) { p.cleanups = append(p.cleanups, f) }

// stop runs the cleanups in reverse order, whatever happened.
func (p *platform) stop() {
	p.con.step("stopping")
	for i := len(p.cleanups) - 1; i >= 0; i-- {
		p.cleanups[i]()
	}
}

// fail reports that a part stopped on its own; run returns the first such error.
func (p *platform) fail(err error) {
	if err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, context.Canceled) {
		select {
		case p.failed <- err:
		default:
		}
	}
}

// dataPath is where one server keeps its data: name under DATA_DIR, which
// is taken as it is when absolute and from the repository when relative.
func dataPath(root, dataDir, name string) string {
	if filepath.IsAbs(dataDir) {
		return filepath.Join(dataDir, name)
	}
	abs, _ := filepath.Abs(filepath.Join(root, dataDir, name))
	return abs
}
