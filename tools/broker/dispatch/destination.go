package dispatch

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/IBM/sarama"
	"github.com/cloudevents/sdk-go/protocol/kafka_sarama/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/mskafka/knative-functions/shared/telemetry"
	"github.com/mskafka/knative-functions/tools/broker/manifest"
)

const (
	// errorDataMax is how much of a refusing sink's response body travels
	// with a dead letter, as in Knative's data plane.
	errorDataMax = 1024
	// drainMax bounds how much of a response body is read so the connection
	// can be reused; a longer body costs a new connection instead.
	drainMax = 64 << 10
)

// outcome is the result of one attempt to hand an event to a destination.
type outcome struct {
	status int    // HTTP status; 0 when there was no response
	body   []byte // start of the response body of a failure
	header http.Header
	err    error // transport or encoding error
}

func (o outcome) ok() bool { return o.err == nil && o.status/100 == 2 }

// destination is where events go: a sink or a dead letter sink.
type destination interface {
	send(ctx context.Context, ev *event.Event, key []byte) outcome
	// String names the destination in the knativeerrordest extension and in logs.
	String() string
}

// resolve finds where a manifest's destination is locally: a KafkaSink at
// its topic, anything else at its URL (manifest.Destination.URL).
func (d *Dispatcher) resolve(dest manifest.Destination, services map[string]string, sinks map[string]manifest.KafkaSink) (destination, error) {
	if r := dest.Ref; r != nil && r.Kind == manifest.SinkKind && r.APIVersion == manifest.SinkAPIVersion {
		sink, ok := sinks[r.Name]
		if !ok {
			return nil, fmt.Errorf("resolve %s: no KafkaSink %q", dest, r.Name)
		}
		if dest.URI != "" {
			return nil, fmt.Errorf("resolve %s: a KafkaSink takes no uri", dest)
		}
		d.needProducer = true
		return kafkaSink{topic: sink.Topic, structured: sink.ContentMode == manifest.ContentStructured, d: d}, nil
	}
	u, err := dest.URL(services)
	if err != nil {
		return nil, err
	}
	return httpSink{url: u, client: d.client}, nil
}

// httpSink posts events in binary mode, as Knative's dispatcher does.
type httpSink struct {
	url    string
	client *http.Client
}

func (s httpSink) String() string { return s.url }

func (s httpSink) send(ctx context.Context, ev *event.Event, _ []byte) outcome {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, nil)
	if err != nil {
		return outcome{err: fmt.Errorf("deliver %s: %w", s.url, err)}
	}
	if err := cehttp.WriteRequest(ctx, binding.ToMessage(ev), req); err != nil {
		return outcome{err: fmt.Errorf("deliver %s: encode: %w", s.url, err)}
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return outcome{err: fmt.Errorf("deliver %s: %w", s.url, err)}
	}
	defer resp.Body.Close()
	out := outcome{status: resp.StatusCode, header: resp.Header}
	if !out.ok() {
		// A failed read leaves a shorter body; the status already tells
		// what happened.
		out.body, _ = io.ReadAll(io.LimitReader(resp.Body, errorDataMax))
	}
	// Any reply event is discarded, as a KafkaSource does.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, drainMax))
	return out
}

// kafkaSink produces events to a KafkaSink's topic with the producer of
// d's session.
type kafkaSink struct {
	topic      string
	structured bool
	d          *Dispatcher
}

func (s kafkaSink) String() string { return "kafka:" + s.topic }

func (s kafkaSink) send(ctx context.Context, ev *event.Event, key []byte) outcome {
	pm := &sarama.ProducerMessage{Topic: s.topic}
	if key != nil {
		pm.Key = sarama.ByteEncoder(key)
	}
	// The record keeps the key of the record it came from; without this the
	// SDK would take the key from a partitionkey extension.
	wctx := kafka_sarama.WithSkipKeyMapping(context.Background())
	if s.structured {
		wctx = binding.WithForceStructured(wctx)
	}
	if err := kafka_sarama.WriteProducerMessage(wctx, binding.ToMessage(ev), pm); err != nil {
		return outcome{err: fmt.Errorf("deliver %s: encode: %w", s, err)}
	}
	ctx, span := s.d.tel.Tracer.Start(ctx, "send "+s.topic, trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(semconv.MessagingSystemKafka, semconv.MessagingOperationTypeSend,
			semconv.MessagingOperationName("send"), semconv.MessagingDestinationName(s.topic),
			semconv.CloudEventsEventID(ev.ID()), semconv.CloudEventsEventType(ev.Type())))
	defer span.End()
	// The raw header, as for the records of the order topic: a consumer of
	// the dead letter topic continues the trace from here.
	telemetry.InjectRecord(ctx, pm)
	// SendMessage takes no context; it is bounded by the producer's own
	// timeouts. Waiting for it in a goroutine keeps a shutdown prompt, at
	// the price of a possible duplicate when the record lands after all.
	done := make(chan error, 1)
	go func() {
		_, _, err := s.d.producer.SendMessage(pm)
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			return outcome{err: fmt.Errorf("deliver %s: %w", s, err)}
		}
		return outcome{status: http.StatusAccepted}
	case <-ctx.Done():
		return outcome{err: fmt.Errorf("deliver %s: %w", s, ctx.Err())}
	}
}

// errorExtensions returns the extensions Knative puts on an event it sends to
// a dead letter sink after dest failed with last.
func errorExtensions(dest string, last outcome) map[string]string {
	ext := make(map[string]string)
	// A sink can add its own details as kne-<name> response headers; the
	// name must be a legal CloudEvents attribute name: lower-case letters
	// and digits.
	for k, v := range last.header {
		name, ok := strings.CutPrefix(strings.ToLower(k), "kne-")
		if ok && len(v) > 0 && name != "" && strings.Trim(name, "abcdefghijklmnopqrstuvwxyz0123456789") == "" {
			ext[name] = v[0]
		}
	}
	ext["knativeerrordest"] = dest
	if last.status == 0 {
		return ext
	}
	ext["knativeerrorcode"] = strconv.Itoa(last.status)
	if len(last.body) > 0 {
		// Base64, as Knative sends it: the body need not be text.
		ext["knativeerrordata"] = base64.StdEncoding.EncodeToString(last.body[:min(len(last.body), errorDataMax)])
	}
	return ext
}
