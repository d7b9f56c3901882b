package telemetry

import (
	"bufio"
	"context"
	"fmt"
	"io"
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
)

// platformFile holds what the platform's KafkaSource dispatcher writes for
// the deliveries recorded in TestDispatchSeriesMatchPlatform.
const platformFile = "testdata/platform-dispatch.prom"

var (
	sampleLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$`)
	labelPair  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)
)

// samples reads the kn_* sample lines of a Prometheus text exposition into
// "name{labels}" → value, with labels sorted, service_name (the local
// resource label) left out and le written as a number, so that Micrometer's
// le="50.0" and Go's le="50" compare equal, as they do for Prometheus.
func samples(t *testing.T, r io.Reader) (map[string]float64, []string) {
	t.Helper()
	out := map[string]float64{}
	var lines []string
	s := bufio.NewScanner(r)
	for s.Scan() {
		g := sampleLine.FindStringSubmatch(s.Text())
		if g == nil || !strings.HasPrefix(g[1], "kn_") {
			continue
		}
		lines = append(lines, s.Text())
		var ls []string
		for _, p := range labelPair.FindAllStringSubmatch(g[2], -1) {
			k, v := p[1], p[2]
			if k == "service_name" {
				continue
			}
			if k == "le" && v != "+Inf" {
				f, err := strconv.ParseFloat(v, 64)
				if err != nil {
					t.Fatalf("le=%q: %v", v, err)
				}
				v = strconv.FormatFloat(f, 'g', -1, 64)
			}
			ls = append(ls, fmt.Sprintf("%s=%q", k, v))
		}
		slices.Sort(ls)
		v, err := strconv.ParseFloat(g[3], 64)
		if err != nil {
			t.Fatalf("%s: %v", s.Text(), err)
		}
		out[g[1]+"{"+strings.Join(ls, ",")+"}"] = v
	}
	return out, lines
}

// The local dispatcher's series are the platform's: same names, same labels,
// same units and buckets. Only Micrometer's _max gauge (a maximum over a
// sliding window, which an OpenTelemetry histogram does not keep) is not
// written here; the dashboard does not read it.
func TestDispatchSeriesMatchPlatform(t *testing.T) {
	ctx := context.Background()
	tel, err := New(ctx, "dispatcher", Config{Protocol: "http/protobuf", TracesExporter: "otlp", MetricsExporter: "prometheus"})
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Shutdown(ctx)
	src := KafkaSource{Name: "order-to-shipping", Namespace: "default"}
	tel.Metrics.RecordDispatch(ctx, src, "com.example.order.placed", 202, 30*time.Millisecond)
	// Ended without a response: not recorded, as on the platform.
	tel.Metrics.RecordDispatch(ctx, src, "com.example.order.placed", 0, time.Second)
	tel.Metrics.RecordDiscarded(ctx, src)

	rec := httptest.NewRecorder()
	tel.MetricsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	got, lines := samples(t, rec.Body)
	t.Logf("local dispatcher /metrics, kn_* series:\n%s", strings.Join(lines, "\n"))

	f, err := os.Open(platformFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want, _ := samples(t, f)
	for k := range want {
		if strings.HasPrefix(k, "kn_eventing_dispatch_latency_milliseconds_max{") {
			delete(want, k)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("kn_* series (-platform +local):\n%s", diff)
	}
}
