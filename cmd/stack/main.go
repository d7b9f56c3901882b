// Command stack runs the whole system on one machine (`make run`) and plays
// the parts Knative plays on a cluster, from the same manifests in infra/:
// a private Postgres, an embedded Kafka (unless KAFKA_BROKERS names one),
// the three functions as supervised processes of bin/function, each behind
// an activator that starts it on demand and stops it when idle, the
// KafkaSource dispatchers and the gateway with the menu. Ctrl-C stops all it
// started; a kill -9 of the stack takes the functions with it.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/kelseyhightower/envconfig"
	"github.com/rcrowley/go-metrics"

	"github.com/mskafka/knative-functions/broker/manifest"
	"github.com/mskafka/knative-functions/shared/profile"
	"github.com/mskafka/knative-functions/shared/telemetry"
)

// config is the stack's own configuration; the functions read theirs.
type config struct {
	DatabaseURL  string        `envconfig:"DATABASE_URL" desc:"admin URL of an existing Postgres; empty: start a private one"`
	KafkaBrokers []string      `envconfig:"KAFKA_BROKERS" desc:"bootstrap servers of an existing Kafka; empty: run the embedded one"`
	Gateway      string        `envconfig:"GATEWAY_ADDR" default:"127.0.0.1:8080" desc:"where the menu and the /order/, /shipping/, /invoicing/ routes listen"`
	EmbeddedAddr string        `envconfig:"EMBEDDED_KAFKA_ADDR" default:"127.0.0.1:9092" desc:"where the embedded Kafka listens"`
	FirstPort    int           `envconfig:"FUNCTION_PORT" default:"8081" desc:"order's activator listens here, shipping's and invoicing's on the next two ports"`
	Warm         bool          `envconfig:"WARM" desc:"1: keep the functions running instead of scaling them to zero when idle"`
	Idle         time.Duration `envconfig:"SCALE_TO_ZERO_IDLE" desc:"idle period before a function is stopped; empty: the retention period in infra/functions/scale-to-zero.yaml"`
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
}

// functionNames in start order: the sinks first, so the dispatchers find
// them ready; the order function last.
var functionNames = [...]string{"shipping", "invoicing", "order"}

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

// stack is the state the steps of run share.
type stack struct {
	cfg      config
	con      *console
	log      *slog.Logger
	cleanups []func()
	failed   chan error // a part that stopped on its own (dispatcher, gateway)

	adminURL string
	brokers  []string
	otelEnv  []string
	tel      *telemetry.Telemetry
	urls     map[string]string // each function's address for the gateway and the dispatchers
	local    inProcess         // how the gateway, dispatchers and pings reach those addresses
	// eventingSet is infra/eventing as read once (see eventing).
	eventingSet *manifest.Set
}

// run starts the steps in order, waits for Ctrl-C or a failure, and undoes
// what was started in reverse order.
func run(ctx context.Context, out io.Writer) error {
	var cfg config
	if err := envconfig.Process("", &cfg); err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	if cfg.Only != "" && indexOf(cfg.Only) < 0 {
		return fmt.Errorf("ONLY=%q: want order, shipping or invoicing", cfg.Only)
	}
	s := &stack{cfg: cfg, con: &console{out: out}, failed: make(chan error, 4),
		log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	defer s.stop()
	steps := []struct {
		name string
		run  func(context.Context) error
	}{
		{"ports", s.checkPorts},
		{"postgres", s.startPostgres},
		{"kafka", s.startKafka},
		{"telemetry", s.startTelemetry},
		{"functions", s.startFunctions},
		{"dispatchers", s.startDispatchers},
		{"pings", s.startPings},
		{"gateway", s.startGateway},
	}
	for _, step := range steps {
		if err := step.run(ctx); err != nil {
			return fmt.Errorf("%s: %w", step.name, err)
		}
	}
	s.banner()
	select {
	case <-ctx.Done():
		return nil
	case err := <-s.failed:
		return err
	}
}

// cleanup registers f to run when the stack stops.
func (s *stack) cleanup(f func()) { s.cleanups = append(s.cleanups, f) }

// stop runs the cleanups in reverse order, whatever happened.
func (s *stack) stop() {
	s.con.step("stopping")
	for i := len(s.cleanups) - 1; i >= 0; i-- {
		s.cleanups[i]()
	}
}

// names are the functions this run starts.
func (s *stack) names() []string {
	if s.cfg.Only != "" {
		return []string{s.cfg.Only}
	}
	return functionNames[:]
}

func (s *stack) banner() {
	if s.cfg.Only != "" {
		s.con.printf("\nReady: %s alone on %s (POST CloudEvents to it, or open it in the browser). Ctrl-C stops it.\n\n", s.cfg.Only, s.urls[s.cfg.Only])
		return
	}
	s.con.printf("\nReady: open http://%s/ (order, shipping, invoicing under /order/, /shipping/, /invoicing/). Ctrl-C stops everything.\n", s.cfg.Gateway)
	if s.cfg.Observe {
		s.con.printf("Traces: Jaeger's query API on http://127.0.0.1:%d/api/traces?service=order (the module build has no web UI).\n", s.cfg.JaegerQuery)
	}
	s.con.printf("\n")
}

// fail reports that a part stopped on its own; run returns the first such error.
func (s *stack) fail(err error) {
	if err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, context.Canceled) {
		select {
		case s.failed <- err:
		default:
		}
	}
}

func indexOf(name string) int {
	switch name {
	case "order":
		return 0
	case "shipping":
		return 1
	case "invoicing":
		return 2
	default:
		return -1
	}
}
