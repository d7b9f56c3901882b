// Command stack runs the whole system on one machine (`make run`): a private
// Postgres, an embedded Kafka (unless KAFKA_BROKERS names one), the three
// functions as separate processes of bin/function, the local KafkaSource
// dispatchers and the gateway with the menu. Ctrl-C stops all it started.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/kelseyhightower/envconfig"

	"github.com/mskafka/knative-functions/broker/dispatch"
	"github.com/mskafka/knative-functions/broker/embedded"
	"github.com/mskafka/knative-functions/broker/manifest"
	"github.com/mskafka/knative-functions/shared/db"
	"github.com/mskafka/knative-functions/shared/telemetry"
)

// config is the stack's own configuration; the functions read theirs.
type config struct {
	DatabaseURL  string   `envconfig:"DATABASE_URL" desc:"admin URL of an existing Postgres; empty: start a private one"`
	KafkaBrokers []string `envconfig:"KAFKA_BROKERS" desc:"bootstrap servers of an existing Kafka; empty: run the embedded one"`
	Gateway      string   `envconfig:"GATEWAY_ADDR" default:"127.0.0.1:8080" desc:"where the menu and the /order/, /shipping/, /invoicing/ routes listen"`
	EmbeddedAddr string   `envconfig:"EMBEDDED_KAFKA_ADDR" default:"127.0.0.1:9092" desc:"where the embedded Kafka listens"`
	FirstPort    int      `envconfig:"FUNCTION_PORT" default:"8081" desc:"order listens here, shipping and invoicing on the next two ports"`
	DataDir      string   `envconfig:"DATA_DIR" default:".data" desc:"where Postgres and the embedded Kafka keep their data"`
	Bin          string   `envconfig:"FUNCTION_BIN" default:"bin/function" desc:"the function binary, relative to REPO_ROOT"`
	Root         string   `envconfig:"REPO_ROOT" default:"." desc:"the repository: infra/, functions/*/func.yaml and bin/ are found from here"`
	Observe      bool     `envconfig:"OBSERVE" desc:"1: also run a local Jaeger (infra/local/jaeger.sh) and send every process's traces to it"`
	JaegerOTLP   int      `envconfig:"JAEGER_OTLP_PORT" default:"4318" desc:"with OBSERVE: Jaeger's OTLP/HTTP port on 127.0.0.1"`
	JaegerQuery  int      `envconfig:"JAEGER_QUERY_PORT" default:"16686" desc:"with OBSERVE: Jaeger's query API port on 127.0.0.1"`
	Only         string   `envconfig:"ONLY" desc:"order, shipping or invoicing: run that function alone on GATEWAY_ADDR, as func run would (no gateway, no dispatchers)"`
	MetricsAddr  string   `envconfig:"DISPATCH_METRICS_ADDR" default:"127.0.0.1:9464" desc:"where the dispatcher serves GET /metrics; each function serves its own at /metrics"`
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
	if err := run(ctx, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "stack:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer) error {
	var cfg config
	if err := envconfig.Process("", &cfg); err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	names := functionNames[:]
	if cfg.Only != "" {
		if indexOf(cfg.Only) < 0 {
			return fmt.Errorf("ONLY=%q: want order, shipping or invoicing", cfg.Only)
		}
		names = []string{cfg.Only}
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	con := &console{out: out}
	step := func(format string, args ...any) { con.printf("▸ "+format+"\n", args...) }

	// Cleanups run in reverse order on the way out, whatever happened.
	var cleanups []func()
	defer func() {
		step("stopping")
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}()

	adminURL := cfg.DatabaseURL
	if adminURL == "" {
		step("postgres: starting the private cluster in %s", filepath.Join(cfg.DataDir, "postgres"))
		url, err := startPostgres(ctx, cfg.Root, cfg.DataDir)
		if err != nil {
			return err
		}
		cleanups = append(cleanups, func() { stopPostgres(cfg.Root, cfg.DataDir) })
		adminURL = url
	}
	if err := db.Provision(ctx, adminURL, "orders", "shipping", "invoicing"); err != nil {
		return fmt.Errorf("prepare database: %w", err)
	}
	step("postgres: ready (%s)", db.Redact(adminURL))

	brokers := cfg.KafkaBrokers
	if len(brokers) == 0 && (cfg.Only == "" || cfg.Only == "order") {
		step("kafka: starting the embedded broker on %s", cfg.EmbeddedAddr)
		b, err := embedded.Start(ctx, embedded.Config{Addr: cfg.EmbeddedAddr, DataDir: filepath.Join(cfg.Root, cfg.DataDir, "kafka"), Logger: log})
		if err != nil {
			return fmt.Errorf("embedded kafka: %w", err)
		}
		cleanups = append(cleanups, b.Close)
		brokers = []string{cfg.EmbeddedAddr}
	}
	if len(brokers) > 0 {
		step("kafka: ready (%s)", strings.Join(brokers, ","))
	}

	// Telemetry: the standard OTEL_* variables reach every function through
	// the environment; OBSERVE adds a local Jaeger and points them at it.
	var tcfg telemetry.Config
	if err := envconfig.Process("", &tcfg); err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	var otelEnv []string
	if cfg.Observe {
		step("jaeger: starting (query API on http://127.0.0.1:%d)", cfg.JaegerQuery)
		if err := jaeger(ctx, cfg, "start"); err != nil {
			return err
		}
		cleanups = append(cleanups, func() { jaeger(context.Background(), cfg, "stop") })
		if tcfg.Endpoint == "" && tcfg.TracesEndpoint == "" {
			tcfg.Endpoint = fmt.Sprintf("http://127.0.0.1:%d", cfg.JaegerOTLP)
			otelEnv = append(otelEnv, "OTEL_EXPORTER_OTLP_ENDPOINT="+tcfg.Endpoint)
		}
	}
	tel, err := telemetry.New(ctx, "dispatcher", tcfg)
	if err != nil {
		return err
	}
	cleanups = append(cleanups, func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		tel.Shutdown(sctx)
	})
	step("telemetry: %s", summary(tcfg))

	urls := map[string]string{}
	roleURL := map[string]string{"order": "orders", "shipping": "shipping", "invoicing": "invoicing"}
	for _, name := range names {
		addr := fmt.Sprintf("127.0.0.1:%d", cfg.FirstPort+indexOf(name))
		if cfg.Only != "" {
			addr = cfg.Gateway
		}
		dbURL, err := db.WithUser(adminURL, roleURL[name], "")
		if err != nil {
			return err
		}
		step("%s: starting on %s", name, addr)
		bin := cfg.Bin
		if !filepath.IsAbs(bin) {
			bin = filepath.Join(cfg.Root, bin)
		}
		p, err := startFunction(bin, filepath.Join(cfg.Root, "functions", name, "func.yaml"),
			name, addr, con.prefixed(name), append([]string{
				"DATABASE_URL=" + dbURL,
				"KAFKA_BROKERS=" + strings.Join(brokers, ","),
			}, otelEnv...))
		if err != nil {
			return err
		}
		cleanups = append(cleanups, p.stop)
		urls[name] = "http://" + addr + "/"
	}
	for _, name := range names {
		if err := waitReady(ctx, urls[name]); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		step("%s: ready", name)
	}
	if cfg.Only != "" {
		con.printf("\nReady: %s alone on %s (POST CloudEvents to it, or open it in the browser). Ctrl-C stops it.\n\n", cfg.Only, urls[cfg.Only])
		<-ctx.Done()
		return nil
	}

	eventing := filepath.Join(cfg.Root, "infra", "eventing")
	sources, err := manifest.Load(eventing)
	if err != nil {
		return err
	}
	dctx, stopDispatch := context.WithCancel(ctx)
	dispatched := make(chan error, 1)
	go func() {
		dispatched <- dispatch.Run(dctx, dispatch.Config{
			Brokers: brokers, Sources: sources.Sources, KafkaSinks: sources.KafkaSinks, Services: urls,
			Logger:    slog.New(telemetry.LogHandler(slog.NewJSONHandler(con.prefixed("dispatch"), nil))),
			Telemetry: tel,
		})
	}()
	cleanups = append(cleanups, func() { stopDispatch(); <-dispatched })
	step("dispatchers: %d KafkaSources from %s", len(sources.Sources), eventing)
	if h := tel.MetricsHandler(); h != nil && cfg.MetricsAddr != "" {
		if srv, err := serveMetrics(cfg.MetricsAddr, h); err != nil {
			// Metrics are a convenience here: a busy port must not stop the stack.
			log.Warn("dispatcher metrics not served", "error", err)
		} else {
			cleanups = append(cleanups, func() { srv.Close() })
			step("dispatchers: metrics on http://%s/metrics", cfg.MetricsAddr)
		}
	}

	gw, err := newGateway(cfg.Gateway, urls)
	if err != nil {
		return err
	}
	served := make(chan error, 1)
	go func() { served <- gw.ListenAndServe() }()
	cleanups = append(cleanups, func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		gw.Shutdown(sctx)
	})
	con.printf("\nReady: open http://%s/ (order, shipping, invoicing under /order/, /shipping/, /invoicing/). Ctrl-C stops everything.\n", cfg.Gateway)
	if cfg.Observe {
		con.printf("Traces: Jaeger's query API on http://127.0.0.1:%d/api/traces?service=order (the module build has no web UI).\n", cfg.JaegerQuery)
	}
	con.printf("\n")

	select {
	case <-ctx.Done():
		return nil
	case err := <-dispatched:
		return fmt.Errorf("dispatcher stopped: %w", err)
	case err := <-served:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("gateway: %w", err)
	}
}

