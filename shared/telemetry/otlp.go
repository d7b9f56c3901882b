package telemetry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/encoding/protowire"
)

// This file is the span exporter: OTLP/HTTP with the protobuf encoding,
// written by hand with protowire. The official otlptracehttp exporter
// brings gRPC, grpc-gateway and the generated OTLP types into every
// function and costs it a millisecond of cold start; all it sends is the one
// message below.

// The field numbers of the OTLP messages this exporter writes, from
// opentelemetry-proto as go.opentelemetry.io/proto/otlp v1.11.0 generates it
// (the protobuf struct tags of its .pb.go files): ExportTraceServiceRequest
// in opentelemetry/proto/collector/trace/v1/trace_service.proto; ResourceSpans,
// ScopeSpans, Span, Span.Event, Span.Link and Status in
// opentelemetry/proto/trace/v1/trace.proto; Resource in
// opentelemetry/proto/resource/v1/resource.proto; InstrumentationScope,
// KeyValue, AnyValue, ArrayValue and KeyValueList in
// opentelemetry/proto/common/v1/common.proto.
const (
	requestResourceSpans protowire.Number = 1 // repeated ResourceSpans

	resourceSpansResource   protowire.Number = 1 // Resource
	resourceSpansScopeSpans protowire.Number = 2 // repeated ScopeSpans
	resourceSpansSchemaURL  protowire.Number = 3 // string

	resourceAttributes protowire.Number = 1 // repeated KeyValue

	scopeSpansScope     protowire.Number = 1 // InstrumentationScope
	scopeSpansSpans     protowire.Number = 2 // repeated Span
	scopeSpansSchemaURL protowire.Number = 3 // string

	scopeName       protowire.Number = 1 // string
	scopeVersion    protowire.Number = 2 // string
	scopeAttributes protowire.Number = 3 // repeated KeyValue

	spanTraceID                protowire.Number = 1  // bytes
	spanSpanID                 protowire.Number = 2  // bytes
	spanTraceState             protowire.Number = 3  // string
	spanParentSpanID           protowire.Number = 4  // bytes
	spanName                   protowire.Number = 5  // string
	spanKind                   protowire.Number = 6  // enum SpanKind, varint
	spanStartTime              protowire.Number = 7  // fixed64, Unix nanoseconds
	spanEndTime                protowire.Number = 8  // fixed64
	spanAttributes             protowire.Number = 9  // repeated KeyValue
	spanDroppedAttributesCount protowire.Number = 10 // uint32, varint
	spanEvents                 protowire.Number = 11 // repeated Span.Event
	spanDroppedEventsCount     protowire.Number = 12 // uint32
	spanLinks                  protowire.Number = 13 // repeated Span.Link
	spanDroppedLinksCount      protowire.Number = 14 // uint32
	spanStatus                 protowire.Number = 15 // Status
	spanFlags                  protowire.Number = 16 // fixed32

	eventTime                   protowire.Number = 1 // fixed64
	eventName                   protowire.Number = 2 // string
	eventAttributes             protowire.Number = 3 // repeated KeyValue
	eventDroppedAttributesCount protowire.Number = 4 // uint32

	linkTraceID                protowire.Number = 1 // bytes
	linkSpanID                 protowire.Number = 2 // bytes
	linkTraceState             protowire.Number = 3 // string
	linkAttributes             protowire.Number = 4 // repeated KeyValue
	linkDroppedAttributesCount protowire.Number = 5 // uint32
	linkFlags                  protowire.Number = 6 // fixed32

	statusMessage protowire.Number = 2 // string
	statusCode    protowire.Number = 3 // enum StatusCode, varint

	keyValueKey   protowire.Number = 1 // string
	keyValueValue protowire.Number = 2 // AnyValue

	anyString  protowire.Number = 1 // oneof value: string
	anyBool    protowire.Number = 2 // bool, varint
	anyInt     protowire.Number = 3 // int64, varint
	anyDouble  protowire.Number = 4 // double, fixed64
	anyArray   protowire.Number = 5 // ArrayValue
	anyKvlist  protowire.Number = 6 // KeyValueList
	anyBytes   protowire.Number = 7 // bytes
	arrayValue protowire.Number = 1 // ArrayValue and KeyValueList: repeated AnyValue, KeyValue

	responsePartialSuccess protowire.Number = 1 // ExportTraceServiceResponse: ExportTracePartialSuccess
	partialRejectedSpans   protowire.Number = 1 // int64
	partialErrorMessage    protowire.Number = 2 // string
)

