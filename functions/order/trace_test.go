package order

import (
	"context"
	"log/slog"
	"testing"

	"github.com/IBM/sarama"
	"github.com/cloudevents/sdk-go/protocol/kafka_sarama/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/google/go-cmp/cmp"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/mskafka/knative-functions/shared/db"
	"github.com/mskafka/knative-functions/shared/events"
	"github.com/mskafka/knative-functions/shared/telemetry"
	"github.com/mskafka/knative-functions/shared/testenv"
)

// The order's request span holds the Postgres spans of Place; the relay,
// later and in another goroutine, sends the record in a producer span that
// continues the request's trace (from the outbox row) and writes that
// span's context into the record twice: the event's traceparent extension
// and a raw traceparent header. The outbox gauges and counters follow.
func TestPostgresRelayContinuesTrace(t *testing.T) {
	plain := testPool(t)
	ctx := context.Background()
	rec := testenv.Telemetry(t, "order")
	tel, spans, metrics := rec.Telemetry, rec.Spans, rec.Metrics
	pool, err := db.Open(ctx, testenv.PostgresURL(t), plain.Config().ConnConfig.RuntimeParams["search_path"], 4,
		db.WithTracing(tel.TracerProvider))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	kafka := &fakeSender{}
	relay := NewRelay(pool, "order", 0, func() (Sender, error) { return kafka, nil }, slog.New(slog.DiscardHandler), WithTelemetry(tel))
	if err := tel.Metrics.ObserveOutbox(relay.Backlog); err != nil {
		t.Fatal(err)
	}
	store := counted{NewStore(pool), tel.Metrics}

	reqCtx, request := tel.Tracer.Start(ctx, "POST /new", trace.WithSpanKind(trace.SpanKindServer))
	placed, err := store.Place(reqCtx, validRequest(), nil)
	request.End()
	if err != nil {
		t.Fatal(err)
	}
	if got := gauges(t, metrics); got["backlog"] != 1 || got["age"] <= 0 {
		t.Errorf("before the relay: outbox gauges %v, want 1 event waiting", got)
	}
	relay.drain(ctx)
	if got := gauges(t, metrics); got["backlog"] != 0 || got["age"] != 0 {
		t.Errorf("after the relay: outbox gauges %v, want none waiting", got)
	}

	byName := map[string][]sdktrace.ReadOnlySpan{}
	for _, s := range spans.Ended() {
		byName[s.Name()] = append(byName[s.Name()], s)
	}
	reqSC := request.SpanContext()
	// The order's transaction is two round trips (batches), each with a
	// span per statement under it.
	batches := map[trace.SpanID]bool{}
	for _, b := range byName["BATCH"] {
		if b.Parent().SpanID() == reqSC.SpanID() {
			batches[b.SpanContext().SpanID()] = true
		}
	}
	if len(batches) != 2 {
		t.Errorf("%d Postgres BATCH spans under the request span, want 2", len(batches))
	}
	for _, name := range []string{"BEGIN", "SELECT customer", "SELECT item", "INSERT orders", "COMMIT"} {
		if len(byName[name]) == 0 || !batches[byName[name][0].Parent().SpanID()] {
			t.Errorf("no Postgres span %q under a batch of the request", name)
		}
	}
	sends := byName["send order"]
	rounds := byName["outbox relay"]
	if len(sends) != 1 || len(rounds) != 1 {
		t.Fatalf("got %d send and %d relay spans, want 1 each; spans: %v", len(sends), len(rounds), byName)
	}
	send, round := sends[0], rounds[0]
	if send.SpanKind() != trace.SpanKindProducer || send.Parent().SpanID() != reqSC.SpanID() || send.SpanContext().TraceID() != reqSC.TraceID() {
		t.Errorf("send span kind %v parent %v, want a producer span under the request %v", send.SpanKind(), send.Parent(), reqSC)
	}
	if len(round.Links()) != 1 || round.Links()[0].SpanContext.SpanID() != reqSC.SpanID() || round.Parent().IsValid() {
		t.Errorf("relay span links %v parent %v: want a root linked to the request", round.Links(), round.Parent())
	}
	// The sent marks and the commit are one batch under the relay's span.
	var marks trace.SpanID
	for _, b := range byName["BATCH"] {
		if b.Parent().SpanID() == round.SpanContext().SpanID() {
			marks = b.SpanContext().SpanID()
		}
	}
	for _, name := range []string{"UPDATE outbox", "COMMIT"} {
		found := false
		for _, s := range byName[name] {
			found = found || s.Parent().SpanID() == marks
		}
		if !found {
			t.Errorf("no Postgres span %q under a batch of the relay span", name)
		}
	}

	if len(kafka.sent) != 1 {
		t.Fatalf("sent %d records, want 1", len(kafka.sent))
	}
	msg := kafka.sent[0]
	sc := send.SpanContext()
	want := "00-" + sc.TraceID().String() + "-" + sc.SpanID().String() + "-01"
	raw := map[string]string{}
	for _, h := range msg.Headers {
		raw[string(h.Key)] = string(h.Value)
	}
	if raw["traceparent"] != want || raw["ce_traceparent"] != want {
		t.Errorf("record headers traceparent %q ce_traceparent %q, want both %q", raw["traceparent"], raw["ce_traceparent"], want)
	}
	consumed := &sarama.ConsumerMessage{Value: mustBytes(t, msg.Value)}
	for _, h := range msg.Headers {
		consumed.Headers = append(consumed.Headers, &sarama.RecordHeader{Key: h.Key, Value: h.Value})
	}
	ev, err := binding.ToEvent(ctx, kafka_sarama.NewMessageFromConsumerMessage(consumed))
	if err != nil {
		t.Fatal(err)
	}
	if ev.ID() != placed.Event.ID || ev.Extensions()["traceparent"] != want {
		t.Errorf("event %s with traceparent %v, want %s with %s", ev.ID(), ev.Extensions()["traceparent"], placed.Event.ID, want)
	}

	counts := map[string]int64{}
	var rm metricdata.ResourceMetrics
	if err := metrics.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	for _, m := range rm.ScopeMetrics[0].Metrics {
		if s, ok := m.Data.(metricdata.Sum[int64]); ok {
			for _, p := range s.DataPoints {
				typ, _ := p.Attributes.Value(telemetry.AttrType)
				counts[m.Name+" "+typ.AsString()] += p.Value
			}
		}
	}
	wantCounts := map[string]int64{
		telemetry.MetricOrdersPlaced + " ":                        1,
		telemetry.MetricOutboxPublished + " " + events.TypePlaced: 1,
	}
	if diff := cmp.Diff(wantCounts, counts); diff != "" {
		t.Errorf("counters (-want +got):\n%s", diff)
	}
}

func gauges(t *testing.T, r *sdkmetric.ManualReader) map[string]float64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Gauge[int64]:
				if m.Name == telemetry.MetricOutboxBacklog {
					got["backlog"] = float64(d.DataPoints[0].Value)
				}
			case metricdata.Gauge[float64]:
				if m.Name == telemetry.MetricOutboxOldestAge {
					got["age"] = d.DataPoints[0].Value
				}
			}
		}
	}
	return got
}

func mustBytes(t *testing.T, e sarama.Encoder) []byte {
	t.Helper()
	b, err := e.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}
