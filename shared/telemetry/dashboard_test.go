package telemetry

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.opentelemetry.io/otel/metric"
)

const dashboardFile = "../../infra/observability/grafana-dashboard.json"

// exported returns the names of the series the /metrics endpoint writes
// once every instrument of this project and otelhttp's have a value.
func exported(t *testing.T) map[string]bool {
	t.Helper()
	ctx := context.Background()
	tel, err := New(ctx, "order", Config{Protocol: "http/protobuf", TracesExporter: "otlp", MetricsExporter: "prometheus"})
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Shutdown(ctx)
	m := tel.Metrics
	typ := metric.WithAttributes(AttrType.String("com.example.order.placed"), AttrResult.String("stored"))
	for _, c := range []metric.Int64Counter{m.OrdersPlaced, m.OutboxPublished, m.OutboxSendFailures, m.EventsHandled} {
		c.Add(ctx, 1, typ)
	}
	src := KafkaSource{Name: "order-to-shipping", Namespace: "default"}
	m.RecordDispatch(ctx, src, "com.example.order.placed", 202, 30*time.Millisecond)
	m.RecordDiscarded(ctx, src)
	m.EventsDelay.Record(ctx, 0.02, typ)
	if err := m.ObserveOutbox(func(context.Context) (Backlog, error) {
		return Backlog{Unsent: 1, Oldest: time.Now()}, nil
	}); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(http.ResponseWriter, *http.Request) {})
	tel.Handler(mux).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))

	rec := httptest.NewRecorder()
	tel.MetricsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	names := map[string]bool{}
	s := bufio.NewScanner(rec.Body)
	for s.Scan() {
		line := s.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, _, _ := strings.Cut(line, "{")
		name, _, _ = strings.Cut(name, " ")
		names[name] = true
	}
	return names
}

// The Prometheus names of this project's instruments, which the dashboard
// must show. A new instrument is added here and to the dashboard.
func projectSeries() []string {
	return []string{
		"events_delay_seconds_bucket", "events_handled_total",
		"kn_eventing_dispatch_latency_milliseconds_bucket", "kn_eventing_kafka_discarded_events_1_total",
		"orders_placed_total", "outbox_backlog", "outbox_oldest_age_seconds", "outbox_published_total",
		"outbox_send_failures_total",
	}
}

func TestMetricNames(t *testing.T) {
	names := exported(t)
	var got []string
	for n := range names {
		if !strings.HasPrefix(n, "http_") && n != "target_info" && !strings.HasSuffix(n, "_sum") && !strings.HasSuffix(n, "_count") {
			got = append(got, n)
		}
	}
	sort.Strings(got)
	if diff := cmp.Diff(projectSeries(), got); diff != "" {
		t.Errorf("exported series (-want +got):\n%s", diff)
	}
	for _, n := range []string{"http_server_request_duration_seconds_bucket", "target_info"} {
		if !names[n] {
			t.Errorf("%s not exported", n)
		}
	}
}

type dashboard struct {
	Title      string  `json:"title"`
	UID        string  `json:"uid"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name string `json:"name"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	Type    string  `json:"type"`
	Title   string  `json:"title"`
	Panels  []panel `json:"panels"` // of a collapsed row
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
}

// The dashboard parses, every query names only series the code exports,
// and every series of this project is on it. A query of a function's series
// filters by the function variable; a query of the KafkaSource data plane's
// (kn_*, named as eventing-kafka-broker names them) by the source variable and
// never by service_name, which the platform's dispatcher does not have.
func TestDashboard(t *testing.T) {
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	dec := json.NewDecoder(strings.NewReader(string(b)))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	if d.Title == "" || d.UID == "" {
		t.Errorf("dashboard needs a title and a uid")
	}
	vars := map[string]bool{}
	for _, v := range d.Templating.List {
		vars[v.Name] = true
	}
	if !vars["datasource"] || !vars["function"] || !vars["source"] {
		t.Errorf("dashboard variables %v: want datasource, function and source", vars)
	}

	names := exported(t)
	shown := map[string]bool{}
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			if p.Type == "row" {
				walk(p.Panels)
				continue
			}
			if len(p.Targets) == 0 {
				t.Errorf("panel %q has no query", p.Title)
			}
			for _, tg := range p.Targets {
				metrics := metricNames(tg.Expr)
				if len(metrics) == 0 {
					t.Errorf("panel %q: query %q names no metric", p.Title, tg.Expr)
				}
				for _, m := range metrics {
					shown[m] = true
					if !names[m] {
						t.Errorf("panel %q: %s is not exported by the code (query %q)", p.Title, m, tg.Expr)
					}
				}
				platform := slices.ContainsFunc(metrics, func(m string) bool { return strings.HasPrefix(m, "kn_") })
				switch {
				case platform && !strings.Contains(tg.Expr, `kn_kafkasource_name=~"$source"`):
					t.Errorf("panel %q: query %q does not filter by the source variable", p.Title, tg.Expr)
				case platform && strings.Contains(tg.Expr, "service_name"):
					t.Errorf("panel %q: query %q uses service_name, which the platform's dispatcher does not export", p.Title, tg.Expr)
				case !platform && !strings.Contains(tg.Expr, `service_name=~"$function"`):
					t.Errorf("panel %q: query %q does not filter by the function variable", p.Title, tg.Expr)
				}
			}
		}
	}
	walk(d.Panels)
	for _, m := range projectSeries() {
		if !shown[m] {
			t.Errorf("%s is exported but on no panel", m)
		}
	}
}

var (
	promMatchers  = regexp.MustCompile(`\{[^}]*\}`)
	promRanges    = regexp.MustCompile(`\[[^\]]*\]`)
	promGrouping  = regexp.MustCompile(`\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promIdentExpr = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*(\s*\()?`)
)

// metricNames returns the metric names a PromQL expression selects: its
// identifiers that are neither functions, keywords nor label names.
func metricNames(expr string) []string {
	e := promMatchers.ReplaceAllString(expr, " ")
	e = promRanges.ReplaceAllString(e, " ")
	e = promGrouping.ReplaceAllString(e, " ")
	var out []string
	for _, m := range promIdentExpr.FindAllString(e, -1) {
		if strings.HasSuffix(m, "(") {
			continue // a function call
		}
		switch m {
		case "and", "or", "unless", "bool", "offset":
			continue
		}
		if !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	return out
}

func TestMetricNamesOfQueries(t *testing.T) {
	tests := []struct {
		expr string
		want []string
	}{
		{`sum by (service_name) (rate(orders_placed_total{service_name=~"$function"}[$__rate_interval])) * 60`, []string{"orders_placed_total"}},
		{`histogram_quantile(0.95, sum by (service_name, le) (rate(events_delay_seconds_bucket{a="b"}[5m])))`, []string{"events_delay_seconds_bucket"}},
		{`sum(rate(a_sum[1m])) / sum(rate(a_count[1m]))`, []string{"a_sum", "a_count"}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, metricNames(tt.expr)); diff != "" {
			t.Errorf("metricNames(%q) (-want +got):\n%s", tt.expr, diff)
		}
	}
}
