package order

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mskafka/knative-functions/shared/web"
)

// fakeJaeger answers the query API's /api/traces with testdata's trace and
// counts the queries.
func fakeJaeger(t *testing.T) (*httptest.Server, *atomic.Int64, *atomic.Value) {
	t.Helper()
	body, err := os.ReadFile("testdata/jaeger-trace.json")
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int64
	var query atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		query.Store(r.URL.Query())
		if r.URL.Path != "/api/traces" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv, &n, &query
}

func traceServer(t *testing.T, store orders, base string) http.Handler {
	t.Helper()
	s := &server{store: store, wakeRelay: func() {}, pages: web.LazyPages(pageFiles, "pages/*.html"),
		traces: newTraceReader(base), log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	return s.routes()
}

func TestLayout(t *testing.T) {
	body, _ := os.ReadFile("testdata/jaeger-trace.json")
	ws, err := parseTraces(body)
	if err != nil {
		t.Fatal(err)
	}
	if len(ws) != 1 {
		t.Fatalf("%d waterfalls, want 1", len(ws))
	}
	type r struct {
		Service, Name string
		Depth         int
		Offset        time.Duration
		Error         string
		Cold          time.Duration
		Woke          string
		Left, Width   int
	}
	var got []r
	for _, s := range ws[0].Spans {
		got = append(got, r{s.Service, s.Name, s.Depth, s.Offset, s.Error, s.Cold, s.Woke, s.Left, s.Width})
	}
	ms := time.Millisecond
	want := []r{
		{"order", "POST /new", 0, 0, "", 0, "", 0, 160},
		{"order", "INSERT orders", 1, 2 * ms, "", 0, "", 26, 40},
		{"order", "send order", 1, 10 * ms, "", 0, "", 133, 20},
		{"dispatcher", "process order", 2, 15 * ms, "", 0, "", 200, 800},
		{"dispatcher", "activate shipping", 3, 16 * ms, "", 23 * ms, "shipping", 213, 306},
		{"shipping", "POST /", 3, 40 * ms, "", 0, "", 533, 400},
		{"invoicing", "POST /", 3, 41 * ms, "database down", 0, "", 546, 66},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("waterfall (-want +got):\n%s", diff)
	}
	if d := ws[0].Duration; d != 75*ms {
		t.Errorf("duration %v, want 75ms", d)
	}
}

func TestOrderPageTrace(t *testing.T) {
	store := &pageStore{}
	if rec := post(pageServer(t, store), "/new", orderForm(), "same-origin"); rec.Code != http.StatusSeeOther {
		t.Fatalf("place: %d", rec.Code)
	}

	t.Run("tracing off: the page says how to turn it on", func(t *testing.T) {
		h := traceServer(t, store, "")
		page := get(h, "/1").Body.String()
		if !strings.Contains(page, `id="trace-off"`) || !strings.Contains(page, "make run OBSERVE=1") || !strings.Contains(page, "TRACE_QUERY_URL") {
			t.Errorf("the page does not say how to turn tracing on:\n%s", page)
		}
		if strings.Contains(page, "trace-raw") {
			t.Error("the page links a raw trace that is not there")
		}
		if rec := get(h, "/api/orders/1/trace"); rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), "OBSERVE=1") {
			t.Errorf("GET /api/orders/1/trace with tracing off: %d %s", rec.Code, rec.Body)
		}
	})

	jaeger, queries, query := fakeJaeger(t)
	h := traceServer(t, store, jaeger.URL)
	t.Run("the page shows the waterfall", func(t *testing.T) {
		rec := get(h, "/1")
		page := rec.Body.String()
		for _, want := range []string{
			`data-complete="true"`,
			`<span class="svc shipping">shipping</span> POST / <span class="kind">server</span>`,
			`<strong class="err">error: database down</strong>`,
			`<strong class="cold">cold start: 23.0 ms</strong>`,
			`<rect x="533" width="400" height="10" class="shipping">`,
			`<a href="api/orders/1/trace" id="trace-raw"`,
			"through order, dispatcher, shipping, invoicing",
			`Shipment created by shipping <span class="woke" data-woke="shipping">· woke shipping cold: 23.0 ms</span>`,
		} {
			if !strings.Contains(page, want) {
				t.Errorf("the page lacks %s", want)
			}
		}
		q, _ := query.Load().(url.Values)
		if got := q["tags"]; len(got) != 1 || got[0] != `{"order.id":"1"}` {
			t.Errorf("query tags %v, want order.id 1", got)
		}
		if got := q["service"]; len(got) != 1 || got[0] != "order" {
			t.Errorf("query service %v, want order", got)
		}
	})
	t.Run("the raw trace is the query API's JSON", func(t *testing.T) {
		rec := get(h, "/api/orders/1/trace")
		var body struct {
			Data []json.RawMessage `json:"data"`
		}
		if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &body) != nil || len(body.Data) != 1 {
			t.Errorf("GET /api/orders/1/trace: %d %s", rec.Code, rec.Body)
		}
		if got := get(h, "/api/orders/2/trace").Code; got != http.StatusNotFound {
			t.Errorf("GET /api/orders/2/trace of no order: %d, want 404", got)
		}
	})
	t.Run("placing and listing orders never asks the query API", func(t *testing.T) {
		before := queries.Load()
		post(h, "/new", orderForm(), "same-origin")
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, "/api/orders", strings.NewReader(goodOrder))
		req.Header.Set("Content-Type", "application/json")
		h.ServeHTTP(rec, req)
		get(h, "/")
		get(h, "/api/orders/1")
		if got := queries.Load() - before; got != 0 {
			t.Errorf("%d queries to the trace API while placing and listing, want 0", got)
		}
	})
	t.Run("an unreachable query API leaves the page working", func(t *testing.T) {
		h := traceServer(t, store, "http://127.0.0.1:1")
		rec := get(h, "/1")
		if rec.Code != 200 || !strings.Contains(rec.Body.String(), `id="trace-error"`) {
			t.Errorf("page with the query API down: %d, no trace-error", rec.Code)
		}
	})
}

func TestConfigTraceQueryURL(t *testing.T) {
	base := Config{DatabaseURL: "postgres://order@127.0.0.1/db", DBMaxConns: 1, KafkaBrokers: []string{"k:9092"}, KafkaTopic: "order", OutboxInterval: time.Second,
		KeyRetention: time.Hour, OutboxRetention: time.Hour, RetentionBatch: 1, RetentionTime: time.Second, GroupCommit: 1}
	for _, tt := range []struct {
		url string
		ok  bool
	}{
		{"", true}, {"http://127.0.0.1:16686", true}, {"https://jaeger.example/q/", true},
		{"127.0.0.1:16686", false}, {"ftp://x", false}, {"http://u:secret@h", false}, {"http://h?x=1", false},
	} {
		c := base
		c.TraceQueryURL = tt.url
		if err := c.Validate(); (err == nil) != tt.ok {
			t.Errorf("TRACE_QUERY_URL=%q: error %v, want ok %v", tt.url, err, tt.ok)
		}
	}
}
