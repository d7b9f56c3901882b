// Package activator plays Knative Serving's activator and autoscaler for one
// function on one machine: every request to the function (from the gateway
// and from the dispatchers) goes through it; it starts the function when it
// is scaled to zero, holds the request until the function is ready, and
// stops the function after an idle period without requests.
package activator

import (
	"cmp"
	"context"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
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

// Activator is an http.Handler in front of one function, for callers
// outside the stack (curl, a browser on FUNCTION_PORT), and an
// http.RoundTripper for the gateway and the dispatchers in the stack's own
// process: they hand it their requests directly, so a warm function costs
// them one loopback hop, as on a cluster where the activator steps out of
// the path once a revision has pods.
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
	held     int       // of inflight: waiting for the function to start
	last     time.Time // when the last request ended
	timer    *time.Timer
	colds    []time.Duration // the last cold starts' waits, the newest last

	tracer trace.Tracer
	prop   propagation.TextMapPropagator
}

// keptColdStarts is how many of the last cold starts State reports.
const keptColdStarts = 5

// Option configures an Activator.
type Option func(*Activator)

// WithTracing records a span for each request held by a cold start, so
// that the wake shows in the request's trace. The span is a sibling of
// the function's own server span: the request goes on with the trace
// context it came with.
func WithTracing(tp trace.TracerProvider, prop propagation.TextMapPropagator) Option {
	return func(a *Activator) {
		a.tracer = tp.Tracer("github.com/mskafka/knative-functions/tools/stack/internal/activator")
		a.prop = prop
	}
}

// instances is the one pool of connections to the function instances: the
// default transport keeps only two idle connections per host, which under
// load means a new TCP connection for most requests.
var instances = &http.Transport{
	MaxIdleConnsPerHost: 256,
	IdleConnTimeout:     90 * time.Second,
	DisableCompression:  true,
}

// New returns an activator for fn. idle is how long the function may go
// without a request before it is stopped; zero keeps it running.
func New(fn Function, idle time.Duration, report func(format string, args ...any), opts ...Option) *Activator {
	a := &Activator{fn: fn, idle: idle, report: report, tracer: tracenoop.NewTracerProvider().Tracer(""), prop: propagation.TraceContext{}}
	for _, o := range opts {
		o(a)
	}
	a.proxy = &httputil.ReverseProxy{Rewrite: rewrite, Transport: a, ErrorHandler: a.proxyError}
	return a
}

// rewrite keeps what a gateway in front set: the browser's Host (the
// functions' cross-origin check compares it with Origin) and the
// X-Forwarded-* headers. RoundTrip picks the instance.
func rewrite(r *httputil.ProxyRequest) {
	r.Out.URL.Scheme, r.Out.URL.Host = "http", r.In.Host
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
	http.Error(w, a.fn.Name()+" is unavailable: "+err.Error(), http.StatusBadGateway)
}

// ServeHTTP forwards a request from outside the stack through RoundTrip.
func (a *Activator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.proxy.ServeHTTP(w, r)
}

// RoundTrip holds req until the function is ready and sends it to the
// running instance. The function counts as busy, and cannot be stopped,
// until the caller has read and closed the answer.
func (a *Activator) RoundTrip(req *http.Request) (*http.Response, error) {
	a.gate.RLock()
	a.begin()
	held := time.Now()
	cold := !a.fn.Ready()
	if cold {
		a.hold(1)
	}
	base, err := a.fn.Up(req.Context())
	readyAfter := time.Since(held)
	if cold {
		a.hold(-1)
		a.coldStart(req, held, readyAfter, err)
	}
	if err != nil {
		a.release()
		// Retriable for the dispatcher; the supervisor keeps trying meanwhile.
		return unavailable(req, a.fn.Name()+" is not available: "+err.Error()), nil
	}
	resp, err := a.send(req, base)
	if err != nil {
		a.release()
		if req.Context().Err() == nil {
			a.report("%s: %s %s failed: %v", a.fn.Name(), req.Method, req.URL.Path, err)
		}
		return nil, err
	}
	resp.Body = &releasing{ReadCloser: resp.Body, release: func() {
		if cold {
			a.report("%s: woken by %s %s: held %d ms for the cold start, answered after %d ms",
				a.fn.Name(), req.Method, req.URL.Path, readyAfter.Milliseconds(), time.Since(held).Milliseconds())
		}
		a.release()
	}}
	return resp, nil
}

