package main

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/mskafka/knative-functions/cmd/stack/internal/gateway"
	"github.com/mskafka/knative-functions/shared/web"
)

// startGateway serves infra/mesh's VirtualService on GATEWAY_ADDR: locally
// what the Apache did in the original and Istio does on a cluster.
func (s *stack) startGateway(context.Context) error {
	if s.cfg.Only != "" {
		return nil
	}
	mesh := filepath.Join(s.cfg.Root, "infra", "mesh")
	routes, err := gateway.Load(mesh)
	if err != nil {
		return err
	}
	// Istio answers an unrouted request with a bare 404; locally the
	// status is the same, with the pages' own "not found" page.
	gw, err := gateway.New(routes, s.urls, s.local, web.NotFoundHandler(""))
	if err != nil {
		return fmt.Errorf("routes of %s: %w", mesh, err)
	}
	srv := gw.Server(s.cfg.Gateway)
	go func() { s.fail(srv.ListenAndServe()) }()
	s.cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	})
	s.con.step("gateway: %d routes from %s", len(routes), mesh)
	return nil
}
