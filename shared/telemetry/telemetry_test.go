package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/cloudevents/sdk-go/protocol/kafka_sarama/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/google/go-cmp/cmp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

func mustTraceState(t *testing.T, s string) trace.TraceState {
	t.Helper()
	ts, err := trace.ParseTraceState(s)
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

func spanContext(t *testing.T, sampled bool, state string) trace.SpanContext {
	t.Helper()
	var flags trace.TraceFlags
	if sampled {
		flags = trace.FlagsSampled
	}
	return trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36},
		SpanID:     trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7},
		TraceFlags: flags,
		TraceState: mustTraceState(t, state),
		Remote:     true,
	})
}

// A context injected into a CloudEvent comes back out of the event and of
// the Kafka record the event is written to (its ce_traceparent header and
// its raw traceparent header) identical.
func TestPropagationThroughEventAndRecord(t *testing.T) {
	tests := []struct {
		name string
		sc   trace.SpanContext // invalid: nothing to propagate
	}{
		{"sampled with tracestate", spanContext(t, true, "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE")},
		{"not sampled", spanContext(t, false, "")},
		{"no trace", trace.SpanContext{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := trace.ContextWithRemoteSpanContext(context.Background(), tt.sc)
			ev := event.New()
			ev.SetID("e-1")
			ev.SetSource("/order")
			ev.SetType("com.example.order.placed")
			_ = ev.SetData(event.ApplicationJSON, map[string]int{"id": 1})
			// A stale context on the event must not survive injection.
			ev.SetExtension("traceparent", "00-11111111111111111111111111111111-2222222222222222-01")
			InjectEvent(ctx, &ev)

			if got := trace.SpanContextFromContext(ExtractEvent(context.Background(), &ev)); !got.Equal(tt.sc) {
				t.Errorf("from the event: got %v, want %v", got, tt.sc)
			}

			msg := &sarama.ProducerMessage{Topic: "order"}
			if err := kafka_sarama.WriteProducerMessage(context.Background(), binding.ToMessage(&ev), msg); err != nil {
				t.Fatal(err)
			}
			InjectRecord(ctx, msg)
			InjectRecord(ctx, msg) // twice: headers are replaced, not repeated
			consumed := &sarama.ConsumerMessage{Topic: "order", Value: mustEncode(t, msg.Value)}
			names := map[string]int{}
			for _, h := range msg.Headers {
				consumed.Headers = append(consumed.Headers, &sarama.RecordHeader{Key: h.Key, Value: h.Value})
				names[string(h.Key)]++
			}
			if tt.sc.IsValid() && (names["traceparent"] != 1 || names["ce_traceparent"] != 1) {
				t.Errorf("record headers %v: want one traceparent and one ce_traceparent", names)
			}
			if got := trace.SpanContextFromContext(ExtractRecord(context.Background(), consumed)); !got.Equal(tt.sc) {
				t.Errorf("from the raw record header: got %v, want %v", got, tt.sc)
			}
			back, err := binding.ToEvent(context.Background(), kafka_sarama.NewMessageFromConsumerMessage(consumed))
			if err != nil {
				t.Fatal(err)
			}
			if got := trace.SpanContextFromContext(ExtractEvent(context.Background(), back)); !got.Equal(tt.sc) {
				t.Errorf("from the event read back from the record: got %v, want %v", got, tt.sc)
			}
		})
	}
}

func mustEncode(t *testing.T, e sarama.Encoder) []byte {
	t.Helper()
	if e == nil {
		return nil
	}
	b, err := e.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func recorded(t *testing.T) (*Telemetry, *tracetest.SpanRecorder) {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	tel, err := FromProviders("order", tp, Noop().MeterProvider)
	if err != nil {
		t.Fatal(err)
	}
	return tel, rec
}

// The server span continues the caller's trace from W3C or B3 headers; with
// both, the B3 headers of the Envoy sidecar win, so the sidecar's span is
// the parent.
func TestHandlerContinuesTrace(t *testing.T) {
	const (
		w3cTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
		w3cSpan  = "00f067aa0ba902b7"
		b3Trace  = "80f198ee56343ba864fe8b2a57d3eff7"
		b3Span   = "e457b5a2e4d86bd1"
	)
	tests := []struct {
		name              string
		header            map[string]string
		wantTrace, parent string
	}{
		{"W3C", map[string]string{"traceparent": "00-" + w3cTrace + "-" + w3cSpan + "-01"}, w3cTrace, w3cSpan},
		{"B3 multi (Envoy)", map[string]string{"X-B3-TraceId": b3Trace, "X-B3-SpanId": b3Span, "X-B3-Sampled": "1"}, b3Trace, b3Span},
		{"B3 single", map[string]string{"b3": b3Trace + "-" + b3Span + "-1"}, b3Trace, b3Span},
		{"both, the sidecar's wins", map[string]string{"traceparent": "00-" + w3cTrace + "-" + w3cSpan + "-01",
			"X-B3-TraceId": b3Trace, "X-B3-SpanId": b3Span, "X-B3-Sampled": "1"}, b3Trace, b3Span},
		{"none", nil, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tel, rec := recorded(t)
			var inHandler trace.SpanContext
			mux := http.NewServeMux()
			mux.HandleFunc("POST /{$}", func(w http.ResponseWriter, r *http.Request) {
				inHandler = trace.SpanContextFromContext(r.Context())
			})
			req := httptest.NewRequest(http.MethodPost, "/", nil)
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			tel.Handler(mux).ServeHTTP(httptest.NewRecorder(), req)

			spans := rec.Ended()
			if len(spans) != 1 {
				t.Fatalf("got %d spans, want 1", len(spans))
			}
			s := spans[0]
			if s.Name() != "POST /" || s.SpanKind() != trace.SpanKindServer {
				t.Errorf("span %q kind %v, want %q server", s.Name(), s.SpanKind(), "POST /")
			}
			if tt.wantTrace == "" {
				if s.Parent().IsValid() {
					t.Errorf("parent %v, want a new trace", s.Parent())
				}
			} else if got := s.SpanContext().TraceID().String(); got != tt.wantTrace || s.Parent().SpanID().String() != tt.parent {
				t.Errorf("trace %s parent %s, want trace %s parent %s", got, s.Parent().SpanID(), tt.wantTrace, tt.parent)
			}
			if !inHandler.Equal(s.SpanContext()) {
				t.Errorf("the handler runs in span %v, want the server span %v", inHandler, s.SpanContext())
			}
		})
	}
}