// summary describes the telemetry configuration in one line.
func summary(c telemetry.Config) string {
	kv := c.Summary()
	parts := make([]string, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		parts = append(parts, fmt.Sprintf("%v %v", kv[i], kv[i+1]))
	}
	return strings.Join(parts, ", ")
}

// jaeger runs infra/local/jaeger.sh start or stop, with its state beside
// the other servers' in DATA_DIR.
func jaeger(ctx context.Context, cfg config, verb string) error {
	dir := filepath.Join(cfg.DataDir, "jaeger")
	if !filepath.IsAbs(dir) {
		dir, _ = filepath.Abs(filepath.Join(cfg.Root, dir))
	}
	cmd := exec.CommandContext(ctx, filepath.Join(cfg.Root, "infra", "local", "jaeger.sh"), verb)
	cmd.Env = append(os.Environ(), "JAEGER_DIR="+dir,
		fmt.Sprintf("JAEGER_OTLP_PORT=%d", cfg.JaegerOTLP), fmt.Sprintf("JAEGER_QUERY_PORT=%d", cfg.JaegerQuery))
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("jaeger %s: %w", verb, err)
	}
	return nil
}

// serveMetrics serves h at /metrics on addr until Close.
func serveMetrics(addr string, h http.Handler) (*http.Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", h)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	return srv, nil
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

func startPostgres(ctx context.Context, root, dataDir string) (string, error) {
	script := filepath.Join(root, "infra", "local", "postgres.sh")
	env := append(os.Environ(), "PG_DIR="+pgDir(root, dataDir))
	start := exec.CommandContext(ctx, script, "start")
	start.Env, start.Stdout, start.Stderr = env, os.Stderr, os.Stderr
	if err := start.Run(); err != nil {
		return "", fmt.Errorf("start postgres: %w", err)
	}
	url := exec.CommandContext(ctx, script, "url")
	url.Env = env
	b, err := url.Output()
	if err != nil {
		return "", fmt.Errorf("postgres url: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

func stopPostgres(root, dataDir string) {
	stop := exec.Command(filepath.Join(root, "infra", "local", "postgres.sh"), "stop")
	stop.Env = append(os.Environ(), "PG_DIR="+pgDir(root, dataDir))
	stop.Stdout, stop.Stderr = os.Stderr, os.Stderr
	_ = stop.Run()
}

func pgDir(root, dataDir string) string {
	if filepath.IsAbs(dataDir) {
		return filepath.Join(dataDir, "postgres")
	}
	abs, _ := filepath.Abs(filepath.Join(root, dataDir, "postgres"))
	return abs
}