// The enum values and flag bits of the same files: SpanKind, StatusCode and
// SpanFlags in trace.proto.
const (
	kindInternal = 1
	kindServer   = 2
	kindClient   = 3
	kindProducer = 4
	kindConsumer = 5

	statusOK    = 1
	statusError = 2

	flagContextHasIsRemote = 0x100
	flagContextIsRemote    = 0x200
)

// protobufContentType is the Content-Type of OTLP/HTTP with protobuf.
const protobufContentType = "application/x-protobuf"

// Retry waits: short, because the batcher holds newer spans meanwhile and a
// function lives only as long as its requests.
const (
	firstRetryWait = 100 * time.Millisecond
	maxRetryWait   = 2 * time.Second
)

// errExporterShutdown is what ExportSpans returns after Shutdown.
var errExporterShutdown = errors.New("span exporter is shut down")

// spanExporter sends spans to an OTLP/HTTP endpoint.
type spanExporter struct {
	url     string // POSTed to; logged only through redactEndpoint
	headers http.Header
	timeout time.Duration // of one ExportSpans, retries included
	client  *http.Client
	stopped atomic.Bool
}

var _ sdktrace.SpanExporter = (*spanExporter)(nil)

func newSpanExporter(cfg Config) (*spanExporter, error) {
	headers, err := cfg.tracesHeaders().parse()
	if err != nil {
		return nil, err
	}
	// A transport of its own: Shutdown closes its idle connections, which
	// on http.DefaultTransport are the process's.
	transport := http.DefaultTransport.(*http.Transport).Clone()
	return &spanExporter{url: cfg.tracesURL(), headers: headers, timeout: cfg.tracesTimeout(),
		client: &http.Client{Transport: transport}}, nil
}

// ExportSpans sends spans in one request, retrying while the collector asks
// to (429, 502, 503, 504) or cannot be reached, and the timeout allows.
func (e *spanExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	if e.stopped.Load() {
		return errExporterShutdown
	}
	if len(spans) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	body := appendTraceRequest(nil, spans)
	wait := firstRetryWait
	for {
		retryAfter, err := e.post(ctx, body)
		if retryAfter < 0 || err == nil {
			return err
		}
		wait = max(wait, retryAfter)
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < wait {
			return err // waiting would outlast the timeout
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (gave up: %w)", err, ctx.Err())
		case <-t.C:
		}
		wait = min(2*wait, maxRetryWait)
	}
}

// post sends body once. retryAfter is negative when the error is final, and
// otherwise how long the collector asked to wait (0: not said, or no answer).
func (e *spanExporter) post(ctx context.Context, body []byte) (retryAfter time.Duration, err error) {
	endpoint := redactEndpoint(e.url)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url, bytes.NewReader(body))
	if err != nil {
		return -1, fmt.Errorf("export spans to %s: %w", endpoint, unwrapURLError(err))
	}
	for k, vs := range e.headers {
		req.Header[k] = vs
	}
	req.Header.Set("Content-Type", protobufContentType)
	resp, err := e.client.Do(req)
	if err != nil {
		err = fmt.Errorf("export spans to %s: %w", endpoint, unwrapURLError(err))
		if ctx.Err() != nil {
			return -1, err
		}
		// A collector that is restarting, or a sidecar not yet up, refuses
		// or drops the connection for a moment: worth another try, as a 503.
		return 0, err
	}
	// Read what the collector says and the rest too, so that the
	// connection can carry the next export.
	answer, readErr := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()

	switch code := resp.StatusCode; {
	case code >= 200 && code <= 299:
		if readErr == nil && strings.HasPrefix(resp.Header.Get("Content-Type"), protobufContentType) {
			if err := partialSuccess(answer); err != nil {
				// Still a success: the rest was taken, and resending the
				// rejected spans would only be rejected again.
				otel.Handle(fmt.Errorf("export spans to %s: %w", endpoint, err))
			}
		}
		return -1, nil
	case code == http.StatusTooManyRequests, code == http.StatusBadGateway,
		code == http.StatusServiceUnavailable, code == http.StatusGatewayTimeout:
		return retryAfterHeader(resp.Header.Get("Retry-After")),
			fmt.Errorf("export spans to %s: %s: %s", endpoint, resp.Status, summarise(answer))
	default:
		return -1, fmt.Errorf("export spans to %s: %s: %s", endpoint, resp.Status, summarise(answer))
	}
}

