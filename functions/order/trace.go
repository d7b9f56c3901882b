package order

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"
)

// ErrTracingOff is returned for a trace when no query API is configured.
var ErrTracingOff = errors.New("tracing is off: no TRACE_QUERY_URL")

// maxTraceBody bounds what is read of the query API's answer: a trace of
// one order has a few dozen spans, a few tens of kilobytes.
const maxTraceBody = 4 << 20

// traceWindow is how far around an order's lifetime its traces are looked
// for: the query API searches a time range, and a narrow one is cheap.
const traceWindow = time.Minute

// traceReader reads an order's traces from a Jaeger-compatible query API
// (GET /api/traces). It is asked only when an order's page or its trace
// is requested, never while an order is placed or sent.
type traceReader struct {
	base   string // the query API's base URL; "" when tracing is off
	client *http.Client
}

func newTraceReader(base string) traceReader {
	// A plain client: reading a trace must not make spans of its own.
	return traceReader{base: base, client: &http.Client{Timeout: 2 * time.Second}}
}

// on reports whether a query API is configured.
func (t traceReader) on() bool { return t.base != "" }

// raw returns the query API's answer for the traces of order id, as it
// came (Jaeger's {"data": [trace, …]}): every trace with a span tagged
// order.id=id (the send to Kafka and each sink's handling carry it) in the
// service order, between a minute before the order was created and now.
func (t traceReader) raw(ctx context.Context, o Order) ([]byte, error) {
	if !t.on() {
		return nil, ErrTracingOff
	}
	q := url.Values{
		"service": {"order"},
		"tags":    {`{"order.id":"` + strconv.FormatInt(o.ID, 10) + `"}`},
		"start":   {strconv.FormatInt(o.Created.Add(-traceWindow).UnixMicro(), 10)},
		"end":     {strconv.FormatInt(time.Now().Add(traceWindow).UnixMicro(), 10)},
		"limit":   {"20"},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.base+"/api/traces?"+q.Encode(), nil)
	if err != nil {
		return nil, fmt.Errorf("trace query: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := t.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("trace query: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxTraceBody))
	if err != nil {
		return nil, fmt.Errorf("trace query: read: %w", err)
	}
	if resp.StatusCode == http.StatusNotFound {
		// Jaeger answers 404 when nothing matches.
		return []byte(`{"data":[]}`), nil
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("trace query: %s answered %s", t.base, resp.Status)
	}
	return body, nil
}

// waterfalls reads the traces of order o and lays each out for the page,
// the oldest first.
func (t traceReader) waterfalls(ctx context.Context, o Order) ([]Waterfall, error) {
	body, err := t.raw(ctx, o)
	if err != nil {
		return nil, err
	}
	return parseTraces(body)
}

// jaegerTraces is the query API's answer: the traces in Jaeger's JSON model.
type jaegerTraces struct {
	Data []jaegerTrace `json:"data"`
}

type jaegerTrace struct {
	TraceID   string       `json:"traceID"`
	Spans     []jaegerSpan `json:"spans"`
	Processes map[string]struct {
		ServiceName string `json:"serviceName"`
	} `json:"processes"`
}

type jaegerSpan struct {
	SpanID        string `json:"spanID"`
	OperationName string `json:"operationName"`
	References    []struct {
		RefType string `json:"refType"`
		TraceID string `json:"traceID"`
		SpanID  string `json:"spanID"`
	} `json:"references"`
	StartTime int64  `json:"startTime"` // µs since the epoch
	Duration  int64  `json:"duration"`  // µs
	ProcessID string `json:"processID"`
	Tags      []struct {
		Key   string `json:"key"`
		Value any    `json:"value"`
	} `json:"tags"`
}

// Waterfall is one trace laid out for the page: its spans in tree order,
// each with its place on a shared time axis.
type Waterfall struct {
	TraceID  string
	Start    time.Time
	Duration time.Duration
	Spans    []SpanRow
}

// SpanRow is one span of a Waterfall.
type SpanRow struct {
	Service, Name string
	Kind          string // server, client, producer, consumer; "" for internal
	Depth         int
	Offset        time.Duration // from the start of the trace
	Duration      time.Duration
	// Error is the span's error, "" when it succeeded.
	Error string
	// Cold is set on the span of a request that woke its function from zero
	// (faas.coldstart): how long the function took to start; Woke names
	// that function (faas.name).
	Cold time.Duration
	Woke string
	// Left and Width place the span's bar, in per mille of the trace.
	Left, Width int
}

// Has reports whether the waterfall has a span of service.
func (w Waterfall) Has(service string) bool {
	return slices.ContainsFunc(w.Spans, func(s SpanRow) bool { return s.Service == service })
}

