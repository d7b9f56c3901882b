// Package gateway is the local stand-in for Istio's ingress gateway: it
// applies infra/mesh's VirtualService (matches by path, method and absent
// header values, rewrites, redirects, direct responses) in the order Istio does, so what
// the cluster refuses the local gateway refuses too. It also bounds what a
// client may hold: server timeouts and a body limit answered with 413.
package gateway

import (
	"errors"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"
)

// MaxBody is the largest request body the gateway forwards. It is well
// above what any function accepts (64 KiB), so the functions' own 413 with
// its message wins for a body they refuse; it is small enough that a
// function answering early can still drain the rest of the body instead of
// cutting the connection (Go's server drains up to 256 KiB), which a proxy
// would report as a 502.
const MaxBody = 256 << 10

// Server timeouts: a client gets a bounded time to send its request; an
// answer may include a function's cold start.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 30 * time.Second
	writeTimeout      = 60 * time.Second
	idleTimeout       = 2 * time.Minute
)

// Gateway routes requests as the VirtualService says.
type Gateway struct {
	routes   []Route
	proxies  map[string]*httputil.ReverseProxy
	notFound http.Handler
}

// New returns a gateway for routes; functions maps each function name to its
// base URL, reached through transport (nil: http.DefaultTransport); notFound
// answers what no route matches (Istio's 404).
func New(routes []Route, functions map[string]string, transport http.RoundTripper, notFound http.Handler) (*Gateway, error) {
	g := &Gateway{routes: routes, proxies: map[string]*httputil.ReverseProxy{}, notFound: notFound}
	for _, rt := range routes {
		fn := rt.Function()
		if fn == "" || g.proxies[fn] != nil {
			continue
		}
		target, ok := functions[fn]
		if !ok {
			return nil, errors.New("route " + rt.Name + ": no function " + fn + " runs locally")
		}
		u, err := url.Parse(target)
		if err != nil {
			return nil, err
		}
		g.proxies[fn] = &httputil.ReverseProxy{
			Rewrite: func(r *httputil.ProxyRequest) {
				r.SetURL(u)
				// Keep the browser's Host: the functions' cross-origin check
				// compares it with the Origin header.
				r.Out.Host = r.In.Host
				r.SetXForwarded()
			},
			Transport:    transport,
			ErrorHandler: proxyError,
		}
	}
	return g, nil
}

// Server returns an http.Server for the gateway on addr, with timeouts.
func (g *Gateway) Server(addr string) *http.Server {
	return &http.Server{Addr: addr, Handler: g, ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout: readTimeout, WriteTimeout: writeTimeout, IdleTimeout: idleTimeout}
}

// ServeHTTP applies the first route that matches, as Istio does.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength > MaxBody {
		http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxBody)
	for _, rt := range g.routes {
		m, ok := rt.matches(r)
		if !ok {
			continue
		}
		switch {
		case rt.Redirect != nil:
			http.Redirect(w, r, rt.Redirect.URI, http.StatusMovedPermanently)
		case rt.DirectResponse != nil:
			w.WriteHeader(rt.DirectResponse.Status)
		default:
			out := r.Clone(r.Context())
			out.URL.Path, out.URL.RawPath = rt.rewrite(m, r.URL.Path), ""
			g.proxies[rt.Function()].ServeHTTP(w, out)
		}
		return
	}
	g.notFound.ServeHTTP(w, r)
}

// proxyError answers 413 for a chunked body over the limit, 502 otherwise.
func proxyError(w http.ResponseWriter, r *http.Request, err error) {
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
		return
	}
	http.Error(w, "bad gateway: "+err.Error(), http.StatusBadGateway)
}