// An outgoing request carries the client span's context in W3C and B3
// headers, so a sidecar and a function both continue it.
func TestTransportInjects(t *testing.T) {
	tel, rec := recorded(t)
	var got http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = r.Header.Clone() }))
	defer srv.Close()
	ctx, parent := tel.Tracer.Start(context.Background(), "process order")
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/", nil)
	resp, err := (&http.Client{Transport: tel.Transport(nil)}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	parent.End()
	var client sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		if s.SpanKind() == trace.SpanKindClient {
			client = s
		}
	}
	if client == nil || client.Parent().SpanID() != parent.SpanContext().SpanID() {
		t.Fatalf("no client span under the parent: %v", rec.Ended())
	}
	sc := client.SpanContext()
	want := map[string]string{
		"Traceparent":  "00-" + sc.TraceID().String() + "-" + sc.SpanID().String() + "-01",
		"X-B3-Traceid": sc.TraceID().String(),
		"X-B3-Spanid":  sc.SpanID().String(),
	}
	for k, v := range want {
		if got.Get(k) != v {
			t.Errorf("header %s = %q, want %q", k, got.Get(k), v)
		}
	}
}

func TestLogHandler(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(LogHandler(slog.NewJSONHandler(&buf, nil))).With("function", "order")
	sc := spanContext(t, true, "")
	log.InfoContext(trace.ContextWithSpanContext(context.Background(), sc), "in a request", "order_id", 7)
	log.InfoContext(context.Background(), "at start")

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("got %d lines: %s", len(lines), buf.String())
	}
	type line struct {
		Msg      string `json:"msg"`
		Function string `json:"function"`
		OrderID  int    `json:"order_id"`
		TraceID  string `json:"trace_id"`
		SpanID   string `json:"span_id"`
	}
	var got []line
	for _, l := range lines {
		var v line
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatal(err)
		}
		got = append(got, v)
	}
	want := []line{
		{Msg: "in a request", Function: "order", OrderID: 7, TraceID: sc.TraceID().String(), SpanID: sc.SpanID().String()},
		{Msg: "at start", Function: "order"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("log lines (-want +got):\n%s", diff)
	}
}

