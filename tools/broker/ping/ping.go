// Package ping is the local stand-in for Knative Eventing's PingSource
// adapter: it reads the PingSources of infra/eventing (tools/broker/manifest) and
// POSTs each one's event to its sink on its schedule, as a binary-mode
// CloudEvent of type dev.knative.sources.ping.
package ping

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/google/uuid"
	"github.com/robfig/cron/v3"

	"github.com/mskafka/knative-functions/tools/broker/manifest"
)

// EventType is the type of the events a PingSource sends.
const EventType = "dev.knative.sources.ping"

// Retries of one ping: a sink that answers 5xx (order while Kafka is
// unreachable) is tried again a few times with growing waits; the next
// tick of the schedule is the retry after that.
const (
	retries      = 4
	firstBackoff = time.Second
)

// Config says what to deliver where. Services maps a Knative Service name
// to its local base URL; Every, when set (tests), replaces each schedule
// with a fixed interval; Observe, if set, is told of each PingSource's next
// ping when it is scheduled and of each delivery when it is over.
type Config struct {
	Pings    []manifest.PingSource
	Services map[string]string
	Every    time.Duration
	Logger   *slog.Logger
	Client   *http.Client
	Observe  func(Delivery)
}

// Delivery is what a PingSource did last and when it pings next: when the
// last ping was sent (zero before the first), the sink's last answer (0:
// none), how many sends it took, and why it failed (nil: delivered).
type Delivery struct {
	Source           string
	At, Next         time.Time
	Status, Attempts int
	Err              error
}

// Run delivers the pings until ctx ends. A PingSource whose schedule or
// sink cannot be resolved is an error before anything is sent.
func Run(ctx context.Context, cfg Config) error {
	cfg.Client = cmp.Or(cfg.Client, &http.Client{Timeout: time.Minute})
	type job struct {
		src   manifest.PingSource
		sched cron.Schedule
		url   string
	}
	jobs := make([]job, 0, len(cfg.Pings))
	for _, p := range cfg.Pings {
		// The standard parser is the one Knative's PingSource adapter uses.
		sched, err := cron.ParseStandard(p.Schedule)
		if err != nil {
			return fmt.Errorf("PingSource %s: %w", p.Name, err)
		}
		url, err := p.Sink.URL(cfg.Services)
		if err != nil {
			return fmt.Errorf("PingSource %s: %w", p.Name, err)
		}
		jobs = append(jobs, job{p, sched, url})
	}
	var wg sync.WaitGroup
	for _, j := range jobs {
		wg.Go(func() {
			next := cfg.next(j.sched, time.Now())
			cfg.observe(Delivery{Source: j.src.Name, Next: next})
			for ; sleepUntil(ctx, next); next = cfg.next(j.sched, next) {
				d := cfg.deliver(ctx, j.src, j.url)
				d.Next = cfg.next(j.sched, next)
				cfg.observe(d)
			}
		})
	}
	wg.Wait()
	return ctx.Err()
}

// next is the time of the next ping after t: on the schedule (in UTC, the
// PingSource default), or Every after t.
func (cfg Config) next(s cron.Schedule, t time.Time) time.Time {
	if cfg.Every > 0 {
		return t.Add(cfg.Every)
	}
	return s.Next(t.UTC())
}

// sleepUntil waits until t; false when ctx ended first.
func sleepUntil(ctx context.Context, t time.Time) bool {
	timer := time.NewTimer(time.Until(t))
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}

// observe tells cfg.Observe of d, unless the stack is stopping.
func (cfg Config) observe(d Delivery) {
	if cfg.Observe != nil && !errors.Is(d.Err, context.Canceled) {
		cfg.Observe(d)
	}
}

// deliver sends one ping, retrying network errors and 5xx with backoff.
func (cfg Config) deliver(ctx context.Context, src manifest.PingSource, url string) Delivery {
	at := time.Now()
	id := uuid.NewString()
	log := cfg.Logger.With("source", src.Name, "ce_id", id, "ce_type", EventType)
	attempt := 0
	status, err := backoff.Retry(ctx, func() (int, error) {
		attempt++
		status, err := cfg.send(ctx, src, url, id)
		if err == nil && status >= 500 {
			err = fmt.Errorf("status %d", status)
		}
		if err == nil && status/100 != 2 {
			return status, backoff.Permanent(fmt.Errorf("refused: status %d", status))
		}
		return status, err
	}, backoff.WithBackOff(&backoff.ExponentialBackOff{InitialInterval: firstBackoff, Multiplier: 2, MaxInterval: time.Hour}),
		backoff.WithMaxTries(retries+1), backoff.WithMaxElapsedTime(0),
		backoff.WithNotify(func(err error, wait time.Duration) {
			log.Info("ping failed; retrying", "attempt", attempt, "error", err, "in", wait.String())
		}))
	switch {
	case err == nil:
		log.Info("ping delivered", "status", status, "attempt", attempt)
	case ctx.Err() == nil:
		log.Warn("ping failed; the next one is on schedule", "status", status, "error", err, "attempt", attempt)
	}
	return Delivery{Source: src.Name, At: at, Status: status, Attempts: attempt, Err: err}
}

// send POSTs the ping as a binary-mode CloudEvent and returns the status.
func (cfg Config) send(ctx context.Context, src manifest.PingSource, url, id string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(src.Data))
	if err != nil {
		return 0, fmt.Errorf("ping %s: %w", src.Name, err)
	}
	h := req.Header
	h.Set("Ce-Specversion", "1.0")
	h.Set("Ce-Type", EventType)
	h.Set("Ce-Source", "/apis/v1/namespaces/"+src.Namespace+"/pingsources/"+src.Name)
	h.Set("Ce-Id", id)
	h.Set("Ce-Time", time.Now().UTC().Format(time.RFC3339Nano))
	if src.ContentType != "" {
		h.Set("Content-Type", src.ContentType)
	}
	resp, err := cfg.Client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("ping %s: %w", src.Name, err)
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}
