package dispatch

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/IBM/sarama"
	"github.com/cloudevents/sdk-go/v2/event"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/mskafka/knative-functions/shared/telemetry"
	"github.com/mskafka/knative-functions/tools/broker/manifest"
)

// deadLetterMaxBackoff caps the wait between attempts to dead-letter an
// event. Those attempts never give up, so the wait must not grow without
// bound.
const deadLetterMaxBackoff = 30 * time.Second

// processor delivers the records of one KafkaSource.
type processor struct {
	src        manifest.KafkaSource
	sink       destination
	deadLetter destination // nil: failed events are dropped
	log        *slog.Logger
	stats      *counters
	tel        *telemetry.Telemetry
}

// recordDispatch records a delivery to the sink that has ended, once per
// event as Knative's dispatcher does: the time since start, the first attempt.
func (p *processor) recordDispatch(ctx context.Context, ev *event.Event, last outcome, start time.Time) {
	p.tel.Metrics.RecordDispatch(ctx, telemetry.KafkaSource{Name: p.src.Name, Namespace: p.src.Namespace},
		ev.Type(), last.status, time.Since(start))
}

// process delivers one record and reports whether its offset may be marked:
// true once the event was delivered, dead-lettered or dropped for good,
// false only when ctx ended first.
func (p *processor) process(ctx context.Context, msg *sarama.ConsumerMessage) bool {
	if ctx.Err() != nil {
		return false
	}
	ev, err := toEvent(msg, p.src.Name, p.src.Namespace)
	ctx, span := p.startSpan(ctx, msg, ev)
	defer span.End()
	if err != nil {
		// A record that can never become an event would block its
		// partition forever; Knative discards it, and so do we.
		p.stats.inc(dropped)
		p.tel.Metrics.RecordDiscarded(ctx, telemetry.KafkaSource{Name: p.src.Name, Namespace: p.src.Namespace})
		span.SetStatus(codes.Error, err.Error())
		p.log.ErrorContext(ctx, "discard record", "source", p.src.Name, "topic", msg.Topic,
			"partition", msg.Partition, "offset", msg.Offset, "error", err)
		return true
	}
	start := time.Now()
	var last outcome
	for attempt := 1; ; attempt++ {
		last = p.attempt(ctx, ev)
		if last.ok() {
			p.stats.inc(delivered)
			p.recordDispatch(ctx, ev, last, start)
			p.logOutcome(ctx, slog.LevelInfo, "delivered", ev, msg, last, attempt)
			return true
		}
		if ctx.Err() != nil {
			p.logOutcome(ctx, slog.LevelInfo, "delivery interrupted", ev, msg, last, attempt)
			return false
		}
		p.stats.failed(ev.ID(), attempt, last)
		if !retryable(last) || attempt > p.src.Delivery.Retry {
			p.recordDispatch(ctx, ev, last, start)
			p.logOutcome(ctx, slog.LevelWarn, "delivery failed", ev, msg, last, attempt)
			break
		}
		p.stats.inc(retried)
		p.logOutcome(ctx, slog.LevelWarn, "delivery failed, will retry", ev, msg, last, attempt)
		if !sleep(ctx, backoff(p.src.Delivery.BackoffPolicy, p.src.Delivery.BackoffDelay, attempt)) {
			return false
		}
	}
	span.SetStatus(codes.Error, fmt.Sprintf("not delivered after %d attempts", p.src.Delivery.Retry+1))
	return p.sendDeadLetter(ctx, msg, ev, last)
}

// startSpan starts the consumer span of a record. Like Knative's
// dispatcher it continues the trace of the raw traceparent record header,
// falling back to the event's distributed tracing extension; the span's
// context travels on in the delivery's HTTP headers.
func (p *processor) startSpan(ctx context.Context, msg *sarama.ConsumerMessage, ev *event.Event) (context.Context, trace.Span) {
	parent := telemetry.ExtractRecord(ctx, msg)
	if !trace.SpanContextFromContext(parent).IsValid() && ev != nil {
		parent = telemetry.ExtractEvent(ctx, ev)
	}
	ctx, span := p.tel.Tracer.Start(parent, "process "+msg.Topic, trace.WithSpanKind(trace.SpanKindConsumer))
	if !span.IsRecording() {
		// Tracing is off: the attributes would be built for nothing, per event.
		return ctx, span
	}
	span.SetAttributes(
		semconv.MessagingSystemKafka, semconv.MessagingOperationTypeProcess, semconv.MessagingOperationName("process"),
		semconv.MessagingDestinationName(msg.Topic),
		semconv.MessagingDestinationPartitionID(strconv.Itoa(int(msg.Partition))),
		semconv.MessagingKafkaOffset(int(msg.Offset)),
		attribute.String("knative.kafkasource.name", p.src.Name),
	)
	if msg.Key != nil {
		span.SetAttributes(semconv.MessagingKafkaMessageKey(strings.ToValidUTF8(string(msg.Key), "\uFFFD")))
	}
	if ev != nil {
		span.SetAttributes(semconv.CloudEventsEventID(ev.ID()), semconv.CloudEventsEventType(ev.Type()))
	}
	return ctx, span
}