func TestConfig(t *testing.T) {
	defaults := Config{Protocol: "http/protobuf", TracesExporter: "otlp", MetricsExporter: "prometheus"}
	with := func(f func(*Config)) Config { c := defaults; f(&c); return c }
	tests := []struct {
		name        string
		cfg         Config
		wantTracing bool
		wantErr     string
	}{
		{"nothing set: no tracing", defaults, false, ""},
		{"endpoint", with(func(c *Config) { c.Endpoint = "http://127.0.0.1:4318" }), true, ""},
		{"traces endpoint", with(func(c *Config) { c.TracesEndpoint = "http://127.0.0.1:4318/v1/traces" }), true, ""},
		{"exporter none", with(func(c *Config) { c.Endpoint = "http://127.0.0.1:4318"; c.TracesExporter = "none" }), false, ""},
		{"sdk disabled", with(func(c *Config) { c.Endpoint = "http://127.0.0.1:4318"; c.Disabled = true }), false, ""},
		{"grpc", with(func(c *Config) { c.Protocol = "grpc" }), false, "only http/protobuf"},
		{"otlp metrics: scraped, not pushed", with(func(c *Config) { c.Endpoint = "http://127.0.0.1:4318"; c.MetricsExporter = "prometheus,otlp" }), true, "scraped from GET /metrics"},
		{"metrics off", with(func(c *Config) { c.MetricsExporter = "none" }), false, ""},
		{"unknown metrics exporter", with(func(c *Config) { c.MetricsExporter = "statsd" }), false, "want prometheus or none"},
		{"not a URL", with(func(c *Config) { c.Endpoint = "127.0.0.1:4318" }), true, "want an http(s) URL"},
		{"headers", with(func(c *Config) { c.Headers = "authorization=Bearer%20t0ken,x-tenant=a" }), false, ""},
		{"a header without a value", with(func(c *Config) { c.TracesHeaders = "x-tenant=a,Bearer t0ken" }), false,
			"OTEL_EXPORTER_OTLP_TRACES_HEADERS: pair 2: no key=value"},
		{"negative timeout", with(func(c *Config) { c.Timeout = -1 }), false, "OTEL_EXPORTER_OTLP_TIMEOUT=-1"},
		{"negative traces timeout", with(func(c *Config) { c.TracesTimeout = -1 }), false, "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT=-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.cfg.tracing(); got != tt.wantTracing {
				t.Errorf("tracing() = %v, want %v", got, tt.wantTracing)
			}
			err := tt.cfg.validate()
			if (tt.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("validate() = %v, want an error about %q", err, tt.wantErr)
			}
		})
	}
}

// Header lists are read as the OpenTelemetry specification writes them,
// and no error quotes a value: they hold tokens.
func TestHeaderList(t *testing.T) {
	tests := []struct {
		list    headerList
		want    http.Header
		wantErr string
	}{
		{"", http.Header{}, ""},
		{"api-key=s3cret", http.Header{"Api-Key": {"s3cret"}}, ""},
		{" a = x%20y%3Dz , b=%E2%9C%93,", http.Header{"A": {"x y=z"}, "B": {"✓"}}, ""},
		{"a=1,a=2", http.Header{"A": {"2"}}, ""},
		{"a=", http.Header{"A": {""}}, ""},
		{"s3cret", nil, "pair 1: no key=value"},
		{"a=1,Bearer s3cret=x", nil, "pair 2: the key is no HTTP header name"},
		{"a=s3cret%zz", nil, "pair 1 (a): the value is not URL-encoded"},
		{"a=s3cret%00x", nil, "pair 1 (a): the value holds a control character"},
	}
	for _, tt := range tests {
		t.Run(string(tt.list), func(t *testing.T) {
			got, err := tt.list.parse()
			var gotErr string
			if err != nil {
				gotErr = err.Error()
			}
			if gotErr != tt.wantErr {
				t.Errorf("error %q, want %q", gotErr, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("headers (-want +got):\n%s", diff)
			}
			if s := fmt.Sprint(tt.list); strings.Contains(s, "s3cret") {
				t.Errorf("the list prints as %q", s)
			}
		})
	}
}

func TestTracesTimeout(t *testing.T) {
	tests := []struct {
		timeout, traces int
		want            time.Duration
	}{
		{0, 0, 10 * time.Second},
		{2000, 0, 2 * time.Second},
		{2000, 500, 500 * time.Millisecond},
	}
	for _, tt := range tests {
		if got := (Config{Timeout: tt.timeout, TracesTimeout: tt.traces}).tracesTimeout(); got != tt.want {
			t.Errorf("timeout %d, traces %d: %v, want %v", tt.timeout, tt.traces, got, tt.want)
		}
	}
}

// With no endpoint, spans are not even recorded: the providers are no-ops.
func TestNewWithoutEndpointCostsNothing(t *testing.T) {
	tel, err := New(context.Background(), "order", Config{Protocol: "http/protobuf", TracesExporter: "otlp", MetricsExporter: "prometheus"})
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Shutdown(context.Background())
	if _, ok := tel.TracerProvider.(tracenoop.TracerProvider); !ok {
		t.Errorf("tracer provider %T, want the no-op one", tel.TracerProvider)
	}
	_, span := tel.Tracer.Start(context.Background(), "x")
	if span.IsRecording() {
		t.Error("span records")
	}
	if tel.MetricsHandler() == nil {
		t.Error("no /metrics handler")
	}
}

// The start-up line names the endpoint without its user info, and the
// headers by their names only.
func TestSummaryHidesSecrets(t *testing.T) {
	c := Config{Endpoint: "https://user:s3cret@collector.example:4318", Headers: "authorization=Bearer%20t0ken",
		TracesExporter: "otlp", MetricsExporter: "prometheus"}
	got := fmt.Sprint(c.Summary()...)
	if strings.Contains(got, "s3cret") || strings.Contains(got, "user") || strings.Contains(got, "t0ken") {
		t.Errorf("summary %q shows the credentials", got)
	}
	for _, want := range []string{"collector.example:4318/v1/traces", "Authorization"} {
		if !strings.Contains(got, want) {
			t.Errorf("summary %q does not name %s", got, want)
		}
	}
}