// unwrapURLError drops the *url.Error around a transport error: it quotes
// the URL with its user name, which here may be a token.
func unwrapURLError(err error) error {
	if ue, ok := errors.AsType[*url.Error](err); ok {
		return ue.Err
	}
	return err
}

// summarise is the start of a collector's answer, for an error message.
func summarise(answer []byte) string {
	s := strings.TrimSpace(strings.ToValidUTF8(string(answer), "?"))
	if s == "" {
		return "(empty answer)"
	}
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return strconv.Quote(s)
}

// retryAfterHeader reads a Retry-After in seconds or as a date (RFC 9110);
// 0 when absent or unreadable.
func retryAfterHeader(v string) time.Duration {
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}

// partialSuccess reads an ExportTraceServiceResponse and returns an error
// when the collector rejected some spans.
func partialSuccess(b []byte) error {
	var rejected int64
	var msg string
	err := eachField(b, func(num protowire.Number, typ protowire.Type, v []byte) error {
		if num != responsePartialSuccess || typ != protowire.BytesType {
			return nil
		}
		return eachField(v, func(num protowire.Number, typ protowire.Type, v []byte) error {
			switch {
			case num == partialRejectedSpans && typ == protowire.VarintType:
				n, _ := protowire.ConsumeVarint(v)
				rejected = int64(n)
			case num == partialErrorMessage && typ == protowire.BytesType:
				msg = string(v)
			}
			return nil
		})
	})
	switch {
	case err != nil:
		return fmt.Errorf("unreadable answer: %w", err)
	case rejected != 0 || msg != "":
		return fmt.Errorf("collector rejected %d spans: %q", rejected, msg)
	}
	return nil
}

// eachField calls fn with each field of a message: for a varint its
// encoding, for bytes (strings, messages) their content.
func eachField(b []byte, fn func(protowire.Number, protowire.Type, []byte) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			return protowire.ParseError(m)
		}
		v := b[:m]
		if typ == protowire.BytesType {
			v, _ = protowire.ConsumeBytes(v)
		}
		if err := fn(num, typ, v); err != nil {
			return err
		}
		b = b[m:]
	}
	return nil
}

// Shutdown makes later exports fail; spans still in the batcher were
// exported by the provider's Shutdown before it calls this.
func (e *spanExporter) Shutdown(context.Context) error {
	if e.stopped.CompareAndSwap(false, true) {
		e.client.CloseIdleConnections()
	}
	return nil
}

// appendTraceRequest appends an ExportTraceServiceRequest of spans, grouped
// by resource and then by instrumentation scope, as the official exporter
// groups them (otlptrace/internal/tracetransform, Spans); groups keep the
// order in which their first span came.
func appendTraceRequest(b []byte, spans []sdktrace.ReadOnlySpan) []byte {
	type scopeGroup struct {
		scope instrumentation.Scope
		spans []sdktrace.ReadOnlySpan
	}
	type resourceGroup struct {
		key    attribute.Distinct
		res    *resource.Resource
		scopes []*scopeGroup
	}
	var groups []*resourceGroup // a batch has a resource or two and a few scopes: a scan beats a map
	for _, s := range spans {
		key := s.Resource().Equivalent()
		i := slices.IndexFunc(groups, func(g *resourceGroup) bool { return g.key == key })
		if i < 0 {
			groups = append(groups, &resourceGroup{key: key, res: s.Resource()})
			i = len(groups) - 1
		}
		g := groups[i]
		j := slices.IndexFunc(g.scopes, func(sg *scopeGroup) bool { return sg.scope == s.InstrumentationScope() })
		if j < 0 {
			g.scopes = append(g.scopes, &scopeGroup{scope: s.InstrumentationScope()})
			j = len(g.scopes) - 1
		}
		g.scopes[j].spans = append(g.scopes[j].spans, s)
	}
	for _, g := range groups {
		b = appendMessage(b, requestResourceSpans, func(b []byte) []byte {
			if g.res != nil {
				b = appendMessage(b, resourceSpansResource, func(b []byte) []byte {
					return appendAttributes(b, resourceAttributes, g.res.Attributes())
				})
			}
			for _, sg := range g.scopes {
				b = appendMessage(b, resourceSpansScopeSpans, func(b []byte) []byte {
					if sg.scope != (instrumentation.Scope{}) {
						b = appendMessage(b, scopeSpansScope, func(b []byte) []byte {
							b = appendString(b, scopeName, sg.scope.Name)
							b = appendString(b, scopeVersion, sg.scope.Version)
							return appendAttributes(b, scopeAttributes, sg.scope.Attributes.ToSlice())
						})
					}
					for _, s := range sg.spans {
						b = appendMessage(b, scopeSpansSpans, func(b []byte) []byte { return appendSpan(b, s) })
					}
					return appendString(b, scopeSpansSchemaURL, sg.scope.SchemaURL)
				})
			}
			if g.res != nil {
				b = appendString(b, resourceSpansSchemaURL, g.res.SchemaURL())
			}
			return b
		})
	}
	return b
}

