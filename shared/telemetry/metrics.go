package telemetry

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// The names of the instruments, as OpenTelemetry names them. The Prometheus
// endpoint writes dots as underscores and adds _total to counters and
// _seconds to durations: orders.placed is orders_placed_total there.
const (
	MetricOrdersPlaced       = "orders.placed"
	MetricOrdersCancelled    = "orders.cancelled"
	MetricOutboxPublished    = "outbox.published"
	MetricOutboxSendFailures = "outbox.send.failures"
	MetricOutboxBacklog      = "outbox.backlog"
	MetricOutboxOldestAge    = "outbox.oldest.age"
	MetricEventsHandled      = "events.handled"
	MetricEventsDelay        = "events.delay"
)

// The instruments of a KafkaSource dispatcher, named as the data plane of
// eventing-kafka-broker (knative-v1.20 and later, data-plane/core's
// observability/metrics/Metrics.java) names its Micrometer meters, so that one
// dashboard reads the local dispatcher and the cluster's alike. Micrometer's
// Prometheus registry appends a meter's base unit, then _total to counters:
// the names below are chosen so that this project's exporter writes exactly
// the names the platform's /metrics shows.
const (
	// MetricDispatchLatency is kn_eventing_dispatch_latency_milliseconds
	// (_bucket, _sum, _count): the unit ms becomes _milliseconds.
	MetricDispatchLatency = "kn.eventing.dispatch.latency"
	// MetricDiscardedEvents is kn_eventing_kafka_discarded_events_1_total.
	// The platform's base unit is "1", which Micrometer writes into the name;
	// an OpenTelemetry exporter drops a unit of 1, so here it is in the name.
	MetricDiscardedEvents = "kn.eventing.kafka.discarded_events_1"
)

// Attribute keys of the instruments.
const (
	// AttrType is a CloudEvent type.
	AttrType = attribute.Key("type")
	// AttrResult is what a sink did with an event: stored, duplicate,
	// rejected (400, never retried) or failed (5xx, retried).
	AttrResult = attribute.Key("result")

	// The tags of the platform's dispatch meters (Metrics.Tags there). The
	// Prometheus endpoint writes dots as underscores: kn_kafkasource_name.

	// AttrKafkaSourceName is the KafkaSource a dispatcher delivers for.
	AttrKafkaSourceName = attribute.Key("kn.kafkasource.name")
	// AttrKafkaSourceNamespace is that KafkaSource's namespace.
	AttrKafkaSourceNamespace = attribute.Key("kn.kafkasource.namespace")
	// AttrConsumerName is, as on the platform, the KafkaSource's name again
	// (not its consumer group id).
	AttrConsumerName = attribute.Key("messaging.consumer.group.name")
	// AttrEventType is the CloudEvent type; InvalidCloudEvent for a record
	// that is no event.
	AttrEventType = attribute.Key("cloudevents.type")
	// AttrResponseStatusCode is the HTTP status of a delivery's last response.
	AttrResponseStatusCode = attribute.Key("http.response.status_code")
)

// invalidEventType is the event type the platform tags a discarded record with.
const invalidEventType = "InvalidCloudEvent"

// delayBuckets bound the histogram of end-to-end delays: from a few
// milliseconds (a local run) to the minutes a backlog after an outage takes.
func delayBuckets() []float64 {
	return []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300}
}

// dispatchBuckets are the platform's (LATENCY_SLOs there), in milliseconds.
func dispatchBuckets() []float64 {
	return []float64{50, 100, 500, 1000, 5000, 10000}
}

// Metrics are the instruments of this project. Each process records only
// those of its role; an instrument never recorded is not exported.
type Metrics struct {
	meter metric.Meter

	// OrdersPlaced counts orders accepted (a repeated command not again).
	OrdersPlaced metric.Int64Counter
	// OrdersCancelled counts orders cancelled.
	OrdersCancelled metric.Int64Counter
	// OutboxPublished counts outbox events Kafka acknowledged, by type.
	OutboxPublished metric.Int64Counter
	// OutboxSendFailures counts relay rounds that failed to reach Kafka.
	OutboxSendFailures metric.Int64Counter
	// EventsHandled counts the events a sink answered, by type and result.
	EventsHandled metric.Int64Counter
	// EventsDelay is the time from an event's time attribute (for
	// com.example.order.placed: the moment the order was accepted) to the
	// commit of the shipment or invoice, in seconds, by type.
	EventsDelay metric.Float64Histogram
	// DispatchLatency is the time a dispatcher spent delivering an event to
	// its sink, in milliseconds; record it with RecordDispatch.
	DispatchLatency metric.Float64Histogram
	// DiscardedEvents counts records a dispatcher discarded because they are
	// no CloudEvent; add to it with RecordDiscarded.
	DiscardedEvents metric.Int64Counter
}

