// Package activator plays Knative Serving's activator and autoscaler for one
// function on one machine: every request to the function (from the gateway
// and from the dispatchers) goes through it; it starts the function when it
// is scaled to zero, holds the request until the function is ready, and
// stops the function after an idle period without requests.
package activator

import (
	"context"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"time"
)

// Function is what the activator needs of a supervised function.
type Function interface {
	Name() string
	// Up starts the function unless it runs and returns its base URL once ready.
	Up(ctx context.Context) (string, error)
	// Down stops the function gracefully.
	Down()
	// Ready reports whether a request now needs no cold start.
	Ready() bool
}

// Activator is an http.Handler in front of one function.
type Activator struct {
	fn     Function
	idle   time.Duration
	report func(format string, args ...any)
	proxy  *httputil.ReverseProxy

	// gate is held shared by every request and exclusively by a scale-down,
	// so a function is never stopped under a request that was let through.
	gate     sync.RWMutex
	mu       sync.Mutex
	inflight int
	last     time.Time // when the last request ended
	timer    *time.Timer
}

// New returns an activator for fn. idle is how long the function may go
// without a request before it is stopped; zero keeps it running.
func New(fn Function, idle time.Duration, report func(format string, args ...any)) *Activator {
	a := &Activator{fn: fn, idle: idle, report: report}
	a.proxy = &httputil.ReverseProxy{Rewrite: rewrite, ErrorHandler: a.proxyError,
		Transport: retrying{a: a, base: http.DefaultTransport}}
	return a
}

type targetKey struct{}

// rewrite sends the request to the instance ServeHTTP found, keeping what
// the gateway set: the browser's Host (the functions' cross-origin check
// compares it with Origin) and the X-Forwarded-* headers.
func rewrite(r *httputil.ProxyRequest) {
	r.SetURL(r.In.Context().Value(targetKey{}).(*url.URL))
	r.Out.Host = r.In.Host
	for _, h := range []string{"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto"} {
		if v := r.In.Header.Values(h); len(v) > 0 {
			r.Out.Header[h] = v
		}
	}
}

// proxyError answers 502 when the instance went away mid-request (a crash):
// a sender retries a 5xx, and the supervisor is starting the next instance.
func (a *Activator) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	a.report("%s: %s %s failed: %v", a.fn.Name(), r.Method, r.URL.Path, err)
	http.Error(w, a.fn.Name()+" is unavailable: "+err.Error(), http.StatusBadGateway)
}

// ServeHTTP holds the request until the function is ready, then forwards it.
func (a *Activator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.gate.RLock()
	defer a.gate.RUnlock()
	a.begin()
	defer a.end()
	held := time.Now()
	cold := !a.fn.Ready()
	base, err := a.fn.Up(r.Context())
	if err != nil {
		// Retriable for the dispatcher; the supervisor keeps trying meanwhile.
		w.Header().Set("Retry-After", "1")
		http.Error(w, a.fn.Name()+" is not available: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	u, err := url.Parse(base)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	readyAfter := time.Since(held)
	if err := keepBody(r); err != nil {
		http.Error(w, "read request: "+err.Error(), http.StatusBadRequest)
		return
	}
	a.proxy.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), targetKey{}, u)))
	if cold {
		a.report("%s: woken by %s %s: held %d ms for the cold start, answered after %d ms",
			a.fn.Name(), r.Method, r.URL.Path, readyAfter.Milliseconds(), time.Since(held).Milliseconds())
	}
}

// begin counts a request in and keeps the function from being stopped.
func (a *Activator) begin() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.inflight++
	if a.timer != nil {
		a.timer.Stop()
	}
}

// end counts a request out; the last one out starts the idle clock.
func (a *Activator) end() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.inflight--
	a.last = time.Now()
	if a.inflight > 0 || a.idle <= 0 {
		return
	}
	if a.timer == nil {
		a.timer = time.AfterFunc(a.idle, a.scaleDown)
	} else {
		a.timer.Reset(a.idle)
	}
}

// Idle starts the idle clock without a request, for a function started
// ahead of its first request (the stack's start-up).
func (a *Activator) Idle() {
	a.begin()
	a.end()
}

// scaleDown stops the function unless a request came in meanwhile. A
// request that arrives during the stop waits in Up for it to finish and
// then starts the function again.
func (a *Activator) scaleDown() {
	a.gate.Lock()
	defer a.gate.Unlock()
	a.mu.Lock()
	busy := a.inflight > 0 || time.Since(a.last) < a.idle
	a.mu.Unlock()
	if busy || !a.fn.Ready() {
		return
	}
	a.report("%s: idle for %s: scaling to zero", a.fn.Name(), a.idle)
	a.fn.Down()
}
