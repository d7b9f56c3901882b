package function

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/trace"

	"github.com/mskafka/knative-functions/shared/telemetry"
)

// fakeRole logs one line inside each request, as the handlers do.
type fakeRole struct {
	log  *slog.Logger
	seen trace.SpanContext
}

func (f *fakeRole) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.seen = trace.SpanContextFromContext(r.Context())
	f.log.InfoContext(r.Context(), "order placed", "order_id", 7)
}
func (f *fakeRole) Stop(context.Context) error          { return nil }
func (f *fakeRole) Ready(context.Context) (bool, error) { return true, nil }

// Requests run in the role with the caller's trace (here a sidecar's B3
// headers) and log its ids; /metrics is served beside the role's routes.
func TestStartedHandler(t *testing.T) {
	tel, err := telemetry.New(context.Background(), "order", telemetry.Config{
		Protocol: "http/protobuf", TracesExporter: "otlp", MetricsExporter: "prometheus"})
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	role := &fakeRole{log: slog.New(telemetry.LogHandler(slog.NewJSONHandler(&logs, nil)))}
	f := New()
	f.started.Store(newStarted(role, tel))

	req := httptest.NewRequest(http.MethodPost, "/new", nil)
	req.Header.Set("X-B3-TraceId", "80f198ee56343ba864fe8b2a57d3eff7")
	req.Header.Set("X-B3-SpanId", "e457b5a2e4d86bd1")
	req.Header.Set("X-B3-Sampled", "1")
	f.Handle(httptest.NewRecorder(), req)
	if got := role.seen.TraceID().String(); got != "80f198ee56343ba864fe8b2a57d3eff7" {
		t.Errorf("role ran in trace %s, want the sidecar's", got)
	}
	if !strings.Contains(logs.String(), `"trace_id":"80f198ee56343ba864fe8b2a57d3eff7"`) ||
		!strings.Contains(logs.String(), `"span_id":"e457b5a2e4d86bd1"`) {
		t.Errorf("log line lacks the trace: %s", logs.String())
	}

	role.seen = trace.SpanContext{}
	rec := httptest.NewRecorder()
	f.Handle(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	if rec.Code != 200 || !strings.Contains(string(body), `http_server_request_duration_seconds_count{`) {
		t.Errorf("GET /metrics: %d\n%s", rec.Code, body)
	}
	if role.seen.IsValid() {
		t.Error("GET /metrics reached the role")
	}
}

// A broken telemetry configuration stops the start with a clear message,
// and the database password never reaches the log.
func TestStartRefusesTelemetryConfig(t *testing.T) {
	t.Setenv("FUNCTION", "shipping")
	t.Setenv("DATABASE_URL", "postgres://shipping:s3cret@127.0.0.1:1/none")
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
	t.Setenv("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer t0ken")
	var out bytes.Buffer
	f := &Function{out: &out}
	err := f.Start(context.Background(), nil)
	if err == nil || !strings.Contains(err.Error(), "OTEL_EXPORTER_OTLP_PROTOCOL") {
		t.Errorf("Start: %v, want an error about OTEL_EXPORTER_OTLP_PROTOCOL", err)
	}
	for _, secret := range []string{"s3cret", "t0ken"} {
		if strings.Contains(out.String(), secret) {
			t.Errorf("log shows %q:\n%s", secret, out.String())
		}
	}
}

// Each role's configuration is parsed and validated in Start, before
// anything connects: order refuses an empty DATABASE_URL as the sinks do.
func TestStartRefusesRoleConfig(t *testing.T) {
	tests := []struct {
		name, function string
		env            map[string]string
		unset          string
		wantErr        string
	}{
		{"order without DATABASE_URL", "order", nil, "DATABASE_URL", "DATABASE_URL"},
		{"order with an empty DATABASE_URL", "order", map[string]string{"DATABASE_URL": ""}, "", "DATABASE_URL"},
		{"order with an empty KAFKA_TOPIC", "order", map[string]string{"KAFKA_TOPIC": ""}, "", "KAFKA_TOPIC"},
		{"order with no outbox interval", "order", map[string]string{"OUTBOX_INTERVAL": "0s"}, "", "OUTBOX_INTERVAL"},
		{"shipping with an empty DATABASE_URL", "shipping", map[string]string{"DATABASE_URL": ""}, "", "DATABASE_URL"},
		{"invoicing with connections not a number", "invoicing", map[string]string{"DB_MAX_CONNS": "four"}, "", "DB_MAX_CONNS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("FUNCTION", tt.function)
			t.Setenv("DATABASE_URL", "postgres://nobody:s3cret@127.0.0.1:1/none")
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			if tt.unset != "" {
				os.Unsetenv(tt.unset) // t.Setenv above restores it
			}
			var out bytes.Buffer
			f := &Function{out: &out}
			err := f.Start(context.Background(), nil)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Start: %v, want an error about %s", err, tt.wantErr)
			}
			if strings.Contains(out.String(), "s3cret") {
				t.Errorf("log shows the password:\n%s", out.String())
			}
		})
	}
}

func TestUsageListsTelemetry(t *testing.T) {
	var b bytes.Buffer
	if err := Usage(&b); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_METRICS_EXPORTER", "OTEL_SDK_DISABLED"} {
		if !strings.Contains(b.String(), v) {
			t.Errorf("usage lacks %s", v)
		}
	}
}
