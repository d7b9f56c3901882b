// Package telemetry sets up OpenTelemetry for one process: a tracer
// provider that exports over OTLP when the standard OTEL_* variables name an
// endpoint (and costs nothing when they don't), a meter provider read by a
// Prometheus endpoint (the cluster scrapes GET /metrics), the propagators
// that carry a trace across HTTP, CloudEvents and Kafka records, and a slog
// handler that stamps every line written inside a span with its ids.
//
// Nothing here is global: a Telemetry is built once at start and passed on,
// so tests run several side by side.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// scope names the instrumentation of this project in spans and metrics.
const scope = "github.com/mskafka/knative-functions"

// Config is what the standard OTEL_* variables say about export. Only the
// choices that decide what to build are read here; the exporters read the
// rest (headers, timeouts, certificates, compression) themselves, and the
// SDK reads the sampler (OTEL_TRACES_SAMPLER) and batching (OTEL_BSP_*).
type Config struct {
	Disabled        bool   `envconfig:"OTEL_SDK_DISABLED" desc:"true: no telemetry at all, not even /metrics"`
	Endpoint        string `envconfig:"OTEL_EXPORTER_OTLP_ENDPOINT" desc:"OTLP/HTTP base URL, such as http://127.0.0.1:4318; empty (and no traces endpoint): no tracing, nothing sent"`
	TracesEndpoint  string `envconfig:"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT" desc:"full OTLP/HTTP URL for spans; overrides the base URL"`
	Protocol        string `envconfig:"OTEL_EXPORTER_OTLP_PROTOCOL" default:"http/protobuf" desc:"only http/protobuf is built in"`
	TracesExporter  string `envconfig:"OTEL_TRACES_EXPORTER" default:"otlp" desc:"otlp or none"`
	MetricsExporter string `envconfig:"OTEL_METRICS_EXPORTER" default:"prometheus" desc:"prometheus (served on GET /metrics, which the cluster scrapes) or none; no OTLP push"`
}

// tracing reports whether spans are exported at all.
func (c Config) tracing() bool {
	return !c.Disabled && c.TracesExporter == "otlp" && (c.Endpoint != "" || c.TracesEndpoint != "")
}

func (c Config) metricsExporters() []string {
	if c.Disabled {
		return nil
	}
	var out []string
	for e := range strings.SplitSeq(c.MetricsExporter, ",") {
		if e = strings.TrimSpace(e); e != "" && e != "none" && !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	return out
}

func (c Config) validate() error {
	var errs []error
	if c.Protocol != "http/protobuf" && c.Protocol != "" {
		errs = append(errs, fmt.Errorf("OTEL_EXPORTER_OTLP_PROTOCOL=%q: only http/protobuf is built in", c.Protocol))
	}
	if c.TracesExporter != "otlp" && c.TracesExporter != "none" {
		errs = append(errs, fmt.Errorf("OTEL_TRACES_EXPORTER=%q: want otlp or none", c.TracesExporter))
	}
	for _, e := range c.metricsExporters() {
		switch e {
		case "prometheus":
		case "otlp":
			errs = append(errs, fmt.Errorf("OTEL_METRICS_EXPORTER=%q: metrics are not pushed over OTLP; they are scraped from GET /metrics (prometheus)", c.MetricsExporter))
		default:
			errs = append(errs, fmt.Errorf("OTEL_METRICS_EXPORTER=%q: want prometheus or none", c.MetricsExporter))
		}
	}
	for _, u := range []string{c.Endpoint, c.TracesEndpoint} {
		if u == "" {
			continue
		}
		if p, err := url.Parse(u); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			errs = append(errs, fmt.Errorf("OTLP endpoint %q: want an http(s) URL", redactEndpoint(u)))
		}
	}
	return errors.Join(errs...)
}

// Summary describes the configuration for the start-up log line. Endpoints
// lose any user info; headers (which may hold tokens) are never read here.
func (c Config) Summary() []any {
	traces := "off"
	if c.tracing() {
		traces = "otlp " + redactEndpoint(c.tracesURL())
	}
	metrics := "off"
	if m := c.metricsExporters(); len(m) > 0 {
		metrics = strings.Join(m, ",")
	}
	return []any{"traces", traces, "metrics", metrics}
}

