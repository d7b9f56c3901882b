// Package sink turns CloudEvents POSTed by a KafkaSource into calls on a
// function's store, and answers with the status the sender acts on: 2xx once
// the store has committed, 400 for an event that can never succeed (not
// retried), 5xx for a transient failure (retried).
package sink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/mskafka/knative-functions/shared/cloudevent"
	"github.com/mskafka/knative-functions/shared/db"
	"github.com/mskafka/knative-functions/shared/events"
	"github.com/mskafka/knative-functions/shared/telemetry"
	"github.com/mskafka/knative-functions/shared/web"
)

// MaxEventBody caps an event's size; orders are far smaller.
const MaxEventBody = 256 << 10

// Ref identifies an event for deduplication: (source, id) is unique per the
// CloudEvents spec, so a redelivery carries the same pair.
type Ref struct {
	Source string
	ID     string
	Type   string
}

// Outcome is what a store did with an event.
type Outcome string

// The outcomes.
const (
	Stored    Outcome = "stored"
	Duplicate Outcome = "duplicate"
)

// Store applies events to a function's own tables. Both methods must record
// ref in the same transaction as their change, so that a redelivered event
// reports Duplicate and changes nothing. Errors wrapping events.ErrInvalid
// are permanent.
type Store interface {
	Placed(ctx context.Context, ref Ref, o events.Order) (Outcome, error)
	Cancelled(ctx context.Context, ref Ref, c events.Cancelled) (Outcome, error)
}

// Handler returns the http.Handler for POST / of a sink function.
//
// Each event is handled in a consumer span that continues the producer's
// trace (the event's traceparent extension) and is counted in the
// events.handled metric by type and result (stored, duplicate, rejected,
// conflict, failed); a stored event also records its end-to-end delay.
// Both use tel, given once here (nil: record nothing), so that no request
// has to look its telemetry up or make no-op instruments of its own.
func Handler(store Store, log *slog.Logger, tel *telemetry.Telemetry) http.Handler {
	if tel == nil {
		tel = telemetry.Noop()
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		ev, err := cloudevent.Read(w, r, MaxEventBody)
		if err == nil {
			err = cloudevent.JSONData(ev)
		}
		if err != nil {
			log.WarnContext(ctx, "event refused", "error", err)
			tel.Metrics.EventsHandled.Add(ctx, 1, metric.WithAttributes(telemetry.AttrResult.String(resultRejected)))
			web.Error(w, web.StatusOf(err), err.Error())
			return
		}
		if p, ok := store.(Pruner); ok && ev.Type() == events.TypePing {
			log := log.With("ce_id", ev.ID(), "ce_type", ev.Type(), "ce_source", ev.Source())
			if err := cloudevent.BinaryOnly(r, events.TypePing); err != nil {
				log.WarnContext(ctx, "ping refused: structured mode")
				web.Error(w, web.StatusOf(err), err.Error())
				return
			}
			prune(ctx, w, log, p)
			return
		}
		ref := Ref{Source: ev.Source(), ID: ev.ID(), Type: ev.Type()}
		log := log.With("ce_id", ref.ID, "ce_type", ref.Type, "ce_source", ref.Source)
		ctx, span := startSpan(ctx, tel, ev)
		defer span.End()

		outcome, orderID, err := apply(ctx, store, ref, ev.Data())
		if orderID != 0 {
			log = log.With("order_id", orderID)
			span.SetAttributes(attribute.Int64("order.id", orderID))
		}
		result, err := classify(outcome, err)
		answer(ctx, w, log, span, result, err)
		if err == nil {
			if outcome == Stored && !ev.Time().IsZero() {
				tel.Metrics.EventsDelay.Record(ctx, time.Since(ev.Time()).Seconds(),
					metric.WithAttributes(telemetry.AttrType.String(ref.Type)))
			}
			web.JSON(w, http.StatusOK, map[string]any{"result": outcome, "orderId": orderID})
		}
		span.SetAttributes(attribute.String("event.result", result))
		tel.Metrics.EventsHandled.Add(ctx, 1, metric.WithAttributes(
			telemetry.AttrType.String(ref.Type), telemetry.AttrResult.String(result)))
	})
}

// prune answers a PingSource's ping: it deletes what is past its retention.
// A failure is a 500: the PingSource retries, and the next ping comes anyway.
func prune(ctx context.Context, w http.ResponseWriter, log *slog.Logger, p Pruner) {
	pruned, err := p.Prune(ctx)
	if err != nil {
		log.WarnContext(ctx, "retention failed", "handled_deleted", pruned.Handled, "cancellations_deleted", pruned.Cancellations, "error", err)
		web.Error(w, http.StatusInternalServerError, "retention: "+err.Error())
		return
	}
	log.InfoContext(ctx, "retention", "handled_deleted", pruned.Handled, "cancellations_deleted", pruned.Cancellations, "more", pruned.More)
	web.JSON(w, http.StatusOK, map[string]any{"deleted": pruned})
}

