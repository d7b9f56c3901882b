package dispatch

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/google/go-cmp/cmp"
)

func TestToEvent(t *testing.T) {
	stamp := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	order := []byte(`{"id":1,"customer":{"customerId":1,"name":"Wolff"},"numberOfLines":1}`)
	header := func(k, v string) *sarama.RecordHeader { return &sarama.RecordHeader{Key: []byte(k), Value: []byte(v)} }
	tests := []struct {
		name   string
		msg    *sarama.ConsumerMessage
		golden string
	}{
		{
			name: "binary passes through",
			msg: &sarama.ConsumerMessage{
				Topic: "order", Partition: 3, Offset: 42, Timestamp: stamp, Key: []byte("1"), Value: order,
				Headers: []*sarama.RecordHeader{
					header("ce_specversion", "1.0"),
					header("ce_id", "0b6a4a52-3c44-4f0e-9d55-5d2b0f3f0d9b"),
					header("ce_source", "/order"),
					header("ce_type", "com.example.order.placed"),
					header("ce_subject", "1"),
					header("ce_time", "2026-11-25T10:00:00Z"),
					header("ce_traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
					header("content-type", "application/json"),
				},
			},
			golden: "binary.json",
		},
		{
			name: "structured passes through",
			msg: &sarama.ConsumerMessage{
				Topic: "order", Partition: 0, Offset: 7, Timestamp: stamp, Key: []byte("2"),
				Headers: []*sarama.RecordHeader{header("Content-Type", "application/cloudevents+json; charset=utf-8")},
				Value: []byte(`{"specversion":"1.0","id":"c1","source":"/order","type":"com.example.order.cancelled",
					"subject":"2","datacontenttype":"application/json","data":{"id":2,"updated":1764064800000}}`),
			},
			golden: "structured.json",
		},
		{
			name: "plain JSON is wrapped",
			msg: &sarama.ConsumerMessage{
				Topic: "order", Partition: 4, Offset: 17, Timestamp: stamp, Key: []byte("1"), Value: order,
				Headers: []*sarama.RecordHeader{header("content-type", "application/json")},
			},
			golden: "wrapped.json",
		},
		{
			name: "bare record is wrapped",
			msg: &sarama.ConsumerMessage{
				Topic: "order", Partition: 0, Offset: 0, Timestamp: stamp, Value: []byte("hello"),
			},
			golden: "wrapped-bare.json",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := toEvent(tt.msg, "order-to-shipping", "ms-kafka")
			if err != nil {
				t.Fatal(err)
			}
			got := wire(t, ev)
			raw, err := os.ReadFile(filepath.Join("testdata", tt.golden))
			if err != nil {
				t.Fatal(err)
			}
			var want binaryRequest
			if err := json.Unmarshal(raw, &want); err != nil {
				t.Fatalf("decode testdata/%s: %v", tt.golden, err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("toEvent() mismatch with testdata/%s (-want +got):\n%s", tt.golden, diff)
			}
		})
	}
}

func TestToEventInvalid(t *testing.T) {
	tests := []struct {
		name string
		msg  *sarama.ConsumerMessage
	}{
		{
			name: "structured without id",
			msg: &sarama.ConsumerMessage{
				Headers: []*sarama.RecordHeader{{Key: []byte("content-type"), Value: []byte("application/cloudevents+json")}},
				Value:   []byte(`{"specversion":"1.0","source":"/order","type":"t"}`),
			},
		},
		{
			name: "structured not JSON",
			msg: &sarama.ConsumerMessage{
				Headers: []*sarama.RecordHeader{{Key: []byte("content-type"), Value: []byte("application/cloudevents+json")}},
				Value:   []byte(`not json`),
			},
		},
		{
			name: "binary without type",
			msg: &sarama.ConsumerMessage{
				Headers: []*sarama.RecordHeader{
					{Key: []byte("ce_specversion"), Value: []byte("1.0")},
					{Key: []byte("ce_id"), Value: []byte("x")},
					{Key: []byte("ce_source"), Value: []byte("/order")},
				},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := toEvent(tt.msg, "s", "ns"); !errors.Is(err, errNotEvent) {
				t.Errorf("toEvent() error = %v, want %v", err, errNotEvent)
			}
		})
	}
}

// binaryRequest is what a sink receives for an event: the golden files hold
// the binary-mode HTTP request, which is the contract with the sinks.
type binaryRequest struct {
	Headers map[string]string `json:"headers"`
	Body    string            `json:"body"`
}

func wire(t *testing.T, ev *event.Event) binaryRequest {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "http://sink.invalid/", nil)
	if err := cehttp.WriteRequest(context.Background(), binding.ToMessage(ev), req); err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		t.Fatal(err)
	}
	got := binaryRequest{Headers: make(map[string]string), Body: string(body)}
	for k, v := range req.Header {
		got.Headers[k] = strings.Join(v, ",")
	}
	return got
}
