package sink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgconn"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/mskafka/knative-functions/shared/events"
	"github.com/mskafka/knative-functions/shared/telemetry"
	"github.com/mskafka/knative-functions/shared/testenv"
)

const order = `{"id": 7, "customer": {"customerId": 1, "name": "Wolff", "firstname": "Eberhard", "email": "eberhard.wolff@gmail.com"},
 "updated": "2026-11-25T10:00:00Z",
 "shippingAddress": {"street": "Ohlauer Str. 43", "zip": "10999", "city": "Berlin"},
 "billingAddress":  {"street": "Krischerstr. 100", "zip": "40789", "city": "Monheim am Rhein"},
 "orderLine": [{"count": 2, "item": {"itemId": 1, "name": "iPod", "price": 42.0}}], "numberOfLines": 1}`

// fakeStore stores each event id once and fails on demand.
type fakeStore struct {
	seen map[string]bool
	fail error
	// failOn fails the events with these ids with their error.
	failOn map[string]error
}

func (s *fakeStore) Placed(_ context.Context, ref Ref, _ events.Order) (Outcome, error) {
	if s.fail != nil {
		return "", s.fail
	}
	if err := s.failOn[ref.ID]; err != nil {
		return "", err
	}
	if s.seen[ref.ID] {
		return Duplicate, nil
	}
	s.seen[ref.ID] = true
	return Stored, nil
}

func (s *fakeStore) Cancelled(context.Context, Ref, events.Cancelled) (Outcome, error) {
	return Stored, nil
}

const (
	producerTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	producerSpan  = "00f067aa0ba902b7"
	clientSpan    = "b7ad6b7169203331"
)

func post(t *testing.T, h http.Handler, id, typ, body string, header map[string]string) int {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
	req.Header.Set("Ce-Specversion", "1.0")
	req.Header.Set("Ce-Id", id)
	req.Header.Set("Ce-Source", "/order")
	req.Header.Set("Ce-Type", typ)
	req.Header.Set("Ce-Time", time.Now().Add(-50*time.Millisecond).UTC().Format(time.RFC3339Nano))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code
}

// The consumer span continues the producer's trace: under the request's
// span when the delivery carried the trace on (as the dispatchers do),
// straight under the producer's span when it did not.
func TestHandlerTrace(t *testing.T) {
	tests := []struct {
		name       string
		header     map[string]string
		wantParent string // "server": the request's span; else a span id
		wantLinked bool   // to the request's span
	}{
		{"delivery continues the trace", map[string]string{
			"Ce-Traceparent": "00-" + producerTrace + "-" + producerSpan + "-01",
			"Traceparent":    "00-" + producerTrace + "-" + clientSpan + "-01",
		}, "server", false},
		{"delivery without trace headers", map[string]string{
			"Ce-Traceparent": "00-" + producerTrace + "-" + producerSpan + "-01",
		}, producerSpan, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := testenv.Telemetry(t, "shipping")
			h := in.Handler(Handler(&fakeStore{seen: map[string]bool{}}, slog.New(slog.DiscardHandler), in.Telemetry))
			if code := post(t, h, "e-1", events.TypePlaced, order, tt.header); code != http.StatusOK {
				t.Fatalf("status %d", code)
			}
			var server, consumer sdktrace.ReadOnlySpan
			for _, s := range in.Spans.Ended() {
				switch s.SpanKind() {
				case trace.SpanKindServer:
					server = s
				case trace.SpanKindConsumer:
					consumer = s
				}
			}
			if server == nil || consumer == nil {
				t.Fatalf("spans %v: want a server and a consumer span", in.Spans.Ended())
			}
			if consumer.Name() != "process "+events.TypePlaced {
				t.Errorf("consumer span %q", consumer.Name())
			}
			if got := consumer.SpanContext().TraceID().String(); got != producerTrace {
				t.Errorf("consumer span in trace %s, want the producer's %s", got, producerTrace)
			}
			want := tt.wantParent
			if want == "server" {
				want = server.SpanContext().SpanID().String()
			}
			if got := consumer.Parent().SpanID().String(); got != want {
				t.Errorf("consumer span's parent %s, want %s", got, want)
			}
			linked := len(consumer.Links()) == 1 && consumer.Links()[0].SpanContext.SpanID() == server.SpanContext().SpanID()
			if linked != tt.wantLinked {
				t.Errorf("linked to the request's span: %v, want %v", linked, tt.wantLinked)
			}
		})
	}
}

// events.handled counts every answer by type and result; events.delay
// records stored events only.
func TestHandlerMetrics(t *testing.T) {
	in := testenv.Telemetry(t, "shipping")
	store := &fakeStore{seen: map[string]bool{}, failOn: map[string]error{
		"e-6": &ConflictError{What: "order 7", Held: make([]byte, 32), Got: make([]byte, 32)},
		"e-7": fmt.Errorf("insert: %w", &pgconn.PgError{Code: "22008", Message: "timestamp out of range"}),
	}}
	h := in.Handler(Handler(store, slog.New(slog.DiscardHandler), in.Telemetry))
	for _, c := range []struct {
		id, typ, body string
		want          int
	}{
		{"e-1", events.TypePlaced, order, 200},
		{"e-2", events.TypePlaced, strings.Replace(order, `"id": 7`, `"id": 8`, 1), 200},
		{"e-1", events.TypePlaced, order, 200},                 // redelivered
		{"e-3", events.TypeKafkaRecord, `"not an order"`, 400}, // poison
		{"e-4", "com.example.other", `{}`, 400},
		{"e-6", events.TypePlaced, order, 400}, // other content for a held order
		{"e-7", events.TypePlaced, order, 400}, // a value Postgres can never store
	} {
		if code := post(t, h, c.id, c.typ, c.body, nil); code != c.want {
			t.Errorf("%s: status %d, want %d", c.id, code, c.want)
		}
	}
	store.fail = errors.New("database down")
	if code := post(t, h, "e-5", events.TypePlaced, order, nil); code != 500 {
		t.Errorf("status %d, want 500", code)
	}

	var rm metricdata.ResourceMetrics
	if err := in.Metrics.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	handled := map[string]int64{}
	var delays uint64
	var delaySum float64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch m.Name {
			case telemetry.MetricEventsHandled:
				for _, p := range m.Data.(metricdata.Sum[int64]).DataPoints {
					typ, _ := p.Attributes.Value(telemetry.AttrType)
					res, _ := p.Attributes.Value(telemetry.AttrResult)
					handled[typ.AsString()+" "+res.AsString()] += p.Value
				}
			case telemetry.MetricEventsDelay:
				for _, p := range m.Data.(metricdata.Histogram[float64]).DataPoints {
					if v, _ := p.Attributes.Value(telemetry.AttrType); v != attribute.StringValue(events.TypePlaced) {
						t.Errorf("delay recorded for %v", v)
					}
					delays += p.Count
					delaySum += p.Sum
				}
			}
		}
	}
	want := map[string]int64{
		events.TypePlaced + " stored":        2,
		events.TypePlaced + " duplicate":     1,
		events.TypeKafkaRecord + " rejected": 1,
		"com.example.other rejected":         1,
		events.TypePlaced + " conflict":      1,
		events.TypePlaced + " rejected":      1,
		events.TypePlaced + " failed":        1,
	}
	if diff := cmp.Diff(want, handled); diff != "" {
		t.Errorf("events.handled (-want +got):\n%s", diff)
	}
	if delays != 2 || delaySum < 2*0.05 || delaySum > 10 {
		t.Errorf("events.delay: %d records summing to %.3fs, want 2 of about 0.05s", delays, delaySum)
	}
}