// The results of the events.handled metric besides Stored and Duplicate.
const (
	resultRejected = "rejected" // answered 400: never retried
	resultConflict = "conflict" // answered 400: other content under a known id
	resultFailed   = "failed"   // answered 500: retried
)

// classify names the result of applying an event, and marks the errors
// that can never succeed as web.ErrBadRequest: invalid data, conflicting
// content, and what the database refuses for the value itself.
func classify(outcome Outcome, err error) (string, error) {
	var conflict *ConflictError
	switch {
	case err == nil:
		return string(outcome), nil
	case errors.As(err, &conflict):
		return resultConflict, web.Mark(err, web.ErrBadRequest)
	case errors.Is(err, events.ErrInvalid), db.Permanent(err):
		return resultRejected, web.Mark(err, web.ErrBadRequest)
	default:
		return resultFailed, err
	}
}

// answer logs the result and, for an error, answers it: 400 with the
// reason for a permanent one (the dispatcher dead-letters it with that
// reason), 500 for the others (retried).
func answer(ctx context.Context, w http.ResponseWriter, log *slog.Logger, span trace.Span, result string, err error) {
	var conflict *ConflictError
	switch {
	case err == nil:
		log.InfoContext(ctx, "event handled", "result", result)
	case errors.As(err, &conflict):
		log.WarnContext(ctx, "event conflicts with content held", "error", err,
			"held_digest", fmt.Sprintf("%x", conflict.Held), "event_digest", fmt.Sprintf("%x", conflict.Got))
	case web.StatusOf(err) < http.StatusInternalServerError:
		log.WarnContext(ctx, "event rejected", "error", err)
	default:
		log.ErrorContext(ctx, "event failed", "error", err)
		span.RecordError(err)
	}
	if err == nil {
		return
	}
	span.SetStatus(codes.Error, err.Error())
	if status := web.StatusOf(err); status < http.StatusInternalServerError {
		web.Error(w, status, err.Error())
		return
	}
	web.Error(w, http.StatusInternalServerError, "could not store the event, retry later")
}

// startSpan starts the consumer span of ev. Its parent is the request's
// span when the request continues the producer's trace (a dispatcher that
// propagates it, as Knative's and the local one do); otherwise the
// producer's context from the event's traceparent extension, so the trace
// still runs from the order to this sink, and the request's span is linked.
func startSpan(ctx context.Context, tel *telemetry.Telemetry, ev *event.Event) (context.Context, trace.Span) {
	opts := []trace.SpanStartOption{
		trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(
			semconv.CloudEventsEventID(ev.ID()), semconv.CloudEventsEventSource(ev.Source()),
			semconv.CloudEventsEventType(ev.Type()), semconv.CloudEventsEventSpecVersion(ev.SpecVersion()),
			semconv.MessagingOperationTypeProcess),
	}
	if ev.Subject() != "" {
		opts = append(opts, trace.WithAttributes(semconv.CloudEventsEventSubject(ev.Subject())))
	}
	producer := trace.SpanContextFromContext(telemetry.ExtractEvent(context.Background(), ev))
	here := trace.SpanContextFromContext(ctx)
	if producer.IsValid() && producer.TraceID() != here.TraceID() {
		if here.IsValid() {
			opts = append(opts, trace.WithLinks(trace.Link{SpanContext: here}))
		}
		ctx = trace.ContextWithRemoteSpanContext(ctx, producer)
	}
	return tel.Tracer.Start(ctx, "process "+ev.Type(), opts...)
}

func apply(ctx context.Context, store Store, ref Ref, data []byte) (Outcome, int64, error) {
	switch ref.Type {
	case events.TypePlaced, events.TypeKafkaRecord:
		// A plain Kafka record is accepted when it holds an order in the
		// original's shape; DecodeOrder refuses anything else as invalid.
		o, err := events.DecodeOrder(data)
		if err != nil {
			return "", 0, err
		}
		outcome, err := store.Placed(ctx, ref, o)
		return outcome, o.ID, err
	case events.TypeCancelled:
		c, err := events.DecodeCancelled(data)
		if err != nil {
			return "", 0, err
		}
		outcome, err := store.Cancelled(ctx, ref, c)
		return outcome, c.ID, err
	default:
		return "", 0, fmt.Errorf("%w: unknown event type %q: want %s, %s or %s",
			events.ErrInvalid, ref.Type, events.TypePlaced, events.TypeCancelled, events.TypeKafkaRecord)
	}
}
