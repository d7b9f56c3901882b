package telemetry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
)

// countingIDs hands out trace and span ids 1, 2, 3…, so that a test can
// name them.
type countingIDs struct {
	mu sync.Mutex
	n  byte
}

func (g *countingIDs) next() byte {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.n++
	return g.n
}

func (g *countingIDs) NewIDs(context.Context) (trace.TraceID, trace.SpanID) {
	n := g.next()
	return trace.TraceID{15: n}, trace.SpanID{7: n}
}

func (g *countingIDs) NewSpanID(context.Context, trace.TraceID) trace.SpanID {
	return trace.SpanID{7: g.next()}
}

// collector is an OTLP/HTTP endpoint that records what it is sent and
// answers with the statuses it is given, then 200.
type collector struct {
	mu       sync.Mutex
	requests []*http.Request
	bodies   [][]byte
	answers  []func(http.ResponseWriter)
	srv      *httptest.Server
}

func newCollector(t *testing.T, answers ...func(http.ResponseWriter)) *collector {
	t.Helper()
	c := &collector{answers: answers}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Error(err)
		}
		c.mu.Lock()
		c.requests = append(c.requests, r)
		c.bodies = append(c.bodies, body)
		var answer func(http.ResponseWriter)
		if len(c.answers) > 0 {
			answer, c.answers = c.answers[0], c.answers[1:]
		}
		c.mu.Unlock()
		if answer != nil {
			answer(w)
		}
	}))
	t.Cleanup(c.srv.Close)
	return c
}

func answer(code int, body string, header ...string) func(http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.WriteHeader(code)
		io.WriteString(w, body)
	}
}

// hangUp closes the connection without an answer, as a collector that goes
// away mid-request does.
func hangUp(w http.ResponseWriter) {
	if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
		conn.Close()
	}
}

func (c *collector) received() ([]*http.Request, [][]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.requests, c.bodies
}

