package telemetry

import (
	"context"
	"errors"
	"fmt"
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
	MetricDispatchDelivered  = "dispatch.delivered"
	MetricDispatchRetries    = "dispatch.retries"
	MetricDispatchDeadLetter = "dispatch.dead_letters"
	MetricDispatchDropped    = "dispatch.dropped"
)

// Attribute keys of the instruments.
const (
	// AttrType is a CloudEvent type.
	AttrType = attribute.Key("type")
	// AttrResult is what a sink did with an event: stored, duplicate,
	// rejected (400, never retried) or failed (5xx, retried).
	AttrResult = attribute.Key("result")
	// AttrSource is the KafkaSource a dispatcher delivers for.
	AttrSource = attribute.Key("source")
)

// delayBuckets bound the histogram of end-to-end delays: from a few
// milliseconds (a local run) to the minutes a backlog after an outage takes.
func delayBuckets() []float64 {
	return []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300}
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
	// DispatchDelivered counts events a sink accepted, by source.
	DispatchDelivered metric.Int64Counter
	// DispatchRetries counts failed attempts that were repeated, by source.
	DispatchRetries metric.Int64Counter
	// DispatchDeadLetters counts events handed to a dead letter sink, by source.
	DispatchDeadLetters metric.Int64Counter
	// DispatchDropped counts events given up without a dead letter sink and
	// records that are no valid CloudEvent, by source.
	DispatchDropped metric.Int64Counter
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
	ms := &Metrics{
		meter:               m,
		OrdersPlaced:        counter(MetricOrdersPlaced, "{order}", "orders accepted"),
		OrdersCancelled:     counter(MetricOrdersCancelled, "{order}", "orders cancelled"),
		OutboxPublished:     counter(MetricOutboxPublished, "{event}", "outbox events acknowledged by Kafka"),
		OutboxSendFailures:  counter(MetricOutboxSendFailures, "{round}", "outbox relay rounds that failed"),
		EventsHandled:       counter(MetricEventsHandled, "{event}", "events answered by a sink, by type and result"),
		EventsDelay:         delay,
		DispatchDelivered:   counter(MetricDispatchDelivered, "{event}", "events a sink accepted"),
		DispatchRetries:     counter(MetricDispatchRetries, "{attempt}", "failed delivery attempts that were repeated"),
		DispatchDeadLetters: counter(MetricDispatchDeadLetter, "{event}", "events handed to the dead letter sink"),
		DispatchDropped:     counter(MetricDispatchDropped, "{event}", "events given up without a dead letter sink"),
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("telemetry: instruments: %w", err)
	}
	return ms, nil
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
