package telemetry

import (
	"context"
	"strings"

	"github.com/IBM/sarama"
	"github.com/cloudevents/sdk-go/v2/event"
	"go.opentelemetry.io/contrib/propagators/b3"
	"go.opentelemetry.io/otel/propagation"
)

// Propagator returns the propagator for HTTP: W3C trace context and
// baggage, then B3, so that an Envoy sidecar under Istio (which speaks B3)
// and this code take part in the same trace. B3 comes last: when a sidecar
// sent both, its own span is the parent.
func Propagator() propagation.TextMapPropagator {
	return propagation.NewCompositeTextMapPropagator(
		propagation.TraceContext{}, propagation.Baggage{},
		b3.New(b3.WithInjectEncoding(b3.B3MultipleHeader)))
}

// The CloudEvents distributed tracing extension holds exactly the W3C
// traceparent and tracestate, so events use the trace context propagator.
var _ propagation.TextMapCarrier = eventCarrier{}

// InjectEvent writes the trace context of ctx into ev's traceparent and
// tracestate extensions (removing stale ones when ctx carries none).
func InjectEvent(ctx context.Context, ev *event.Event) {
	ev.SetExtension("traceparent", nil)
	ev.SetExtension("tracestate", nil)
	propagation.TraceContext{}.Inject(ctx, eventCarrier{ev})
}

// ExtractEvent returns ctx with the remote span context of ev's
// distributed tracing extension, if it has one.
func ExtractEvent(ctx context.Context, ev *event.Event) context.Context {
	return propagation.TraceContext{}.Extract(ctx, eventCarrier{ev})
}

type eventCarrier struct{ ev *event.Event }

func (c eventCarrier) Get(key string) string {
	v, ok := c.ev.Extensions()[key]
	if !ok {
		return ""
	}
	s, _ := v.(string)
	return s
}

func (c eventCarrier) Set(key, value string) {
	if key == "traceparent" || key == "tracestate" {
		c.ev.SetExtension(key, value)
	}
}

func (c eventCarrier) Keys() []string { return []string{"traceparent", "tracestate"} }

// recordPropagator writes raw Kafka record headers: traceparent (which
// Knative's Kafka dispatcher reads), tracestate and baggage.
func recordPropagator() propagation.TextMapPropagator {
	return propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
}

// InjectRecord writes the trace context of ctx as raw headers of msg,
// replacing headers of the same names.
func InjectRecord(ctx context.Context, msg *sarama.ProducerMessage) {
	recordPropagator().Inject(ctx, (*producerCarrier)(msg))
}

// ExtractRecord returns ctx with the remote span context of msg's raw
// trace headers, if it has them.
func ExtractRecord(ctx context.Context, msg *sarama.ConsumerMessage) context.Context {
	return recordPropagator().Extract(ctx, consumerCarrier(msg.Headers))
}

type producerCarrier sarama.ProducerMessage

func (c *producerCarrier) Get(key string) string {
	for _, h := range c.Headers {
		if strings.EqualFold(string(h.Key), key) {
			return string(h.Value)
		}
	}
	return ""
}

func (c *producerCarrier) Set(key, value string) {
	for i, h := range c.Headers {
		if strings.EqualFold(string(h.Key), key) {
			c.Headers[i].Value = []byte(value)
			return
		}
	}
	c.Headers = append(c.Headers, sarama.RecordHeader{Key: []byte(key), Value: []byte(value)})
}

func (c *producerCarrier) Keys() []string {
	keys := make([]string, len(c.Headers))
	for i, h := range c.Headers {
		keys[i] = string(h.Key)
	}
	return keys
}

type consumerCarrier []*sarama.RecordHeader

func (c consumerCarrier) Get(key string) string {
	for _, h := range c {
		if h != nil && strings.EqualFold(string(h.Key), key) {
			return string(h.Value)
		}
	}
	return ""
}

func (c consumerCarrier) Set(string, string) {}

func (c consumerCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for _, h := range c {
		if h != nil {
			keys = append(keys, string(h.Key))
		}
	}
	return keys
}