func exporterFor(t *testing.T, cfg Config) *spanExporter {
	t.Helper()
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	e, err := newSpanExporter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// sampleSpans ends spans of two resources and two scopes through the real
// SDK: every span kind, attributes of every value kind, events, links, a
// status of each code, a remote and a local parent, and counts of what the
// span limits dropped. It returns them in the order they ended.
func sampleSpans(t *testing.T, t0 time.Time) []sdktrace.ReadOnlySpan {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	res := resource.NewWithAttributes("https://opentelemetry.io/schemas/1.26.0",
		attribute.String("service.name", "order"), attribute.Int64("process.pid", 42),
		attribute.StringSlice("process.command_args", []string{"function", "--help"}))
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec), sdktrace.WithResource(res),
		sdktrace.WithIDGenerator(&countingIDs{}),
		sdktrace.WithRawSpanLimits(sdktrace.SpanLimits{AttributeValueLengthLimit: -1, AttributeCountLimit: 15,
			EventCountLimit: 2, LinkCountLimit: 2, AttributePerEventCountLimit: 1, AttributePerLinkCountLimit: 1}))
	ours := tp.Tracer("github.com/mskafka/knative-functions", trace.WithInstrumentationVersion("v1.2.3"),
		trace.WithSchemaURL("https://opentelemetry.io/schemas/1.26.0"),
		trace.WithInstrumentationAttributes(attribute.String("library", "ours")))
	theirs := tp.Tracer("otelhttp")

	remote := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{0: 0xaa, 15: 0xaa}, SpanID: trace.SpanID{0: 0xbb, 7: 0xbb},
		TraceFlags: trace.FlagsSampled, TraceState: mustTraceState(t, "rojo=00f067aa0ba902b7"), Remote: true,
	})
	linked := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{0: 0xcc}, SpanID: trace.SpanID{0: 0xdd},
		TraceState: mustTraceState(t, "congo=t61rcWkgMzE"), Remote: true,
	})
	ctx, server := ours.Start(trace.ContextWithRemoteSpanContext(context.Background(), remote), "POST /new",
		trace.WithSpanKind(trace.SpanKindServer), trace.WithTimestamp(t0),
		trace.WithLinks( // the limit keeps the last two, the first attribute of each
			trace.Link{SpanContext: trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{9}, SpanID: trace.SpanID{9}})},
			trace.Link{SpanContext: trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{2}, TraceFlags: trace.FlagsSampled})},
			trace.Link{SpanContext: linked, Attributes: []attribute.KeyValue{attribute.String("why", "retry"), attribute.Int("dropped", 1)}},
		),
		trace.WithAttributes(
			attribute.String("string", "s"), attribute.String("empty string", ""),
			attribute.Bool("bool", true), attribute.Bool("false", false),
			attribute.Int64("int", -7), attribute.Int64("zero", 0), attribute.Float64("float", 2.5),
			attribute.StringSlice("strings", []string{"a", ""}), attribute.BoolSlice("bools", []bool{true, false}),
			attribute.Int64Slice("ints", []int64{1, -2}), attribute.Float64Slice("floats", []float64{0.5, -1}),
			attribute.ByteSlice("bytes", []byte{0, 1}),
			attribute.Slice("mixed", attribute.IntValue(3), attribute.StringValue("x")),
			attribute.Map("map", attribute.String("k", "v"), attribute.Bool("b", true)),
			attribute.KeyValue{Key: "nothing"},
			attribute.String("over the limit", "dropped"),
		))
	server.AddEvent("evicted by the limit", trace.WithTimestamp(t0))
	server.AddEvent("bare", trace.WithTimestamp(t0.Add(2*time.Millisecond)))
	server.AddEvent("order placed", trace.WithTimestamp(t0.Add(3*time.Millisecond)),
		trace.WithAttributes(attribute.Int64("order_id", 7), attribute.String("dropped", "yes")))
	_, insert := ours.Start(ctx, "insert order", trace.WithTimestamp(t0.Add(time.Millisecond)))
	insert.SetStatus(codes.Ok, "")
	insert.End(trace.WithTimestamp(t0.Add(4 * time.Millisecond)))
	server.SetStatus(codes.Error, "database down")
	server.End(trace.WithTimestamp(t0.Add(5 * time.Millisecond)))

	for i, kind := range []trace.SpanKind{trace.SpanKindClient, trace.SpanKindProducer, trace.SpanKindConsumer} {
		at := t0.Add(time.Duration(10+i) * time.Millisecond)
		_, s := theirs.Start(context.Background(), kind.String(), trace.WithSpanKind(kind), trace.WithTimestamp(at))
		s.End(trace.WithTimestamp(at.Add(time.Millisecond)))
	}

	// A second resource, whose span comes between the first one's.
	rec2 := tracetest.NewSpanRecorder()
	tp2 := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec2), sdktrace.WithIDGenerator(&countingIDs{n: 100}),
		sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", "shipping"))))
	_, other := tp2.Tracer("github.com/mskafka/knative-functions").Start(context.Background(), "store shipment", trace.WithTimestamp(t0))
	other.End(trace.WithTimestamp(t0.Add(time.Second)))

	first := rec.Ended()
	return append(append(first[:2:2], rec2.Ended()...), first[2:]...)
}

func str(s string) *commonpb.AnyValue {
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_StringValue{StringValue: s}}
}
func boolean(b bool) *commonpb.AnyValue {
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_BoolValue{BoolValue: b}}
}
func integer(i int64) *commonpb.AnyValue {
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: i}}
}
func double(f float64) *commonpb.AnyValue {
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_DoubleValue{DoubleValue: f}}
}
func array(vs ...*commonpb.AnyValue) *commonpb.AnyValue {
	return &commonpb.AnyValue{Value: &commonpb.AnyValue_ArrayValue{ArrayValue: &commonpb.ArrayValue{Values: vs}}}
}
func keyValue(k string, v *commonpb.AnyValue) *commonpb.KeyValue {
	return &commonpb.KeyValue{Key: k, Value: v}
}

