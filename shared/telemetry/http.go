package telemetry

import (
	"net/http"
	"strings"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
)

// Handler wraps h so that each request runs in a server span that continues
// the caller's trace (W3C or B3 headers), is named after the route that
// served it ("POST /new"), and is counted in the http.server.* metrics.
func (t *Telemetry) Handler(h http.Handler) http.Handler {
	return otelhttp.NewHandler(h, t.service,
		otelhttp.WithTracerProvider(t.TracerProvider),
		otelhttp.WithMeterProvider(t.MeterProvider),
		otelhttp.WithPropagators(t.Propagator),
		otelhttp.WithSpanNameFormatter(serverSpanName))
}

// serverSpanName is "METHOD route" once a ServeMux has matched the request,
// where the route is the pattern without its method ("/{$}" reads "/").
func serverSpanName(_ string, r *http.Request) string {
	_, route, ok := strings.Cut(r.Pattern, "/")
	if !ok {
		return r.Method
	}
	return r.Method + " /" + strings.TrimSuffix(route, "{$}")
}

// Transport wraps base (nil: http.DefaultTransport) so that each request
// runs in a client span whose context the request's headers carry on.
func (t *Telemetry) Transport(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return otelhttp.NewTransport(base,
		otelhttp.WithTracerProvider(t.TracerProvider),
		otelhttp.WithMeterProvider(t.MeterProvider),
		otelhttp.WithPropagators(t.Propagator),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string {
			return r.Method + " " + r.URL.Host + r.URL.Path
		}))
}