// attempt makes one delivery attempt within the per-attempt timeout.
func (p *processor) attempt(ctx context.Context, ev *event.Event) outcome {
	if p.src.Delivery.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.src.Delivery.Timeout)
		defer cancel()
	}
	return p.sink.send(ctx, ev, nil)
}

// sendDeadLetter hands a failed event to the dead letter sink, or drops it
// when there is none. It retries until it succeeds or ctx ends: committing the
// offset of an event that is neither delivered nor dead-lettered would lose it.
func (p *processor) sendDeadLetter(ctx context.Context, msg *sarama.ConsumerMessage, ev *event.Event, last outcome) bool {
	if p.deadLetter == nil {
		p.stats.inc(dropped)
		p.logOutcome(ctx, slog.LevelError, "drop event: no dead letter sink", ev, msg, last, 0)
		return true
	}
	dl := ev.Clone()
	for k, v := range errorExtensions(p.sink.String(), last) {
		dl.SetExtension(k, v)
	}
	for attempt := 1; ; attempt++ {
		out := p.deadLetter.send(ctx, &dl, msg.Key)
		if out.ok() {
			p.stats.inc(deadLettered)
			p.logOutcome(ctx, slog.LevelWarn, "dead-lettered", ev, msg, last, attempt, "dead_letter_sink", p.deadLetter.String())
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		p.logOutcome(ctx, slog.LevelError, "dead-lettering failed, will retry", ev, msg, out, attempt,
			"dead_letter_sink", p.deadLetter.String())
		d := min(backoff(p.src.Delivery.BackoffPolicy, p.src.Delivery.BackoffDelay, attempt), deadLetterMaxBackoff)
		if !sleep(ctx, d) {
			return false
		}
	}
}

func (p *processor) logOutcome(ctx context.Context, level slog.Level, msg string, ev *event.Event,
	rec *sarama.ConsumerMessage, out outcome, attempt int, extra ...any) {
	if !p.log.Enabled(ctx, level) {
		return
	}
	args := append([]any{
		"source", p.src.Name,
		"ce_id", ev.ID(),
		"ce_type", ev.Type(),
		"topic", rec.Topic,
		"partition", rec.Partition,
		"offset", rec.Offset,
		"status", out.status,
		"attempt", attempt,
	}, extra...)
	if out.err != nil {
		args = append(args, "error", out.err)
	}
	p.log.Log(ctx, level, msg, args...)
}

// retryable reports whether a failed attempt is worth repeating. These are
// the statuses Knative retries: the sink may be starting, overloaded or
// briefly missing; any other 4xx says the event itself is refused.
func retryable(o outcome) bool {
	if o.err != nil {
		return true
	}
	switch o.status {
	case http.StatusNotFound, http.StatusRequestTimeout, http.StatusConflict, http.StatusTooManyRequests:
		return true
	}
	return o.status >= 500
}

// backoff returns the wait before retry number n (1 for the first retry):
// delay*n when linear, delay*2^n when exponential, as Knative's data plane
// computes it (cenkalti/backoff has no linear policy and adds jitter).
func backoff(policy manifest.BackoffPolicy, delay time.Duration, n int) time.Duration {
	var f float64
	if policy == manifest.BackoffLinear {
		f = float64(n)
	} else {
		f = math.Exp2(float64(n))
	}
	d := float64(delay) * f
	if d >= math.MaxInt64 {
		return math.MaxInt64
	}
	return time.Duration(d)
}

// sleep waits for d and reports whether ctx is still alive.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