func nanos(t time.Time) uint64 { return uint64(t.UnixNano()) }

// The body is an ExportTraceServiceRequest that the official generated
// types read back field for field.
func TestSpanExportEncodesEveryField(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)
	c := newCollector(t)
	e := exporterFor(t, Config{TracesEndpoint: c.srv.URL + "/v1/traces", TracesExporter: "otlp"})
	if err := e.ExportSpans(context.Background(), sampleSpans(t, t0)); err != nil {
		t.Fatal(err)
	}
	reqs, bodies := c.received()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	if r := reqs[0]; r.Method != http.MethodPost || r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" {
		t.Errorf("%s %s Content-Type %q, want POST /v1/traces application/x-protobuf", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
	}
	var got coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(bodies[0], &got); err != nil {
		t.Fatal(err)
	}

	traceID := func(n byte) []byte { return (&trace.TraceID{15: n})[:] }
	spanID := func(n byte) []byte { return (&trace.SpanID{7: n})[:] }
	remoteTrace := (&trace.TraceID{0: 0xaa, 15: 0xaa})[:]
	ms := func(n int) uint64 { return nanos(t0.Add(time.Duration(n) * time.Millisecond)) }
	want := &coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{
		{
			Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{ // sorted, as the resource keeps them
				keyValue("process.command_args", array(str("function"), str("--help"))),
				keyValue("process.pid", integer(42)),
				keyValue("service.name", str("order")),
			}},
			SchemaUrl: "https://opentelemetry.io/schemas/1.26.0",
			ScopeSpans: []*tracepb.ScopeSpans{
				{
					Scope: &commonpb.InstrumentationScope{Name: "github.com/mskafka/knative-functions", Version: "v1.2.3",
						Attributes: []*commonpb.KeyValue{keyValue("library", str("ours"))}},
					SchemaUrl: "https://opentelemetry.io/schemas/1.26.0",
					Spans: []*tracepb.Span{
						{
							TraceId: remoteTrace, SpanId: spanID(2), ParentSpanId: spanID(1) /* the server span */, TraceState: "rojo=00f067aa0ba902b7",
							Flags: 0x101, Name: "insert order", Kind: tracepb.Span_SPAN_KIND_INTERNAL,
							StartTimeUnixNano: ms(1), EndTimeUnixNano: ms(4),
							Status: &tracepb.Status{Code: tracepb.Status_STATUS_CODE_OK},
						},
						{
							TraceId: remoteTrace, SpanId: spanID(1), ParentSpanId: (&trace.SpanID{0: 0xbb, 7: 0xbb})[:],
							TraceState: "rojo=00f067aa0ba902b7", Flags: 0x301, Name: "POST /new", Kind: tracepb.Span_SPAN_KIND_SERVER,
							StartTimeUnixNano: ms(0), EndTimeUnixNano: ms(5),
							Attributes: []*commonpb.KeyValue{
								keyValue("string", str("s")), keyValue("empty string", str("")),
								keyValue("bool", boolean(true)), keyValue("false", boolean(false)),
								keyValue("int", integer(-7)), keyValue("zero", integer(0)), keyValue("float", double(2.5)),
								keyValue("strings", array(str("a"), str(""))), keyValue("bools", array(boolean(true), boolean(false))),
								keyValue("ints", array(integer(1), integer(-2))), keyValue("floats", array(double(0.5), double(-1))),
								keyValue("bytes", &commonpb.AnyValue{Value: &commonpb.AnyValue_BytesValue{BytesValue: []byte{0, 1}}}),
								keyValue("mixed", array(integer(3), str("x"))),
								keyValue("map", &commonpb.AnyValue{Value: &commonpb.AnyValue_KvlistValue{KvlistValue: &commonpb.KeyValueList{
									Values: []*commonpb.KeyValue{keyValue("b", boolean(true)), keyValue("k", str("v"))}}}}),
								keyValue("nothing", &commonpb.AnyValue{}),
							},
							DroppedAttributesCount: 1,
							Events: []*tracepb.Span_Event{
								{Name: "bare", TimeUnixNano: ms(2)},
								{Name: "order placed", TimeUnixNano: ms(3), Attributes: []*commonpb.KeyValue{keyValue("order_id", integer(7))},
									DroppedAttributesCount: 1},
							},
							DroppedEventsCount: 1,
							Links: []*tracepb.Span_Link{
								{TraceId: (&trace.TraceID{1})[:], SpanId: (&trace.SpanID{2})[:], Flags: 0x101},
								{TraceId: (&trace.TraceID{0: 0xcc})[:], SpanId: (&trace.SpanID{0: 0xdd})[:], TraceState: "congo=t61rcWkgMzE",
									Attributes: []*commonpb.KeyValue{keyValue("why", str("retry"))}, DroppedAttributesCount: 1, Flags: 0x300},
							},
							DroppedLinksCount: 1,
							Status:            &tracepb.Status{Code: tracepb.Status_STATUS_CODE_ERROR, Message: "database down"},
						},
					},
				},
				{
					Scope: &commonpb.InstrumentationScope{Name: "otelhttp"},
					Spans: []*tracepb.Span{
						{TraceId: traceID(3), SpanId: spanID(3), Flags: 0x101, Name: "client", Kind: tracepb.Span_SPAN_KIND_CLIENT,
							StartTimeUnixNano: ms(10), EndTimeUnixNano: ms(11), Status: &tracepb.Status{}},
						{TraceId: traceID(4), SpanId: spanID(4), Flags: 0x101, Name: "producer", Kind: tracepb.Span_SPAN_KIND_PRODUCER,
							StartTimeUnixNano: ms(11), EndTimeUnixNano: ms(12), Status: &tracepb.Status{}},
						{TraceId: traceID(5), SpanId: spanID(5), Flags: 0x101, Name: "consumer", Kind: tracepb.Span_SPAN_KIND_CONSUMER,
							StartTimeUnixNano: ms(12), EndTimeUnixNano: ms(13), Status: &tracepb.Status{}},
					},
				},
			},
		},
		{
			Resource: &resourcepb.Resource{Attributes: []*commonpb.KeyValue{keyValue("service.name", str("shipping"))}},
			ScopeSpans: []*tracepb.ScopeSpans{{
				Scope: &commonpb.InstrumentationScope{Name: "github.com/mskafka/knative-functions"},
				Spans: []*tracepb.Span{{TraceId: traceID(101), SpanId: spanID(101), Flags: 0x101, Name: "store shipment",
					Kind: tracepb.Span_SPAN_KIND_INTERNAL, StartTimeUnixNano: nanos(t0), EndTimeUnixNano: nanos(t0.Add(time.Second)),
					Status: &tracepb.Status{}}},
			}},
		},
	}}
	if diff := cmp.Diff(want, &got, protocmp.Transform()); diff != "" {
		t.Errorf("ExportTraceServiceRequest (-want +got):\n%s", diff)
	}
}

