package order

import (
	"context"
	"fmt"
	"net/http"

	"github.com/mskafka/knative-functions/shared/web"
)

// typePing is the type of the events a Knative PingSource sends. The
// PingSource order-outbox-drain (infra/eventing) sends one on a schedule, so
// an order accepted while Kafka was unreachable is published even when no
// request wakes this function (it scales to zero, and its relay with it).
const typePing = "dev.knative.sources.ping"

// rootEvent takes the CloudEvents POSTed to "/": the ping drains the
// outbox, anything else is an order command. PingSources send binary mode,
// so the type is in a header.
func (s *server) rootEvent(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Ce-Type") != typePing {
		s.placeEvent(w, r)
		return
	}
	log := s.log.With("ce_id", r.Header.Get("Ce-Id"), "ce_type", typePing, "ce_source", r.Header.Get("Ce-Source"))
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
	web.JSON(w, http.StatusOK, map[string]int{"published": n})
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
