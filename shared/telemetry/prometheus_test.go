package telemetry

import (
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// goldenFile is GET /metrics after scrapeSample's measurements, as the
// official Prometheus exporter (go.opentelemetry.io/otel/exporters/prometheus
// v0.69.0 with client_golang's promhttp) wrote it. See its first lines for how
// it was made; it is not regenerated from this package's own exporter, which
// it exists to check.
const goldenFile = "testdata/metrics-otelprom.prom"

// roundTripFunc is an http.RoundTripper that answers without a network, so
// that the client metrics carry a fixed server address and port.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// scrapeSample builds the telemetry of a function as Start does, records a
// fixed set of measurements on this project's instruments, on otelhttp's
// (a server and a client request) and on instruments made only here to reach
// the naming rules ours do not (units, ratios, reserved and colliding label
// names, escaping), and returns the body of GET /metrics.
func scrapeSample(t *testing.T) string {
	t.Helper()
	t.Setenv("OTEL_SERVICE_NAME", "overridden")
	t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment.name=test,k8s.pod.name=order-00001-deployment-7d9f,"+
		"note=%22quoted%22%20back%5Cslash%0Anew%20line,2nd.key=two")
	ctx := context.Background()
	tel, err := New(ctx, "order", Config{Protocol: "http/protobuf", TracesExporter: "otlp", MetricsExporter: "prometheus"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tel.Shutdown(ctx) })

	m := tel.Metrics
	placed := metric.WithAttributes(AttrType.String("com.example.order.placed"), AttrResult.String("stored"))
	m.OrdersPlaced.Add(ctx, 3, placed)
	m.OrdersCancelled.Add(ctx, 1)
	m.OutboxPublished.Add(ctx, 1234567, placed)
	m.OutboxSendFailures.Add(ctx, 2)
	m.EventsHandled.Add(ctx, 5, placed)
	m.EventsHandled.Add(ctx, 1, metric.WithAttributes(AttrType.String("com.example.order.placed"), AttrResult.String("rejected")))
	for _, d := range []float64{0.002, 0.02, 0.7, 400} {
		m.EventsDelay.Record(ctx, d, placed)
	}
	src := KafkaSource{Name: "order-to-shipping", Namespace: "default"}
	m.RecordDispatch(ctx, src, "com.example.order.placed", 202, 30*time.Millisecond)
	m.RecordDispatch(ctx, src, "com.example.order.placed", 503, 7*time.Second)
	m.RecordDiscarded(ctx, src)
	if err := m.ObserveOutbox(func(context.Context) (Backlog, error) { return Backlog{Unsent: 4}, nil }); err != nil {
		t.Fatal(err)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("POST /new", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "created") })
	tel.Handler(mux).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/new", strings.NewReader(`{"id":1}`)))
	client := &http.Client{Transport: tel.Transport(roundTripFunc(func(r *http.Request) (*http.Response, error) {
		io.Copy(io.Discard, r.Body) // otelhttp records a client request once its body is consumed
		r.Body.Close()
		return &http.Response{StatusCode: http.StatusAccepted, Body: io.NopCloser(strings.NewReader("ok")), ContentLength: 2, Request: r}, nil
	}))}
	resp, err := client.Post("http://shipping.default.svc.cluster.local/", "application/json", strings.NewReader("hello"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	other := tel.MeterProvider.Meter("github.com/mskafka/knative-functions/testing", metric.WithInstrumentationVersion("v9"))
	sent, _ := other.Float64Counter("net.io.sent", metric.WithUnit("By"),
		metric.WithDescription("bytes sent\nwith \"quotes\" and a back\\slash"))
	sent.Add(ctx, 0.1+0.2, metric.WithAttributes(
		attribute.String("direction", "out"),
		attribute.String("a.b", "x"), attribute.String("a_b", "y"), // one label after sanitising
		attribute.Bool("2fa", true),
		attribute.String("trailing.", "dot"),
		attribute.Int64Slice("codes", []int64{200, 503}),
		attribute.StringSlice("hosts", []string{"a", "b\"c"}),
		attribute.Float64("ratio", 0.25),
		attribute.String("text", "say \"hi\"\\\nbye"),
	))
	queue, _ := other.Int64UpDownCounter("queue.size", metric.WithUnit("{item}"), metric.WithDescription("items queued"))
	queue.Add(ctx, -3)
	cpu, _ := other.Float64Gauge("cpu.utilization", metric.WithUnit("1"))
	cpu.Record(ctx, 0.5)
	share, _ := other.Int64UpDownCounter("share", metric.WithUnit("1"), metric.WithDescription("a non-monotonic sum of unit 1"))
	share.Add(ctx, 7)
	speed, _ := other.Float64Gauge("wind.speed", metric.WithUnit("m/s"), metric.WithDescription("per-unit suffix"))
	speed.Record(ctx, 12.5, metric.WithAttributes(attribute.String("site", "north")))
	speed.Record(ctx, 1e-7, metric.WithAttributes(attribute.String("site", "south")))
	rate, _ := other.Float64ObservableCounter("disk.read", metric.WithUnit("KiBy/s"), metric.WithDescription("read rate"))
	if _, err := other.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		o.ObserveFloat64(rate, 1.5)
		return nil
	}, rate); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, unit string }{
		{"requests.total.count", ""},
		{"latency.seconds.sum", "s"},
		{"uptime", "h"},
		{"wait", "min"},
		{"temperature", "Cel"},
		{"disk.free", "%"},
		{"odd.unit", "foo bar"},
		{"per.request", "1/{request}"},
		{"retries", "{retry}/s"},
		{"orders.placed", "{order}"}, // the same name as ours in another scope: one family
	} {
		desc := "counts " + c.name
		if c.name == "orders.placed" {
			desc = "orders accepted"
		}
		ctr, err := other.Int64Counter(c.name, metric.WithUnit(c.unit), metric.WithDescription(desc))
		if err != nil {
			t.Fatal(err)
		}
		ctr.Add(ctx, 2, metric.WithAttributes(attribute.String("source", "testing")))
	}
	size, _ := other.Int64Histogram("payload.size", metric.WithUnit("By"), metric.WithDescription(""),
		metric.WithExplicitBucketBoundaries(0, 100, 1e6))
	for _, v := range []int64{0, 50, 2_000_000} {
		size.Record(ctx, v)
	}

	rec := httptest.NewRecorder()
	tel.MetricsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics: %d\n%s", rec.Code, rec.Body)
	}
	return rec.Body.String()
}

