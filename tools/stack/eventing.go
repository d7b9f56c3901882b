package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/mskafka/knative-functions/shared/telemetry"
	"github.com/mskafka/knative-functions/shared/web"
	"github.com/mskafka/knative-functions/tools/broker/dispatch"
	"github.com/mskafka/knative-functions/tools/broker/manifest"
	"github.com/mskafka/knative-functions/tools/broker/ping"
	"github.com/mskafka/knative-functions/tools/stack/internal/gateway"
	"github.com/mskafka/knative-functions/tools/stack/internal/watch"
)

// startEventing reads infra/eventing once and runs its KafkaSources (the
// dispatchers, with their metrics) and its PingSources against the
// functions' activators in this process.
func (p *platform) startEventing(ctx context.Context, cfg config, srv servers, fns *functions) (eventing, error) {
	dir := filepath.Join(cfg.Root, "infra", "eventing")
	set, err := manifest.Load(dir)
	if err != nil {
		return eventing{}, fmt.Errorf("dispatchers: %w", err)
	}
	logs := func(name string) slog.Handler {
		return slog.NewJSONHandler(p.con.prefixed(name), &slog.HandlerOptions{Level: cfg.LogLevel})
	}
	d, err := dispatch.New(dispatch.Config{
		Brokers: srv.brokers, Sources: set.Sources, KafkaSinks: set.KafkaSinks, Services: fns.urls,
		HTTPClient: &http.Client{Transport: fns.local}, Logger: slog.New(telemetry.LogHandler(logs("dispatch"))), Telemetry: srv.tel,
	})
	if err != nil {
		return eventing{}, fmt.Errorf("dispatchers: %w", err)
	}
	ev := eventing{dispatcher: d, sources: set.Sources, pings: set.Pings, deliveries: &sync.Map{}}
	p.background(ctx, "dispatcher", d.Run)
	p.con.step("dispatchers: %d KafkaSources from %s", len(set.Sources), dir)
	if h := srv.tel.MetricsHandler(); h != nil && cfg.MetricsAddr != "" {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", h)
		if err := p.serve(&http.Server{Addr: cfg.MetricsAddr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}); err != nil {
			// Metrics are a convenience here: a busy port must not stop the stack.
			p.log.Warn("dispatcher metrics not served", "error", err)
		} else {
			fns.mu.Lock()
			fns.state.Metrics = cfg.MetricsAddr
			fns.mu.Unlock()
			p.con.step("dispatchers: metrics on http://%s/metrics", cfg.MetricsAddr)
		}
	}
	// A ping goes through the activators too, so it wakes a function that
	// scaled to zero as it would on a cluster.
	p.background(ctx, "pings", func(ctx context.Context) error {
		return ping.Run(ctx, ping.Config{Pings: set.Pings, Services: fns.urls, Every: cfg.PingInterval,
			Client: &http.Client{Timeout: time.Minute, Transport: fns.local}, Observe: func(d ping.Delivery) { ev.deliveries.Store(d.Source, d) },
			Logger: slog.New(logs("ping"))})
	})
	for _, ps := range set.Pings {
		when := ps.Schedule + " (UTC)"
		if cfg.PingInterval > 0 {
			when = "every " + cfg.PingInterval.String()
		}
		p.con.step("pings: %s to %s, %s", ps.Name, ps.Sink, when)
	}
	return ev, nil
}

// startGateway serves infra/mesh's VirtualService on GATEWAY_ADDR: locally
// what the Apache did in the original and Istio does on a cluster.
//
// The platform page (package watch) is served beside the routes, at
// /platform/: only here, on the local gateway; infra/mesh routes no such path.
func (p *platform) startGateway(cfg config, fns *functions, platformPage http.Handler) error {
	mesh := filepath.Join(cfg.Root, "infra", "mesh")
	routes, err := gateway.Load(mesh)
	if err != nil {
		return err
	}
	// Istio answers an unrouted request with a bare 404; locally the
	// status is the same, with the pages' own "not found" page.
	gw, err := gateway.New(routes, fns.urls, fns.local, web.NotFoundHandler(""))
	if err != nil {
		return fmt.Errorf("routes of %s: %w", mesh, err)
	}
	srv := gw.Server(cfg.Gateway)
	mux := http.NewServeMux()
	mux.Handle(watch.Prefix+"/", http.StripPrefix(watch.Prefix, platformPage))
	mux.Handle("/", gw)
	srv.Handler = mux
	if err := p.serve(srv); err != nil {
		return err
	}
	p.con.step("gateway: %d routes from %s", len(routes), mesh)
	return nil
}

// background runs a part of the platform until the stack stops; if it ends
// before that, the stack fails with it.
func (p *platform) background(ctx context.Context, name string, run func(context.Context) error) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		err := run(ctx)
		if ctx.Err() == nil {
			p.fail(fmt.Errorf("%s stopped: %w", name, err))
		}
		done <- err
	}()
	p.cleanup(func() { cancel(); <-done })
}