func (c Config) tracesURL() string {
	if c.TracesEndpoint != "" {
		return c.TracesEndpoint
	}
	return strings.TrimSuffix(c.Endpoint, "/") + "/v1/traces"
}

// redactEndpoint returns an exporter endpoint without its user info, for
// logging. Unlike db.Redact it drops the user name too: an OTLP endpoint's
// user info is a credential as a whole (a token), not a role.
func redactEndpoint(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable url)"
	}
	u.User = nil
	return u.String()
}

// Telemetry is the instrumentation of one process, named service.
type Telemetry struct {
	// Tracer makes this project's spans.
	Tracer trace.Tracer
	// TracerProvider is the provider behind Tracer, for libraries.
	TracerProvider trace.TracerProvider
	// MeterProvider is the provider behind Metrics, for libraries.
	MeterProvider metric.MeterProvider
	// Propagator reads and writes trace context and baggage on HTTP
	// requests: W3C trace context, W3C baggage and B3 (Envoy's).
	Propagator propagation.TextMapPropagator
	// Metrics are the instruments this project records.
	Metrics *Metrics

	service  string
	metrics  http.Handler // nil: no Prometheus endpoint
	shutdown []func(context.Context) error
}

// New builds the telemetry of the process named service (the function's
// name, which becomes service.name) as cfg says.
func New(ctx context.Context, service string, cfg Config) (*Telemetry, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("telemetry: %w", err)
	}
	t := &Telemetry{service: service, Propagator: Propagator()}
	// The function's name wins over OTEL_SERVICE_NAME: three functions
	// started with one environment must not report as one service.
	res, err := resource.New(ctx, resource.WithFromEnv(), resource.WithTelemetrySDK(),
		resource.WithAttributes(semconv.ServiceName(service)))
	if err != nil {
		return nil, fmt.Errorf("telemetry resource: %w", err)
	}

	if cfg.tracing() {
		exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(cfg.tracesURL()))
		if err != nil {
			return nil, fmt.Errorf("telemetry: otlp trace exporter: %w", err)
		}
		tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
		t.TracerProvider = tp
		t.shutdown = append(t.shutdown, tp.Shutdown)
	} else {
		t.TracerProvider = tracenoop.NewTracerProvider()
	}
	t.Tracer = t.TracerProvider.Tracer(scope)

	if slices.Contains(cfg.metricsExporters(), "prometheus") {
		// service_name on every series, so one dashboard query shows the
		// functions side by side.
		m := newMetricsEndpoint(semconv.ServiceNameKey)
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(m.reader), sdkmetric.WithResource(res))
		t.metrics = m
		t.MeterProvider = mp
		t.shutdown = append(t.shutdown, mp.Shutdown)
	} else {
		t.MeterProvider = metricnoop.NewMeterProvider()
	}
	if t.Metrics, err = newMetrics(t.MeterProvider.Meter(scope)); err != nil {
		t.Shutdown(ctx)
		return nil, err
	}
	return t, nil
}

// Noop returns telemetry that records and sends nothing but still
// propagates trace context it is handed.
func Noop() *Telemetry {
	t, _ := FromProviders("noop", tracenoop.NewTracerProvider(), metricnoop.NewMeterProvider()) // noop instruments never fail
	return t
}

// FromProviders builds telemetry on providers made elsewhere: by a host
// that owns them, or by a test that reads what was recorded. Shutting the
// providers down is left to their maker.
func FromProviders(service string, tp trace.TracerProvider, mp metric.MeterProvider) (*Telemetry, error) {
	m, err := newMetrics(mp.Meter(scope))
	if err != nil {
		return nil, err
	}
	return &Telemetry{Tracer: tp.Tracer(scope), TracerProvider: tp, MeterProvider: mp,
		Propagator: Propagator(), Metrics: m, service: service}, nil
}

// Service is the service.name this telemetry reports.
func (t *Telemetry) Service() string { return t.service }

// MetricsHandler serves the Prometheus text format of the metrics; nil when
// the Prometheus exporter is off.
func (t *Telemetry) MetricsHandler() http.Handler { return t.metrics }

// Shutdown flushes the spans and metrics still buffered and stops the
// exporters. Spans end up in the trace backend only after this (or the
// batcher's next round), so call it before the process exits.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	var errs []error
	for _, f := range t.shutdown {
		errs = append(errs, f(ctx))
	}
	t.shutdown = nil
	return errors.Join(errs...)
}
