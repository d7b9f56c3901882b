package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/kelseyhightower/envconfig"

	"github.com/mskafka/knative-functions/broker/embedded"
	"github.com/mskafka/knative-functions/shared/db"
	"github.com/mskafka/knative-functions/shared/telemetry"
)

// startPostgres starts the private cluster unless DATABASE_URL names one,
// and provisions the functions' roles and schemas.
func (s *stack) startPostgres(ctx context.Context) error {
	s.adminURL = s.cfg.DatabaseURL
	if s.adminURL == "" {
		s.con.step("postgres: starting the private cluster in %s", filepath.Join(s.cfg.DataDir, "postgres"))
		url, err := startPostgres(ctx, s.cfg.Root, s.cfg.DataDir)
		if err != nil {
			return err
		}
		s.cleanup(func() { stopPostgres(s.cfg.Root, s.cfg.DataDir) })
		s.adminURL = url
	}
	if err := db.Provision(ctx, s.adminURL, db.Roles()...); err != nil {
		return fmt.Errorf("prepare database: %w", err)
	}
	s.con.step("postgres: ready (%s)", db.Redact(s.adminURL))
	return nil
}

// startKafka runs the embedded broker unless KAFKA_BROKERS names one or
// no function of this run publishes.
func (s *stack) startKafka(ctx context.Context) error {
	s.brokers = s.cfg.KafkaBrokers
	if len(s.brokers) == 0 && s.needsEmbeddedKafka() {
		s.con.step("kafka: starting the embedded broker on %s", s.cfg.EmbeddedAddr)
		b, err := embedded.Start(ctx, embedded.Config{Addr: s.cfg.EmbeddedAddr, DataDir: dataPath(s.cfg.Root, s.cfg.DataDir, "kafka"), Logger: s.log})
		if err != nil {
			return fmt.Errorf("embedded kafka: %w", err)
		}
		s.cleanup(b.Close)
		s.brokers = []string{s.cfg.EmbeddedAddr}
	}
	if len(s.brokers) > 0 {
		s.con.step("kafka: ready (%s)", strings.Join(s.brokers, ","))
	}
	return nil
}

func (s *stack) needsEmbeddedKafka() bool {
	return len(s.cfg.KafkaBrokers) == 0 && (s.cfg.Only == "" || s.cfg.Only == "order")
}

// startTelemetry sets up the stack's own traces and metrics. The standard
// OTEL_* variables reach every function through the environment; OBSERVE
// adds a local Jaeger and points them at it.
func (s *stack) startTelemetry(ctx context.Context) error {
	var tcfg telemetry.Config
	if err := envconfig.Process("", &tcfg); err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	if s.cfg.Observe {
		s.con.step("jaeger: starting (query API on http://127.0.0.1:%d)", s.cfg.JaegerQuery)
		if err := jaeger(ctx, s.cfg, "start"); err != nil {
			return err
		}
		s.cleanup(func() { jaeger(context.Background(), s.cfg, "stop") })
		if tcfg.Endpoint == "" && tcfg.TracesEndpoint == "" {
			tcfg.Endpoint = fmt.Sprintf("http://127.0.0.1:%d", s.cfg.JaegerOTLP)
			s.otelEnv = append(s.otelEnv, "OTEL_EXPORTER_OTLP_ENDPOINT="+tcfg.Endpoint)
		}
	}
	tel, err := telemetry.New(ctx, "dispatcher", tcfg)
	if err != nil {
		return err
	}
	s.tel = tel
	s.cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		tel.Shutdown(sctx)
	})
	s.con.step("telemetry: %s", summary(tcfg))
	return nil
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
	dir := dataPath(cfg.Root, cfg.DataDir, "jaeger")
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

func pgDir(root, dataDir string) string { return dataPath(root, dataDir, "postgres") }

// dataPath is where one server keeps its data: name under DATA_DIR, which
// is taken as it is when absolute and from the repository when relative.
func dataPath(root, dataDir, name string) string {
	if filepath.IsAbs(dataDir) {
		return filepath.Join(dataDir, name)
	}
	abs, _ := filepath.Abs(filepath.Join(root, dataDir, name))
	return abs
}