func TestSpanExportHeaders(t *testing.T) {
	tests := []struct {
		name          string
		all, forSpans headerList
		want          map[string]string
	}{
		{"general headers", "authorization=Bearer%20t0ken, x-tenant = a%2Cb ", "",
			map[string]string{"Authorization": "Bearer t0ken", "X-Tenant": "a,b"}},
		{"the spans' own replace them", "authorization=Bearer%20t0ken,x-tenant=a", "x-span-key=k1",
			map[string]string{"Authorization": "", "X-Tenant": "", "X-Span-Key": "k1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCollector(t)
			e := exporterFor(t, Config{Endpoint: c.srv.URL, TracesExporter: "otlp", Headers: tt.all, TracesHeaders: tt.forSpans})
			if err := e.ExportSpans(context.Background(), sampleSpans(t, time.Now())[:1]); err != nil {
				t.Fatal(err)
			}
			reqs, _ := c.received()
			got := map[string]string{}
			for k := range tt.want {
				got[k] = reqs[0].Header.Get(k)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("headers (-want +got):\n%s", diff)
			}
			if ct := reqs[0].Header.Get("Content-Type"); ct != "application/x-protobuf" {
				t.Errorf("Content-Type %q", ct)
			}
		})
	}
}

// A collector that asks for time (429, 503 with Retry-After) or drops the
// connection is asked again with the same body; a refusal (400) is final
// and named.
func TestSpanExportAnswers(t *testing.T) {
	tests := []struct {
		name         string
		answers      []func(http.ResponseWriter)
		timeout      int // ms
		wantRequests int
		wantErr      []string // all in the error; none: success
	}{
		{"200", nil, 0, 1, nil},
		{"503 then 200", []func(http.ResponseWriter){answer(503, "busy"), answer(429, "", "Retry-After", "0")}, 0, 3, nil},
		{"dropped connection then 200", []func(http.ResponseWriter){hangUp}, 0, 2, nil},
		{"400 is final", []func(http.ResponseWriter){answer(400, "bad span\n")}, 0, 1,
			[]string{"400 Bad Request", `"bad span"`, "127.0.0.1"}},
		{"404 is final", []func(http.ResponseWriter){answer(404, "")}, 0, 1, []string{"404 Not Found", "(empty answer)"}},
		{"503 until the timeout", []func(http.ResponseWriter){
			answer(503, "busy"), answer(503, "busy"), answer(503, "busy"), answer(503, "busy"), answer(503, "busy"), answer(503, "busy"),
		}, 400, 3, []string{"503 Service Unavailable", `"busy"`}}, // waits 100, 200 ms; the third wait, 400, would pass the timeout
		{"Retry-After beyond the timeout", []func(http.ResponseWriter){answer(429, "", "Retry-After", "60")}, 500, 1,
			[]string{"429 Too Many Requests"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCollector(t, tt.answers...)
			e := exporterFor(t, Config{TracesEndpoint: strings.Replace(c.srv.URL, "http://", "http://user:s3cret@", 1) + "/v1/traces",
				TracesExporter: "otlp", TracesTimeout: tt.timeout})
			start := time.Now()
			err := e.ExportSpans(context.Background(), sampleSpans(t, start))
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("took %v", took)
			}
			reqs, bodies := c.received()
			if len(reqs) != tt.wantRequests {
				t.Errorf("%d requests, want %d", len(reqs), tt.wantRequests)
			}
			for _, b := range bodies[1:] {
				if string(b) != string(bodies[0]) {
					t.Error("a retry sent another body")
				}
			}
			switch {
			case len(tt.wantErr) == 0 && err != nil:
				t.Errorf("ExportSpans: %v", err)
			case len(tt.wantErr) > 0 && err == nil:
				t.Errorf("ExportSpans succeeded, want an error with %q", tt.wantErr)
			case err != nil:
				for _, w := range append(tt.wantErr, "/v1/traces") {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q lacks %q", err, w)
					}
				}
				if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "user") {
					t.Errorf("error %q shows the endpoint's user info", err)
				}
			}
		})
	}
}