// hold counts a request in (1) or out (-1) of those waiting for a start.
func (a *Activator) hold(n int) {
	a.mu.Lock()
	a.held += n
	a.mu.Unlock()
}

// coldStart records a request held from at for wait while the function
// started: in the last cold starts, and as a span "activate <function>"
// with faas.coldstart in the request's trace, from the trace context of
// its caller (in the stack's process) or of its headers (from outside).
func (a *Activator) coldStart(req *http.Request, at time.Time, wait time.Duration, err error) {
	a.mu.Lock()
	if err == nil {
		a.colds = append(a.colds, wait)
		if len(a.colds) > keptColdStarts {
			a.colds = a.colds[len(a.colds)-keptColdStarts:]
		}
	}
	a.mu.Unlock()
	ctx := req.Context()
	if !trace.SpanContextFromContext(ctx).IsValid() {
		ctx = a.prop.Extract(ctx, propagation.HeaderCarrier(req.Header))
	}
	_, span := a.tracer.Start(ctx, "activate "+a.fn.Name(), trace.WithTimestamp(at), trace.WithAttributes(
		attribute.Bool("faas.coldstart", true), attribute.String("faas.name", a.fn.Name()),
		attribute.Int64("activator.wait_ms", wait.Milliseconds())))
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End(trace.WithTimestamp(at.Add(wait)))
}

// State is what the activator knows of its function now.
type State struct {
	// InFlight counts the requests under way; Held, of those, the ones
	// waiting for the function to start.
	InFlight, Held int
	// ColdStarts are the waits of the last cold starts, the newest last.
	ColdStarts []time.Duration
	// IdleLeft is how long the function may stay idle before it is
	// stopped; zero while requests are in flight or when it stays warm.
	IdleLeft time.Duration
}

// State reports the activator's counts, for the platform page. It asks
// nothing of the function, so it never keeps one warm.
func (a *Activator) State() State {
	a.mu.Lock()
	defer a.mu.Unlock()
	st := State{InFlight: a.inflight, Held: a.held, ColdStarts: append([]time.Duration(nil), a.colds...)}
	if a.inflight == 0 && a.idle > 0 && !a.last.IsZero() {
		st.IdleLeft = max(a.idle-time.Since(a.last), 0)
	}
	return st
}

// toInstance is req aimed at the instance at base, Host header kept.
func toInstance(req *http.Request, base string) (*http.Request, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, err
	}
	out := req.Clone(req.Context())
	out.Host = cmp.Or(out.Host, req.URL.Host)
	out.URL.Scheme, out.URL.Host = u.Scheme, u.Host
	return out, nil
}

// unavailable is the activator's own 503 for a function it cannot start.
func unavailable(req *http.Request, msg string) *http.Response {
	return &http.Response{
		Status: "503 Service Unavailable", StatusCode: http.StatusServiceUnavailable,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{"Retry-After": {"1"}, "Content-Type": {"text/plain; charset=utf-8"}},
		Body:   io.NopCloser(strings.NewReader(msg + "\n")), ContentLength: int64(len(msg) + 1),
		Request: req,
	}
}

// releasing runs release once, when the answer's body is closed.
type releasing struct {
	io.ReadCloser
	once    sync.Once
	release func()
}

func (b *releasing) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(b.release)
	return err
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

// release counts a request out and lets a scale-down take the gate.
func (a *Activator) release() {
	a.end()
	a.gate.RUnlock()
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
