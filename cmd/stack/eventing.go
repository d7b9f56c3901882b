package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/mskafka/knative-functions/broker/dispatch"
	"github.com/mskafka/knative-functions/broker/manifest"
	"github.com/mskafka/knative-functions/broker/ping"
	"github.com/mskafka/knative-functions/shared/telemetry"
)

// startDispatchers runs the KafkaSources of infra/eventing against the
// functions' activators, and serves the dispatcher's metrics.
func (s *stack) startDispatchers(ctx context.Context) error {
	if s.cfg.Only != "" {
		return nil
	}
	eventing := filepath.Join(s.cfg.Root, "infra", "eventing")
	set, err := manifest.Load(eventing)
	if err != nil {
		return err
	}
	dctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		err := dispatch.Run(dctx, dispatch.Config{
			Brokers: s.brokers, Sources: set.Sources, KafkaSinks: set.KafkaSinks, Services: s.urls,
			Logger:    slog.New(telemetry.LogHandler(slog.NewJSONHandler(s.con.prefixed("dispatch"), nil))),
			Telemetry: s.tel,
		})
		if dctx.Err() == nil {
			s.fail(fmt.Errorf("dispatcher stopped: %w", err))
		}
		done <- err
	}()
	s.cleanup(func() { cancel(); <-done })
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
	eventing := filepath.Join(s.cfg.Root, "infra", "eventing")
	set, err := manifest.Load(eventing)
	if err != nil {
		return err
	}
	pctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		err := ping.Run(pctx, ping.Config{Pings: set.Pings, Services: s.urls, Every: s.cfg.PingInterval,
			Logger: slog.New(slog.NewJSONHandler(s.con.prefixed("ping"), nil))})
		if pctx.Err() == nil {
			s.fail(fmt.Errorf("pings stopped: %w", err))
		}
		done <- err
	}()
	s.cleanup(func() { cancel(); <-done })
	for _, p := range set.Pings {
		when := p.Schedule + " (UTC)"
		if s.cfg.PingInterval > 0 {
			when = "every " + s.cfg.PingInterval.String()
		}
		s.con.step("pings: %s to %s, %s", p.Name, p.Sink, when)
	}
	return nil
}