func appendSpan(b []byte, s sdktrace.ReadOnlySpan) []byte {
	sc := s.SpanContext()
	tid, sid := sc.TraceID(), sc.SpanID()
	b = appendBytes(b, spanTraceID, tid[:])
	b = appendBytes(b, spanSpanID, sid[:])
	b = appendString(b, spanTraceState, sc.TraceState().String())
	if psid := s.Parent().SpanID(); psid.IsValid() {
		b = appendBytes(b, spanParentSpanID, psid[:])
	}
	b = appendString(b, spanName, s.Name())
	b = appendVarint(b, spanKind, kindOf(s.SpanKind()))
	b = appendFixed64(b, spanStartTime, unixNano(s.StartTime()))
	b = appendFixed64(b, spanEndTime, unixNano(s.EndTime()))
	b = appendAttributes(b, spanAttributes, s.Attributes())
	b = appendVarint(b, spanDroppedAttributesCount, count(s.DroppedAttributes()))
	for _, ev := range s.Events() {
		b = appendMessage(b, spanEvents, func(b []byte) []byte {
			b = appendFixed64(b, eventTime, unixNano(ev.Time))
			b = appendString(b, eventName, ev.Name)
			b = appendAttributes(b, eventAttributes, ev.Attributes)
			return appendVarint(b, eventDroppedAttributesCount, count(ev.DroppedAttributeCount))
		})
	}
	b = appendVarint(b, spanDroppedEventsCount, count(s.DroppedEvents()))
	for _, l := range s.Links() {
		b = appendMessage(b, spanLinks, func(b []byte) []byte {
			tid, sid := l.SpanContext.TraceID(), l.SpanContext.SpanID()
			b = appendBytes(b, linkTraceID, tid[:])
			b = appendBytes(b, linkSpanID, sid[:])
			b = appendString(b, linkTraceState, l.SpanContext.TraceState().String())
			b = appendAttributes(b, linkAttributes, l.Attributes)
			b = appendVarint(b, linkDroppedAttributesCount, count(l.DroppedAttributeCount))
			return appendFixed32(b, linkFlags, flags(l.SpanContext.TraceFlags(), l.SpanContext.IsRemote()))
		})
	}
	b = appendVarint(b, spanDroppedLinksCount, count(s.DroppedLinks()))
	// Always present, if empty, as the official exporter sends it.
	b = appendMessage(b, spanStatus, func(b []byte) []byte {
		st := s.Status()
		b = appendString(b, statusMessage, st.Description)
		return appendVarint(b, statusCode, statusOf(st.Code))
	})
	return appendFixed32(b, spanFlags, flags(sc.TraceFlags(), s.Parent().IsRemote()))
}

func kindOf(k trace.SpanKind) uint64 {
	switch k {
	case trace.SpanKindInternal:
		return kindInternal
	case trace.SpanKindServer:
		return kindServer
	case trace.SpanKindClient:
		return kindClient
	case trace.SpanKindProducer:
		return kindProducer
	case trace.SpanKindConsumer:
		return kindConsumer
	}
	return 0 // SPAN_KIND_UNSPECIFIED
}

func statusOf(c codes.Code) uint64 {
	switch c {
	case codes.Ok:
		return statusOK
	case codes.Error:
		return statusError
	}
	return 0 // STATUS_CODE_UNSET
}

// flags are the W3C trace flags in the low byte, and whether the parent
// (of a link: the linked span) is remote, which this process knows.
func flags(tf trace.TraceFlags, remote bool) uint32 {
	f := uint32(tf) | flagContextHasIsRemote
	if remote {
		f |= flagContextIsRemote
	}
	return f
}

func unixNano(t time.Time) uint64 { return uint64(max(t.UnixNano(), 0)) }

func count(n int) uint64 { return uint64(min(max(int64(n), 0), math.MaxUint32)) }

