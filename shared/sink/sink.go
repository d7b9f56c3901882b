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

	"github.com/mskafka/knative-functions/shared/cloudevent"
	"github.com/mskafka/knative-functions/shared/events"
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
func Handler(store Store, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ev, err := cloudevent.Read(w, r, MaxEventBody)
		if err != nil {
			log.WarnContext(r.Context(), "event refused", "error", err)
			web.Error(w, cloudevent.Status(err), err.Error())
			return
		}
		ref := Ref{Source: ev.Source(), ID: ev.ID(), Type: ev.Type()}
		log := log.With("ce_id", ref.ID, "ce_type", ref.Type, "ce_source", ref.Source)

		outcome, orderID, err := apply(r.Context(), store, ref, ev.Data())
		if orderID != 0 {
			log = log.With("order_id", orderID)
		}
		switch {
		case errors.Is(err, events.ErrInvalid):
			log.WarnContext(r.Context(), "event rejected", "error", err)
			web.Error(w, http.StatusBadRequest, err.Error())
		case err != nil:
			log.ErrorContext(r.Context(), "event failed", "error", err)
			web.Error(w, http.StatusInternalServerError, "could not store the event, retry later")
		default:
			log.InfoContext(r.Context(), "event handled", "result", string(outcome))
			web.JSON(w, http.StatusOK, map[string]any{"result": outcome, "orderId": orderID})
		}
	})
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