// textFamily is what a Prometheus text exposition says of one metric family.
type textFamily struct{ Type, Help string }

// exposition is a Prometheus text exposition as a scraper reads it: the
// TYPE and HELP of each family and the value of each sample, keyed
// "name{label="value",...}" with the labels sorted and their values
// unescaped, so that the order of lines and labels and the spelling of
// numbers (1e+06 or 1000000) do not matter.
type exposition struct {
	Families map[string]textFamily
	Samples  map[string]float64
}

var sampleName = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*`)

func parseExposition(t *testing.T, text string) exposition {
	t.Helper()
	e := exposition{Families: map[string]textFamily{}, Samples: map[string]float64{}}
	s := bufio.NewScanner(strings.NewReader(text))
	for s.Scan() {
		line := s.Text()
		if f := strings.Fields(line); len(f) >= 3 && f[0] == "#" && (f[1] == "HELP" || f[1] == "TYPE") {
			fam := e.Families[f[2]]
			rest := strings.TrimPrefix(line, "# "+f[1]+" "+f[2])
			rest = strings.TrimPrefix(rest, " ")
			if f[1] == "HELP" {
				fam.Help = strings.NewReplacer(`\\`, `\`, `\n`, "\n").Replace(rest)
			} else {
				fam.Type = rest
			}
			e.Families[f[2]] = fam
			continue
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name := sampleName.FindString(line)
		if name == "" {
			t.Fatalf("not a sample: %q", line)
		}
		rest := line[len(name):]
		var labels []string
		if strings.HasPrefix(rest, "{") {
			var err error
			labels, rest, err = parseLabels(rest[1:])
			if err != nil {
				t.Fatalf("%q: %v", line, err)
			}
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			t.Fatalf("no value: %q", line)
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		slices.Sort(labels)
		key := name + "{" + strings.Join(labels, ",") + "}"
		if _, dup := e.Samples[key]; dup {
			t.Errorf("sample %s written twice", key)
		}
		e.Samples[key] = v
	}
	return e
}

// parseLabels reads `k="v",...}` and returns each pair as k=%q of its
// unescaped value (le as a number, so that 1e+06 and 1000000 compare
// equal), and what follows the closing brace.
func parseLabels(s string) ([]string, string, error) {
	var out []string
	for {
		s = strings.TrimLeft(s, " ,")
		if strings.HasPrefix(s, "}") {
			return out, s[1:], nil
		}
		k, rest, ok := strings.Cut(s, `="`)
		if !ok {
			return nil, "", fmt.Errorf("label without a value at %q", s)
		}
		var v strings.Builder
		i := 0
		for ; i < len(rest) && rest[i] != '"'; i++ {
			if rest[i] != '\\' {
				v.WriteByte(rest[i])
				continue
			}
			i++
			if i == len(rest) {
				return nil, "", fmt.Errorf("escape at the end of %q", rest)
			}
			switch rest[i] {
			case '\\', '"':
				v.WriteByte(rest[i])
			case 'n':
				v.WriteByte('\n')
			default:
				return nil, "", fmt.Errorf("unknown escape \\%c", rest[i])
			}
		}
		if i == len(rest) {
			return nil, "", fmt.Errorf("unterminated value in %q", s)
		}
		val := v.String()
		if k == "le" && val != "+Inf" {
			f, err := strconv.ParseFloat(val, 64)
			if err != nil {
				return nil, "", fmt.Errorf("le=%q: %w", val, err)
			}
			val = strconv.FormatFloat(f, 'g', -1, 64)
		}
		out = append(out, fmt.Sprintf("%s=%q", k, val))
		s = rest[i+1:]
	}
}