func newMetrics(m metric.Meter) (*Metrics, error) {
	var errs []error
	counter := func(name, unit, desc string) metric.Int64Counter {
		c, err := m.Int64Counter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return c
	}
	delay, err := m.Float64Histogram(MetricEventsDelay, metric.WithUnit("s"),
		metric.WithDescription("time from the event's creation (order accepted) to the sink's commit"),
		metric.WithExplicitBucketBoundaries(delayBuckets()...))
	errs = append(errs, err)
	dispatch, err := m.Float64Histogram(MetricDispatchLatency, metric.WithUnit("ms"),
		metric.WithDescription("The time spent dispatching an event to Kafka"), // sic, as the platform says
		metric.WithExplicitBucketBoundaries(dispatchBuckets()...))
	errs = append(errs, err)
	ms := &Metrics{
		meter:              m,
		OrdersPlaced:       counter(MetricOrdersPlaced, "{order}", "orders accepted"),
		OrdersCancelled:    counter(MetricOrdersCancelled, "{order}", "orders cancelled"),
		OutboxPublished:    counter(MetricOutboxPublished, "{event}", "outbox events acknowledged by Kafka"),
		OutboxSendFailures: counter(MetricOutboxSendFailures, "{round}", "outbox relay rounds that failed"),
		EventsHandled:      counter(MetricEventsHandled, "{event}", "events answered by a sink, by type and result"),
		EventsDelay:        delay,
		DispatchLatency:    dispatch,
		DiscardedEvents:    counter(MetricDiscardedEvents, "", "Number of invalid events discarded"),
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("telemetry: instruments: %w", err)
	}
	return ms, nil
}

// KafkaSource names the KafkaSource a dispatcher delivers for.
type KafkaSource struct {
	Name, Namespace string
}

// attrs are the tags the platform puts on every meter of a KafkaSource's
// consumer (ConsumerVerticleContext's tags).
func (s KafkaSource) attrs(extra ...attribute.KeyValue) metric.MeasurementOption {
	return metric.WithAttributes(append([]attribute.KeyValue{
		AttrConsumerName.String(s.Name),
		AttrKafkaSourceName.String(s.Name),
		AttrKafkaSourceNamespace.String(s.Namespace),
	}, extra...)...)
}

// RecordDispatch records a delivery to a sink that has ended, as the
// platform's dispatcher does: once per event, not per attempt, with the time
// from the first attempt to the last response (retries and their backoff
// included) and that response's status, whether it succeeded or the event
// goes on to the dead letter sink.
//
// A delivery that ended without any response (connection refused, timeout)
// is not recorded. The platform tags it with the event type alone, and its
// Prometheus registry refuses a meter whose tag keys differ from the first
// one of the name, so on a cluster it does not reach /metrics either.
func (m *Metrics) RecordDispatch(ctx context.Context, src KafkaSource, eventType string, status int, d time.Duration) {
	if status == 0 {
		return
	}
	m.DispatchLatency.Record(ctx, float64(d)/float64(time.Millisecond),
		src.attrs(AttrResponseStatusCode.String(strconv.Itoa(status)), AttrEventType.String(eventType)))
}

// RecordDiscarded counts a record of src that is no CloudEvent and was
// discarded.
func (m *Metrics) RecordDiscarded(ctx context.Context, src KafkaSource) {
	m.DiscardedEvents.Add(ctx, 1, src.attrs(AttrEventType.String(invalidEventType)))
}

// Backlog is the state of an outbox: how many events wait and since when.
type Backlog struct {
	Unsent int64
	// Oldest is the creation time of the oldest unsent event; zero when none.
	Oldest time.Time
}

// ObserveOutbox registers the outbox gauges; read is called at each
// collection (each scrape of /metrics) and should be quick.
func (m *Metrics) ObserveOutbox(read func(context.Context) (Backlog, error)) error {
	count, err1 := m.meter.Int64ObservableGauge(MetricOutboxBacklog, metric.WithUnit("{event}"),
		metric.WithDescription("outbox events not yet acknowledged by Kafka"))
	age, err2 := m.meter.Float64ObservableGauge(MetricOutboxOldestAge, metric.WithUnit("s"),
		metric.WithDescription("age of the oldest unsent outbox event; 0 when none waits"))
	if err := errors.Join(err1, err2); err != nil {
		return fmt.Errorf("telemetry: outbox gauges: %w", err)
	}
	_, err := m.meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		b, err := read(ctx)
		if err != nil {
			return err
		}
		o.ObserveInt64(count, b.Unsent)
		a := 0.0
		if !b.Oldest.IsZero() {
			a = max(time.Since(b.Oldest).Seconds(), 0)
		}
		o.ObserveFloat64(age, a)
		return nil
	}, count, age)
	if err != nil {
		return fmt.Errorf("telemetry: outbox gauges: %w", err)
	}
	return nil
}
