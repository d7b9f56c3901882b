package dispatch

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/IBM/sarama"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/mskafka/knative-functions/shared/telemetry"
	"github.com/mskafka/knative-functions/shared/testenv"
	"github.com/mskafka/knative-functions/tools/broker/manifest"
)

const (
	producerTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	producerSpan  = "00f067aa0ba902b7"
	eventTrace    = "80f198ee56343ba864fe8b2a57d3eff7"
	eventSpan     = "e457b5a2e4d86bd1"
)

func tracedRecord(raw, ce string) *sarama.ConsumerMessage {
	h := []*sarama.RecordHeader{
		{Key: []byte("ce_specversion"), Value: []byte("1.0")},
		{Key: []byte("ce_id"), Value: []byte("e-1")},
		{Key: []byte("ce_source"), Value: []byte("/order")},
		{Key: []byte("ce_type"), Value: []byte("com.example.order.placed")},
		{Key: []byte("content-type"), Value: []byte("application/json")},
	}
	if raw != "" {
		h = append(h, &sarama.RecordHeader{Key: []byte("traceparent"), Value: []byte(raw)})
	}
	if ce != "" {
		h = append(h, &sarama.RecordHeader{Key: []byte("ce_traceparent"), Value: []byte(ce)})
	}
	return &sarama.ConsumerMessage{Topic: "order", Partition: 1, Offset: 4, Key: []byte("7"), Value: []byte(`{"id":7}`), Headers: h}
}

// captured records the trace headers of the requests a sink received.
type captured struct {
	mu   sync.Mutex
	seen []string
}

func (c *captured) server(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		c.seen = append(c.seen, r.Header.Get("Traceparent")+" "+r.Header.Get("Ce-Traceparent"))
		c.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	return srv
}

func processorFor(t *testing.T, url string, tel *telemetry.Telemetry) *processor {
	t.Helper()
	d, err := New(Config{
		Brokers: []string{"127.0.0.1:1"},
		Sources: []manifest.KafkaSource{{Name: "order-to-shipping", Namespace: "ms-kafka", Topics: []string{"order"},
			ConsumerGroup: "shipping", Sink: manifest.Destination{URI: url}}},
		Telemetry: tel,
	})
	if err != nil {
		t.Fatal(err)
	}
	return d.sources[0]
}

// Like Knative's dispatcher, the local one continues the trace of the raw
// traceparent header (else of the event's extension) in a consumer span,
// and the delivery's HTTP headers carry it on; the event's own extension
// travels unchanged.
func TestProcessContinuesTrace(t *testing.T) {
	raw := "00-" + producerTrace + "-" + producerSpan + "-01"
	ce := "00-" + eventTrace + "-" + eventSpan + "-01"
	tests := []struct {
		name          string
		raw, ce       string
		trace, parent string
	}{
		{"raw header", raw, ce, producerTrace, producerSpan},
		{"extension only", "", ce, eventTrace, eventSpan},
		{"none", "", "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recorded := testenv.Telemetry(t, "dispatcher")
			tel, rec := recorded.Telemetry, recorded.Spans
			var sink captured
			p := processorFor(t, sink.server(t).URL+"/", tel)
			if !p.process(context.Background(), tracedRecord(tt.raw, tt.ce)) {
				t.Fatal("not processed")
			}
			var consumer, client sdktrace.ReadOnlySpan
			for _, s := range rec.Ended() {
				switch s.SpanKind() {
				case trace.SpanKindConsumer:
					consumer = s
				case trace.SpanKindClient:
					client = s
				}
			}
			if consumer == nil || client == nil {
				t.Fatalf("spans %v: want a consumer and a client span", rec.Ended())
			}
			if consumer.Name() != "process order" {
				t.Errorf("consumer span %q", consumer.Name())
			}
			if tt.trace != "" && (consumer.SpanContext().TraceID().String() != tt.trace || consumer.Parent().SpanID().String() != tt.parent) {
				t.Errorf("consumer span in trace %s under %s, want %s under %s",
					consumer.SpanContext().TraceID(), consumer.Parent().SpanID(), tt.trace, tt.parent)
			}
			if tt.trace == "" && consumer.Parent().IsValid() {
				t.Errorf("consumer span has parent %v, want a new trace", consumer.Parent())
			}
			if client.Parent().SpanID() != consumer.SpanContext().SpanID() {
				t.Errorf("client span's parent %s, want the consumer span %s", client.Parent().SpanID(), consumer.SpanContext().SpanID())
			}
			sc := client.SpanContext()
			want := "00-" + sc.TraceID().String() + "-" + sc.SpanID().String() + "-01 " + tt.ce
			if len(sink.seen) != 1 || sink.seen[0] != want {
				t.Errorf("sink got trace headers %q, want %q", sink.seen, want)
			}
		})
	}
}

// Without telemetry nothing is recorded, yet the trace context still
// reaches the sink, so a traced sink joins the producer's trace.
func TestProcessPassesTraceWithoutTelemetry(t *testing.T) {
	var sink captured
	p := processorFor(t, sink.server(t).URL+"/", nil)
	if _, ok := p.tel.TracerProvider.(tracenoop.TracerProvider); !ok {
		t.Fatalf("tracer provider %T, want no-op", p.tel.TracerProvider)
	}
	raw := "00-" + producerTrace + "-" + producerSpan + "-01"
	if !p.process(context.Background(), tracedRecord(raw, "")) {
		t.Fatal("not processed")
	}
	if len(sink.seen) != 1 || sink.seen[0] != raw+" " {
		t.Errorf("sink got trace headers %q, want %q", sink.seen, raw)
	}
}