// clockDependent are the samples whose values depend on how long a request
// took; of those only the presence and the labels are compared.
var clockDependent = regexp.MustCompile(`^http_(server|client)_request_duration_seconds_(bucket|sum)\{`)

// GET /metrics writes what the official exporter wrote for the same
// measurements: the same families with the same TYPE and HELP, the same
// samples with the same labels and values.
func TestMetricsMatchOfficialExporter(t *testing.T) {
	golden, err := os.ReadFile(goldenFile)
	if err != nil {
		t.Fatal(err)
	}
	want := parseExposition(t, string(golden))
	got := parseExposition(t, scrapeSample(t))
	for _, e := range []exposition{want, got} {
		for k, v := range e.Samples {
			if clockDependent.MatchString(k) {
				if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
					t.Errorf("%s = %v", k, v)
				}
				e.Samples[k] = 0
			}
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("GET /metrics (-official +ours):\n%s", diff)
	}
}

// The endpoint answers as promhttp did: the text format's content type,
// gzip when the scraper accepts it, the other instruments when a callback
// fails, and an empty exposition once the provider is shut down.
func TestMetricsEndpoint(t *testing.T) {
	ctx := context.Background()
	tel, err := New(ctx, "order", Config{Protocol: "http/protobuf", TracesExporter: "none", MetricsExporter: "prometheus"})
	if err != nil {
		t.Fatal(err)
	}
	tel.Metrics.OrdersPlaced.Add(ctx, 2)
	if err := tel.Metrics.ObserveOutbox(func(context.Context) (Backlog, error) {
		return Backlog{}, errors.New("database down")
	}); err != nil {
		t.Fatal(err)
	}
	scrape := func(acceptEncoding string) (*http.Response, string) {
		t.Helper()
		req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		req.Header.Set("Accept-Encoding", acceptEncoding)
		rec := httptest.NewRecorder()
		tel.MetricsHandler().ServeHTTP(rec, req)
		resp := rec.Result()
		body := io.Reader(resp.Body)
		if resp.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			body = zr
		}
		b, err := io.ReadAll(body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, string(b)
	}

	for _, enc := range []string{"", "gzip", "deflate, gzip;q=0.5", "gzip;q=0"} {
		t.Run("Accept-Encoding "+enc, func(t *testing.T) {
			resp, body := scrape(enc)
			wantGzip := enc == "gzip" || enc == "deflate, gzip;q=0.5"
			if got := resp.Header.Get("Content-Encoding") == "gzip"; got != wantGzip {
				t.Errorf("gzip = %v, want %v", got, wantGzip)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "text/plain; version=0.0.4; charset=utf-8; escaping=underscores" {
				t.Errorf("Content-Type %q", ct)
			}
			got := parseExposition(t, body).Samples
			if got[`orders_placed_total{service_name="order"}`] != 2 {
				t.Errorf("orders_placed_total missing or wrong in\n%s", body)
			}
			for k := range got {
				if strings.HasPrefix(k, "outbox_") {
					t.Errorf("%s written though its callback failed", k)
				}
			}
		})
	}

	if err := tel.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	resp, body := scrape("")
	if resp.StatusCode != http.StatusOK || body != "" {
		t.Errorf("after Shutdown: %d %q, want 200 and nothing", resp.StatusCode, body)
	}
}
