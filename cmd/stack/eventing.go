package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"time"

	"github.com/mskafka/knative-functions/broker/dispatch"
	"github.com/mskafka/knative-functions/broker/manifest"
	"github.com/mskafka/knative-functions/broker/ping"
	"github.com/mskafka/knative-functions/shared/telemetry"
)

// startDispatchers runs the KafkaSources of infra/eventing against the
// functions' activators (in this process), and serves the dispatcher's metrics.
func (s *stack) startDispatchers(ctx context.Context) error {
	if s.cfg.Only != "" {
		return nil
	}
	eventing := filepath.Join(s.cfg.Root, "infra", "eventing")
	set, err := s.eventing()
	if err != nil {
		return err
	}
	s.background(ctx, "dispatcher", func(ctx context.Context) error {
		return dispatch.Run(ctx, dispatch.Config{
			Brokers: s.brokers, Sources: set.Sources, KafkaSinks: set.KafkaSinks, Services: s.urls,
			HTTPClient: &http.Client{Transport: s.local},
			Logger:     slog.New(telemetry.LogHandler(slog.NewJSONHandler(s.con.prefixed("dispatch"), s.logOptions()))),
			Telemetry:  s.tel,
		})
	})
	s.con.step("dispatchers: %d KafkaSources from %s", len(set.Sources), eventing)
	if h := s.tel.MetricsHandler(); h != nil && s.cfg.MetricsAddr != "" {
		srv, err := serveMetrics(s.cfg.MetricsAddr, h)
		if err != nil {
			// Metrics are a convenience here: a busy port must not stop the stack.
			s.log.Warn("dispatcher metrics not served", "error", err)
			return nil
		}
		s.cleanup(func() { srv.Close() })
		s.con.step("dispatchers: metrics on http://%s/metrics", s.cfg.MetricsAddr)
	}
	return nil
}

// startPings delivers the PingSources of infra/eventing on their schedules
// (e.g. the outbox drain of order), through the functions' activators, so
// a ping wakes a function that scaled to zero as it would on a cluster.
func (s *stack) startPings(ctx context.Context) error {
	if s.cfg.Only != "" {
		return nil
	}
	set, err := s.eventing()
	if err != nil {
		return err
	}
	s.background(ctx, "pings", func(ctx context.Context) error {
		return ping.Run(ctx, ping.Config{Pings: set.Pings, Services: s.urls, Every: s.cfg.PingInterval,
			Client: &http.Client{Timeout: time.Minute, Transport: s.local},
			Logger: slog.New(slog.NewJSONHandler(s.con.prefixed("ping"), s.logOptions()))})
	})
	for _, p := range set.Pings {
		when := p.Schedule + " (UTC)"
		if s.cfg.PingInterval > 0 {
			when = "every " + s.cfg.PingInterval.String()
		}
		s.con.step("pings: %s to %s, %s", p.Name, p.Sink, when)
	}
	return nil
}

// logOptions are those of the dispatchers' and pings' logs.
func (s *stack) logOptions() *slog.HandlerOptions {
	return &slog.HandlerOptions{Level: s.cfg.LogLevel}
}

// eventing reads the manifests of infra/eventing once, for the dispatchers
// and the pings alike.
func (s *stack) eventing() (*manifest.Set, error) {
	if s.eventingSet == nil {
		set, err := manifest.Load(filepath.Join(s.cfg.Root, "infra", "eventing"))
		if err != nil {
			return nil, err
		}
		s.eventingSet = &set
	}
	return s.eventingSet, nil
}

// background runs a part of the platform until the stack stops; if it ends
// before that, the stack fails with it.
func (s *stack) background(ctx context.Context, name string, run func(context.Context) error) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		err := run(ctx)
		if ctx.Err() == nil {
			s.fail(fmt.Errorf("%s stopped: %w", name, err))
		}
		done <- err
	}()
	s.cleanup(func() { cancel(); <-done })
}
