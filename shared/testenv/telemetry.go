package testenv

import (
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/mskafka/knative-functions/shared/telemetry"
)

// Recorded is a service's telemetry kept in memory for a test to read back.
type Recorded struct {
	*telemetry.Telemetry
	Spans   *tracetest.SpanRecorder
	Metrics *sdkmetric.ManualReader
}

// Telemetry returns telemetry for service whose spans and metrics the test
// reads from the recorders.
func Telemetry(tb testing.TB, service string) Recorded {
	tb.Helper()
	spans := tracetest.NewSpanRecorder()
	metrics := sdkmetric.NewManualReader()
	tel, err := telemetry.FromProviders(service,
		sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans)),
		sdkmetric.NewMeterProvider(sdkmetric.WithReader(metrics)))
	if err != nil {
		tb.Fatal(err)
	}
	return Recorded{tel, spans, metrics}
}
