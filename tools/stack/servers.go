package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/kelseyhightower/envconfig"

	"github.com/mskafka/knative-functions/shared/db"
	"github.com/mskafka/knative-functions/shared/telemetry"
	"github.com/mskafka/knative-functions/tools/broker/embedded"
	"github.com/mskafka/knative-functions/tools/stack/internal/ports"
)

// servers are what the functions and the platform connect to.
type servers struct {
	adminURL string
	brokers  []string
	otelEnv  []string // what the functions get of the telemetry set-up
	tel      *telemetry.Telemetry
}

// startServers checks that the ports are free (free, and the embedded
// Kafka's), then starts Postgres, Kafka (the embedded one if embeddedKafka)
// and the stack's own telemetry.
func (p *platform) startServers(ctx context.Context, cfg config, embeddedKafka bool, free []string) (servers, error) {
	var srv servers
	if embeddedKafka {
		free = append(free, cfg.EmbeddedAddr)
	}
	if err := ports.Free(free...); err != nil {
		return srv, fmt.Errorf("ports: %w", err)
	}
	var err error
	if srv.adminURL, err = p.startPostgres(ctx, cfg); err != nil {
		return srv, fmt.Errorf("postgres: %w", err)
	}
	srv.brokers = cfg.KafkaBrokers
	if embeddedKafka {
		p.con.step("kafka: starting the embedded broker on %s", cfg.EmbeddedAddr)
		b, err := embedded.Start(ctx, embedded.Config{Addr: cfg.EmbeddedAddr, DataDir: dataPath(cfg.Root, cfg.DataDir, "kafka"), Logger: p.log})
		if err != nil {
			return srv, fmt.Errorf("kafka: embedded kafka: %w", err)
		}
		p.cleanup(b.Close)
		srv.brokers = []string{cfg.EmbeddedAddr}
	}
	if len(srv.brokers) > 0 {
		p.con.step("kafka: ready (%s)", strings.Join(srv.brokers, ","))
	}
	if srv.tel, srv.otelEnv, err = p.startTelemetry(ctx, cfg); err != nil {
		return srv, fmt.Errorf("telemetry: %w", err)
	}
	return srv, nil
}

// startPostgres starts the private cluster unless DATABASE_URL names one,
// and provisions the functions' roles and schemas.
func (p *platform) startPostgres(ctx context.Context, cfg config) (string, error) {
	adminURL := cfg.DatabaseURL
	if adminURL == "" {
		p.con.step("postgres: starting the private cluster in %s", filepath.Join(cfg.DataDir, "postgres"))
		pgDir := "PG_DIR=" + dataPath(cfg.Root, cfg.DataDir, "postgres")
		if _, err := script(ctx, cfg, "postgres", "start", pgDir); err != nil {
			return "", err
		}
		p.cleanup(func() { script(context.Background(), cfg, "postgres", "stop", pgDir) })
		url, err := script(ctx, cfg, "postgres", "url", pgDir)
		if err != nil {
			return "", err
		}
		adminURL = url
	}
	if err := db.Provision(ctx, adminURL, db.Roles()...); err != nil {
		return "", fmt.Errorf("prepare database: %w", err)
	}
	p.con.step("postgres: ready (%s)", db.Redact(adminURL))
	return adminURL, nil
}

// startTelemetry sets up the stack's own traces and metrics. The standard
// OTEL_* variables reach every function through the environment; OBSERVE
// adds a local Jaeger and points them at it.
func (p *platform) startTelemetry(ctx context.Context, cfg config) (*telemetry.Telemetry, []string, error) {
	var tcfg telemetry.Config
	if err := envconfig.Process("", &tcfg); err != nil {
		return nil, nil, fmt.Errorf("configuration: %w", err)
	}
	var otelEnv []string
	if cfg.Observe {
		p.con.step("jaeger: starting (query API on http://127.0.0.1:%d)", cfg.JaegerQuery)
		if err := jaeger(ctx, cfg, "start"); err != nil {
			return nil, nil, err
		}
		p.cleanup(func() { jaeger(context.Background(), cfg, "stop") })
		if tcfg.Endpoint == "" && tcfg.TracesEndpoint == "" {
			tcfg.Endpoint = fmt.Sprintf("http://127.0.0.1:%d", cfg.JaegerOTLP)
			otelEnv = append(otelEnv, "OTEL_EXPORTER_OTLP_ENDPOINT="+tcfg.Endpoint)
		}
		// Order's pages read each order's trace back from Jaeger's query API.
		if _, set := os.LookupEnv("TRACE_QUERY_URL"); !set {
			otelEnv = append(otelEnv, fmt.Sprintf("TRACE_QUERY_URL=http://127.0.0.1:%d", cfg.JaegerQuery))
		}
	}
	tel, err := telemetry.New(ctx, "dispatcher", tcfg)
	if err != nil {
		return nil, nil, err
	}
	p.cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		tel.Shutdown(sctx)
	})
	p.con.step("telemetry: %v %v, %v %v", tcfg.Summary()...) // traces …, metrics …
	return tel, otelEnv, nil
}

// jaeger runs infra/local/jaeger.sh start or stop, with its state beside
// the other servers' in DATA_DIR.
func jaeger(ctx context.Context, cfg config, verb string) error {
	_, err := script(ctx, cfg, "jaeger", verb, "JAEGER_DIR="+dataPath(cfg.Root, cfg.DataDir, "jaeger"),
		fmt.Sprintf("JAEGER_OTLP_PORT=%d", cfg.JaegerOTLP), fmt.Sprintf("JAEGER_QUERY_PORT=%d", cfg.JaegerQuery))
	return err
}

// script runs infra/local/<name>.sh verb with env added to the stack's own
// environment. Its progress goes to stderr; it returns what it printed on
// stdout when the verb is "url", else it passes that on to stderr too.
func script(ctx context.Context, cfg config, name, verb string, env ...string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(cfg.Root, "infra", "local", name+".sh"), verb)
	var out strings.Builder
	cmd.Env, cmd.Stdout, cmd.Stderr = append(os.Environ(), env...), os.Stderr, os.Stderr
	if verb == "url" {
		cmd.Stdout = &out
	}
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s %s: %w", name, verb, err)
	}
	return strings.TrimSpace(out.String()), nil
}