// Services lists the services of the waterfall's spans, in order of appearance.
func (w Waterfall) Services() []string {
	var out []string
	for _, s := range w.Spans {
		if !slices.Contains(out, s.Service) {
			out = append(out, s.Service)
		}
	}
	return out
}

func parseTraces(body []byte) ([]Waterfall, error) {
	var jt jaegerTraces
	if err := json.Unmarshal(body, &jt); err != nil {
		return nil, fmt.Errorf("trace query: decode: %w", err)
	}
	out := make([]Waterfall, 0, len(jt.Data))
	for _, tr := range jt.Data {
		if w, ok := layout(tr); ok {
			out = append(out, w)
		}
	}
	slices.SortFunc(out, func(a, b Waterfall) int { return a.Start.Compare(b.Start) })
	return out, nil
}

// layout orders a trace's spans depth first, children by start time, and
// places each on the trace's time axis. A span whose parent is not in the
// trace (not yet exported, or lost) is shown as a root.
func layout(tr jaegerTrace) (Waterfall, bool) {
	if len(tr.Spans) == 0 {
		return Waterfall{}, false
	}
	ids := map[string]bool{}
	first, last := tr.Spans[0].StartTime, int64(0)
	for _, s := range tr.Spans {
		ids[s.SpanID] = true
		first = min(first, s.StartTime)
		last = max(last, s.StartTime+s.Duration)
	}
	children := map[string][]jaegerSpan{}
	for _, s := range tr.Spans {
		parent := ""
		for _, r := range s.References {
			if r.RefType == "CHILD_OF" && r.TraceID == tr.TraceID && ids[r.SpanID] {
				parent = r.SpanID
			}
		}
		children[parent] = append(children[parent], s)
	}
	for _, c := range children {
		slices.SortStableFunc(c, func(a, b jaegerSpan) int { return int(a.StartTime - b.StartTime) })
	}
	total := max(last-first, 1)
	w := Waterfall{TraceID: tr.TraceID, Start: time.UnixMicro(first).UTC(), Duration: time.Duration(total) * time.Microsecond}
	var walk func(parent string, depth int)
	walk = func(parent string, depth int) {
		for _, s := range children[parent] {
			w.Spans = append(w.Spans, row(tr, s, depth, first, total))
			walk(s.SpanID, depth+1)
		}
	}
	walk("", 0)
	return w, true
}

func row(tr jaegerTrace, s jaegerSpan, depth int, first, total int64) SpanRow {
	tags := map[string]string{}
	for _, t := range s.Tags {
		tags[t.Key] = fmt.Sprint(t.Value)
	}
	r := SpanRow{Service: tr.Processes[s.ProcessID].ServiceName, Name: s.OperationName, Kind: tags["span.kind"], Depth: depth,
		Offset: time.Duration(s.StartTime-first) * time.Microsecond, Duration: time.Duration(s.Duration) * time.Microsecond}
	if r.Kind == "internal" {
		r.Kind = ""
	}
	if tags["error"] == "true" || tags["otel.status_code"] == "ERROR" {
		r.Error = "error"
		for _, k := range []string{"otel.status_description", "error.type", "http.response.status_code"} {
			if v := tags[k]; v != "" {
				r.Error = v
				break
			}
		}
	}
	if tags["faas.coldstart"] == "true" {
		r.Cold, r.Woke = r.Duration, tags["faas.name"]
		if ms, err := strconv.ParseInt(tags["activator.wait_ms"], 10, 64); err == nil {
			r.Cold = time.Duration(ms) * time.Millisecond
		}
	}
	r.Left = int((s.StartTime - first) * 1000 / total)
	r.Width = max(int(s.Duration*1000/total), 2)
	if r.Left+r.Width > 1000 {
		r.Width = 1000 - r.Left
	}
	return r
}

// ms shows a duration in milliseconds, as a waterfall reads: "0.42 ms", "23 ms".
func ms(d time.Duration) string {
	f := float64(d) / float64(time.Millisecond)
	switch {
	case f < 10:
		return strconv.FormatFloat(f, 'f', 2, 64) + " ms"
	case f < 100:
		return strconv.FormatFloat(f, 'f', 1, 64) + " ms"
	}
	return strconv.FormatFloat(f, 'f', 0, 64) + " ms"
}

// Took shows how long the trace took, first span's start to last span's end.
func (w Waterfall) Took() string { return ms(w.Duration) }

// At shows when the span started, after the trace's start.
func (s SpanRow) At() string { return "+" + ms(s.Offset) }

// Took shows how long the span took.
func (s SpanRow) Took() string { return ms(s.Duration) }

// ColdText shows how long the wake took.
func (s SpanRow) ColdText() string { return ms(s.Cold) }

// Indent is the span's depth for the page's indentation, at most 8.
func (s SpanRow) Indent() int { return min(s.Depth, 8) }