// A collector that cannot be reached is named, without its credentials.
func TestSpanExportUnreachable(t *testing.T) {
	c := newCollector(t)
	c.srv.Close()
	// Retried until the timeout: 100 and 200 ms waits, then it gives up.
	e := exporterFor(t, Config{Endpoint: strings.Replace(c.srv.URL, "http://", "http://user:s3cret@", 1), TracesExporter: "otlp", Timeout: 400})
	err := e.ExportSpans(context.Background(), sampleSpans(t, time.Now()))
	if err == nil || !strings.Contains(err.Error(), strings.TrimPrefix(c.srv.URL, "http://")+"/v1/traces") {
		t.Fatalf("ExportSpans: %v, want an error naming the endpoint", err)
	}
	if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "user") {
		t.Errorf("error %q shows the endpoint's user info", err)
	}
}

func TestSpanExporterShutdown(t *testing.T) {
	c := newCollector(t)
	e := exporterFor(t, Config{Endpoint: c.srv.URL, TracesExporter: "otlp"})
	for range 2 {
		if err := e.Shutdown(context.Background()); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	}
	if err := e.ExportSpans(context.Background(), sampleSpans(t, time.Now())); !errors.Is(err, errExporterShutdown) {
		t.Errorf("ExportSpans after Shutdown: %v, want %v", err, errExporterShutdown)
	}
	if reqs, _ := c.received(); len(reqs) != 0 {
		t.Errorf("%d requests after Shutdown", len(reqs))
	}
}

