package order

import (
	"context"
	"fmt"
	"net/http"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/mskafka/knative-functions/shared/cloudevent"
	"github.com/mskafka/knative-functions/shared/events"
	"github.com/mskafka/knative-functions/shared/web"
)

// typePing is the type of the events a Knative PingSource sends. The
// PingSource order-outbox-drain (infra/eventing) sends one on a schedule, so
// an order accepted while Kafka was unreachable is published even when no
// request wakes this function (it scales to zero, and its relay with it),
// and what is past its retention is deleted.
const typePing = events.TypePing

// rootEvent takes the CloudEvents POSTed to "/". Each is read and
// validated like any other (specversion, id, source, type) before its type
// routes it: the ping drains the outbox, anything else is an order command.
// A request that is no valid CloudEvent drains nothing.
func (s *server) rootEvent(w http.ResponseWriter, r *http.Request) {
	ev, err := cloudevent.Read(w, r, web.MaxJSONBody)
	if err != nil {
		s.fail(w, r, err, retryLater)
		return
	}
	if ev.Type() == typePing {
		s.ping(w, r, ev)
		return
	}
	s.placeEvent(w, r, ev)
}

// ping drains the outbox, then deletes the idempotency keys and sent
// outbox rows past their retention. It takes the ping in binary mode only, the way
// PingSources send it: the public route (infra/mesh/gateway.yaml) does not
// take a request whose ce-type header names the ping, and a structured ping
// carries its type in the body, where no route can see it. So no ping from
// outside gets here.
func (s *server) ping(w http.ResponseWriter, r *http.Request, ev *event.Event) {
	log := s.log.With("ce_id", ev.ID(), "ce_type", ev.Type(), "ce_source", ev.Source())
	if err := cloudevent.BinaryOnly(r, typePing); err != nil {
		log.WarnContext(r.Context(), "ping refused: structured mode")
		s.fail(w, r, err, retryLater)
		return
	}
	if s.drain == nil {
		web.Error(w, http.StatusServiceUnavailable, "no outbox relay")
		return
	}
	n, err := s.drain(r.Context())
	if err != nil {
		// 5xx: the PingSource retries, and the next ping comes anyway.
		log.WarnContext(r.Context(), "outbox drain failed", "published", n, "error", err)
		web.Error(w, http.StatusServiceUnavailable, "outbox not drained: "+err.Error())
		return
	}
	log.InfoContext(r.Context(), "outbox drained", "published", n)
	var pruned Pruned
	if s.prune != nil {
		pruned, err = s.prune(r.Context())
		if err != nil {
			log.WarnContext(r.Context(), "retention failed", "deleted", pruned, "error", err)
			web.Error(w, http.StatusServiceUnavailable, "retention: "+err.Error())
			return
		}
		log.InfoContext(r.Context(), "retention", "keys_deleted", pruned.Keys, "outbox_deleted", pruned.Outbox, "more", pruned.More)
	}
	web.JSON(w, http.StatusOK, map[string]any{"published": n, "deleted": pruned})
}

// Flush sends every unsent outbox row now and reports how many it sent; an
// error means some are left (Kafka unreachable). It uses a producer of its
// own, so the Run goroutine's is untouched; SKIP LOCKED keeps the two from
// sending a row twice.
func (r *Relay) Flush(ctx context.Context) (int, error) {
	own := *r
	own.sender = nil
	defer func() {
		if own.sender != nil {
			own.sender.Close()
		}
	}()
	total := 0
	for {
		n, err := own.sendBatch(ctx)
		total += n
		if err != nil {
			return total, fmt.Errorf("flush outbox: %w", err)
		}
		if n < relayBatch {
			return total, nil
		}
	}
}
