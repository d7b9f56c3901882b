package main

import (
	"context"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"

	"github.com/mskafka/knative-functions/shared/web"
)

// newGateway does locally what the Apache did in the original and the Istio
// VirtualService does on a cluster: the menu at "/", and each function under
// its own prefix, with the prefix stripped.
func newGateway(addr string, functions map[string]string) (*http.Server, error) {
	menu, err := web.Menu()
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", menu)
	// What is neither the menu nor a function gets the pages' own "not
	// found", in their style, rather than a bare line of text.
	mux.Handle("GET /static/", web.Static())
	mux.Handle("/", web.NotFoundHandler(""))
	for name, target := range functions {
		u, err := url.Parse(target)
		if err != nil {
			return nil, err
		}
		proxy := &httputil.ReverseProxy{
			Rewrite: func(r *httputil.ProxyRequest) {
				r.SetURL(u)
				// Keep the browser's Host: the functions' cross-origin check
				// compares it with the Origin header.
				r.Out.Host = r.In.Host
				r.SetXForwarded()
			},
		}
		mux.Handle("/"+name+"/", http.StripPrefix("/"+name, proxy))
	}
	return &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}, nil
}

// startGateway serves the menu and the routes on GATEWAY_ADDR.
func (s *stack) startGateway(context.Context) error {
	if s.cfg.Only != "" {
		return nil
	}
	gw, err := newGateway(s.cfg.Gateway, s.urls)
	if err != nil {
		return err
	}
	go func() { s.fail(gw.ListenAndServe()) }()
	s.cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		gw.Shutdown(sctx)
	})
	return nil
}