// A collector's partial success (2xx, some spans rejected) is reported.
func TestPartialSuccess(t *testing.T) {
	tests := []struct {
		name string
		resp *coltracepb.ExportTraceServiceResponse
		want string
	}{
		{"full success", &coltracepb.ExportTraceServiceResponse{}, ""},
		{"empty partial success", &coltracepb.ExportTraceServiceResponse{PartialSuccess: &coltracepb.ExportTracePartialSuccess{}}, ""},
		{"rejected", &coltracepb.ExportTraceServiceResponse{PartialSuccess: &coltracepb.ExportTracePartialSuccess{
			RejectedSpans: 2, ErrorMessage: "too old"}}, `collector rejected 2 spans: "too old"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := proto.Marshal(tt.resp)
			if err != nil {
				t.Fatal(err)
			}
			got := fmt.Sprint(partialSuccess(b))
			if tt.want == "" && got != "<nil>" || tt.want != "" && got != tt.want {
				t.Errorf("partialSuccess = %s, want %q", got, tt.want)
			}
		})
	}
	if err := partialSuccess([]byte{0x0a, 0x05}); err == nil {
		t.Error("a truncated answer reads as no error")
	}
}

// Through New and the batcher: spans reach the endpoint on Shutdown.
func TestNewExportsSpans(t *testing.T) {
	c := newCollector(t)
	ctx := context.Background()
	tel, err := New(ctx, "order", Config{Endpoint: c.srv.URL, Headers: "authorization=Bearer%20t0ken",
		Protocol: "http/protobuf", TracesExporter: "otlp", MetricsExporter: "none"})
	if err != nil {
		t.Fatal(err)
	}
	_, span := tel.Tracer.Start(ctx, "place order")
	span.End()
	if err := tel.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	reqs, bodies := c.received()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	if got := reqs[0].Header.Get("Authorization"); got != "Bearer t0ken" {
		t.Errorf("Authorization %q", got)
	}
	var got coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(bodies[0], &got); err != nil {
		t.Fatal(err)
	}
	rs := got.GetResourceSpans()
	if len(rs) != 1 || len(rs[0].GetScopeSpans()) != 1 || len(rs[0].GetScopeSpans()[0].GetSpans()) != 1 {
		t.Fatalf("want one span: %v", &got)
	}
	if s := rs[0].GetScopeSpans()[0]; s.GetScope().GetName() != scope || s.GetSpans()[0].GetName() != "place order" {
		t.Errorf("scope %q span %q", s.GetScope().GetName(), s.GetSpans()[0].GetName())
	}
	var service string
	for _, a := range rs[0].GetResource().GetAttributes() {
		if a.GetKey() == "service.name" {
			service = a.GetValue().GetStringValue()
		}
	}
	if service != "order" {
		t.Errorf("service.name %q, want order", service)
	}
}
