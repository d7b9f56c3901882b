package activator

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// TestColdStartInTrace: a request that wakes the function gets a span
// "activate fake" with faas.coldstart and the wait, in the caller's trace
// (from its headers) but not as the parent of what the function sees; a
// request to the warm function gets none. State reports the cold start.
func TestColdStartInTrace(t *testing.T) {
	var seen string
	f := &fakeFunction{startDelay: 50 * time.Millisecond}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = r.Header.Get("Traceparent") }))
	defer f.srv.Close()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	a := New(f, time.Hour, func(string, ...any) {}, WithTracing(tp, propagation.TraceContext{}))

	const parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	send := func() {
		req := httptest.NewRequest(http.MethodPost, "http://fake/", nil)
		req.Header.Set("Traceparent", parent)
		resp, err := a.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	send()
	send() // warm: no span
	spans := rec.Ended()
	if len(spans) != 1 {
		t.Fatalf("%d spans, want 1 for the one cold start", len(spans))
	}
	s := spans[0]
	if s.Name() != "activate fake" || s.Parent().TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" || s.Parent().SpanID().String() != "00f067aa0ba902b7" {
		t.Errorf("span %q with parent %v, want activate fake under the caller's span", s.Name(), s.Parent())
	}
	attrs := attribute.NewSet(s.Attributes()...)
	if v, _ := attrs.Value("faas.coldstart"); !v.AsBool() {
		t.Error("no faas.coldstart=true")
	}
	wait, _ := attrs.Value("activator.wait_ms")
	if got := wait.AsInt64(); got < 50 || got > 5000 {
		t.Errorf("activator.wait_ms %d, want the start delay (50 ms) or a little more", got)
	}
	if seen != parent {
		t.Errorf("the function saw traceparent %q, want the caller's %q", seen, parent)
	}
	st := a.State()
	if len(st.ColdStarts) != 1 || st.ColdStarts[0] < 50*time.Millisecond || st.InFlight != 0 || st.Held != 0 || st.IdleLeft <= 0 {
		t.Errorf("state %+v, want one cold start of 50 ms or more, nothing in flight, idle time left", st)
	}
}
