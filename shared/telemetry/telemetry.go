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
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

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

// Config is what the standard OTEL_* variables say about export, as far as
// this package implements it: OTLP/HTTP with protobuf for spans, to the
// endpoint, with the headers and timeout below. The variables of other
// transports and settings (OTEL_EXPORTER_OTLP_CERTIFICATE, _CLIENT_*,
// _COMPRESSION, _INSECURE, OTEL_EXPORTER_OTLP_METRICS_*) are not read: the
// collector is reached in the mesh over plain HTTP, and an https endpoint is
// verified against the system's roots. The SDK reads the sampler
// (OTEL_TRACES_SAMPLER), the batching (OTEL_BSP_*) and the resource
// (OTEL_RESOURCE_ATTRIBUTES) itself.
type Config struct {
	Disabled        bool       `envconfig:"OTEL_SDK_DISABLED" desc:"true: no telemetry at all, not even /metrics"`
	Endpoint        string     `envconfig:"OTEL_EXPORTER_OTLP_ENDPOINT" desc:"OTLP/HTTP base URL, such as http://127.0.0.1:4318; empty (and no traces endpoint): no tracing, nothing sent"`
	TracesEndpoint  string     `envconfig:"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT" desc:"full OTLP/HTTP URL for spans; overrides the base URL"`
	Headers         headerList `envconfig:"OTEL_EXPORTER_OTLP_HEADERS" desc:"HTTP headers of each export, key=value,... with URL-encoded values (never logged: they often carry a token)"`
	TracesHeaders   headerList `envconfig:"OTEL_EXPORTER_OTLP_TRACES_HEADERS" desc:"headers of span exports; replace OTEL_EXPORTER_OTLP_HEADERS"`
	Timeout         int        `envconfig:"OTEL_EXPORTER_OTLP_TIMEOUT" default:"10000" desc:"milliseconds an export may take, retries included (0: 10000)"`
	TracesTimeout   int        `envconfig:"OTEL_EXPORTER_OTLP_TRACES_TIMEOUT" desc:"milliseconds a span export may take; 0 or unset: OTEL_EXPORTER_OTLP_TIMEOUT"`
	Protocol        string     `envconfig:"OTEL_EXPORTER_OTLP_PROTOCOL" default:"http/protobuf" desc:"only http/protobuf is built in"`
	TracesExporter  string     `envconfig:"OTEL_TRACES_EXPORTER" default:"otlp" desc:"otlp or none"`
	MetricsExporter string     `envconfig:"OTEL_METRICS_EXPORTER" default:"prometheus" desc:"prometheus (served on GET /metrics, which the cluster scrapes) or none; no OTLP push"`
}

// defaultTimeout is the OTLP exporters' default OTEL_EXPORTER_OTLP_TIMEOUT.
const defaultTimeout = 10 * time.Second

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
	for _, h := range []struct {
		name string
		list headerList
	}{{"OTEL_EXPORTER_OTLP_HEADERS", c.Headers}, {"OTEL_EXPORTER_OTLP_TRACES_HEADERS", c.TracesHeaders}} {
		if _, err := h.list.parse(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", h.name, err))
		}
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("OTEL_EXPORTER_OTLP_TIMEOUT=%d: want milliseconds, 0 or more", c.Timeout))
	}
	if c.TracesTimeout < 0 {
		errs = append(errs, fmt.Errorf("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT=%d: want milliseconds, 0 or more", c.TracesTimeout))
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
// lose any user info, and headers show their names only: both may hold
// tokens.
func (c Config) Summary() []any {
	traces := "off"
	if c.tracing() {
		traces = "otlp " + redactEndpoint(c.tracesURL())
		if names := c.tracesHeaders().names(); len(names) > 0 {
			traces += " with headers " + strings.Join(names, ",")
		}
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

// tracesHeaders are the headers of span exports: the signal's own list
// replaces the general one, as in the official exporters.
func (c Config) tracesHeaders() headerList {
	if strings.TrimSpace(string(c.TracesHeaders)) != "" {
		return c.TracesHeaders
	}
	return c.Headers
}

func (c Config) tracesTimeout() time.Duration {
	switch {
	case c.TracesTimeout > 0:
		return time.Duration(c.TracesTimeout) * time.Millisecond
	case c.Timeout > 0:
		return time.Duration(c.Timeout) * time.Millisecond
	}
	return defaultTimeout
}

// headerList is the value of OTEL_EXPORTER_OTLP_HEADERS: key=value pairs
// separated by commas, each value URL-encoded (the OpenTelemetry exporter
// specification; parsed as otlptracehttp v1.47.0's internal/envconfig
// stringToHeader does, but an error here stops the start). The values are
// often tokens: it prints as its names only, and no error quotes it.
type headerList string

// parse returns the headers; an error names the position of a bad pair.
func (l headerList) parse() (http.Header, error) {
	h := http.Header{}
	for i, pair := range strings.Split(string(l), ",") {
		if strings.TrimSpace(pair) == "" {
			continue
		}
		k, v, ok := strings.Cut(pair, "=")
		if !ok {
			return nil, fmt.Errorf("pair %d: no key=value", i+1)
		}
		k = strings.TrimSpace(k)
		if k == "" || strings.ContainsFunc(k, func(r rune) bool { return !isTokenChar(r) }) {
			return nil, fmt.Errorf("pair %d: the key is no HTTP header name", i+1)
		}
		v, err := url.PathUnescape(v)
		if err != nil {
			return nil, fmt.Errorf("pair %d (%s): the value is not URL-encoded", i+1, k)
		}
		v = strings.TrimSpace(v)
		if strings.ContainsFunc(v, func(r rune) bool { return r < ' ' && r != '\t' || r == 0x7f }) {
			return nil, fmt.Errorf("pair %d (%s): the value holds a control character", i+1, k)
		}
		h.Set(k, v)
	}
	return h, nil
}

// names are the header names, for the start-up log line.
func (l headerList) names() []string {
	h, err := l.parse()
	if err != nil {
		return nil
	}
	return slices.Sorted(maps.Keys(h))
}

// String shows the names only, should a headerList ever be printed.
func (l headerList) String() string { return strings.Join(l.names(), ",") }

// isTokenChar reports whether r may be in an HTTP header name (RFC 9110's
// tchar).
func isTokenChar(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("!#$%&'*+-.^_`|~", r)
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
		exp, err := newSpanExporter(cfg)
		if err != nil {
			return nil, fmt.Errorf("telemetry: otlp span exporter: %w", err)
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