func appendAttributes(b []byte, num protowire.Number, attrs []attribute.KeyValue) []byte {
	for _, kv := range attrs {
		b = appendKeyValue(b, num, string(kv.Key), kv.Value)
	}
	return b
}

func appendKeyValue(b []byte, num protowire.Number, key string, v attribute.Value) []byte {
	return appendMessage(b, num, func(b []byte) []byte {
		b = appendString(b, keyValueKey, key)
		return appendMessage(b, keyValueValue, func(b []byte) []byte { return appendAnyValue(b, v) })
	})
}

// appendAnyValue appends the fields of an AnyValue. Its value is a oneof:
// written even when zero, unlike the plain fields around it.
func appendAnyValue(b []byte, v attribute.Value) []byte {
	switch v.Type() {
	case attribute.STRING:
		return protowire.AppendString(protowire.AppendTag(b, anyString, protowire.BytesType), v.AsString())
	case attribute.BOOL:
		return protowire.AppendVarint(protowire.AppendTag(b, anyBool, protowire.VarintType), protowire.EncodeBool(v.AsBool()))
	case attribute.INT64:
		return protowire.AppendVarint(protowire.AppendTag(b, anyInt, protowire.VarintType), uint64(v.AsInt64()))
	case attribute.FLOAT64:
		return appendDouble(b, v.AsFloat64())
	case attribute.BYTESLICE:
		return protowire.AppendBytes(protowire.AppendTag(b, anyBytes, protowire.BytesType), v.AsByteSlice())
	case attribute.STRINGSLICE:
		return appendArray(b, v.AsStringSlice(), attribute.StringValue)
	case attribute.BOOLSLICE:
		return appendArray(b, v.AsBoolSlice(), attribute.BoolValue)
	case attribute.INT64SLICE:
		return appendArray(b, v.AsInt64Slice(), attribute.Int64Value)
	case attribute.FLOAT64SLICE:
		return appendArray(b, v.AsFloat64Slice(), attribute.Float64Value)
	case attribute.SLICE:
		return appendArray(b, v.AsSlice(), func(v attribute.Value) attribute.Value { return v })
	case attribute.MAP:
		return appendMessage(b, anyKvlist, func(b []byte) []byte {
			for _, kv := range v.AsMap() {
				b = appendKeyValue(b, arrayValue, string(kv.Key), kv.Value)
			}
			return b
		})
	case attribute.EMPTY:
		return b // an AnyValue with no value
	}
	return protowire.AppendString(protowire.AppendTag(b, anyString, protowire.BytesType), "INVALID") // as the official exporter does
}

func appendDouble(b []byte, f float64) []byte {
	b = protowire.AppendTag(b, anyDouble, protowire.Fixed64Type)
	return protowire.AppendFixed64(b, math.Float64bits(f))
}

func appendArray[T any](b []byte, vs []T, value func(T) attribute.Value) []byte {
	return appendMessage(b, anyArray, func(b []byte) []byte {
		for _, v := range vs {
			b = appendMessage(b, arrayValue, func(b []byte) []byte { return appendAnyValue(b, value(v)) })
		}
		return b
	})
}

// appendMessage appends field num holding the message fill appends. The
// length goes before the message but is known only after it: fill writes
// where the message would start, then the message moves up to make room
// for its length (one copy, no buffer of its own).
func appendMessage(b []byte, num protowire.Number, fill func([]byte) []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	start := len(b)
	b = fill(b)
	n := len(b) - start
	size := protowire.SizeVarint(uint64(n))
	b = append(b, make([]byte, size)...)
	copy(b[start+size:], b[start:start+n])
	protowire.AppendVarint(b[:start], uint64(n))
	return b
}

// The plain (non-oneof) fields of proto3: a zero value is not written.

func appendString(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	return protowire.AppendString(protowire.AppendTag(b, num, protowire.BytesType), s)
}

func appendBytes(b []byte, num protowire.Number, v []byte) []byte {
	if len(v) == 0 {
		return b
	}
	return protowire.AppendBytes(protowire.AppendTag(b, num, protowire.BytesType), v)
}

func appendVarint(b []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	return protowire.AppendVarint(protowire.AppendTag(b, num, protowire.VarintType), v)
}

func appendFixed64(b []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	return protowire.AppendFixed64(protowire.AppendTag(b, num, protowire.Fixed64Type), v)
}

func appendFixed32(b []byte, num protowire.Number, v uint32) []byte {
	if v == 0 {
		return b
	}
	return protowire.AppendFixed32(protowire.AppendTag(b, num, protowire.Fixed32Type), v)
}
