package dispatch

import (
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/IBM/sarama"
	"github.com/cloudevents/sdk-go/v2/binding"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
)

// FuzzToEvent: any record becomes an event that can be delivered (it
// validates and writes as a binary-mode request), or, claiming to be a
// CloudEvent and failing, is refused as errNotEvent; a plain record is
// always wrapped. headers holds one "key: value" a line.
func FuzzToEvent(f *testing.F) {
	f.Add("ce_specversion: 1.0\nce_id: e1\nce_source: /order\nce_type: com.example.order.placed\ncontent-type: application/json",
		[]byte("7"), []byte(`{"id":7}`), int32(2), int64(17))
	f.Add("content-type: application/cloudevents+json",
		[]byte("2"), []byte(`{"specversion":"1.0","id":"c1","source":"/order","type":"t","data":{"id":2}}`), int32(0), int64(7))
	f.Add("", []byte(nil), []byte(`{"id":1}`), int32(4), int64(0))
	f.Add("ce_specversion: 1.0\nce_id: \xff", []byte("\xff"), []byte("not json"), int32(1), int64(-1))
	f.Fuzz(func(t *testing.T, headers string, key, value []byte, partition int32, offset int64) {
		msg := &sarama.ConsumerMessage{Topic: "order", Partition: partition, Offset: offset, Key: key, Value: value}
		for _, line := range strings.Split(headers, "\n") {
			if k, v, ok := strings.Cut(line, ": "); ok {
				msg.Headers = append(msg.Headers, &sarama.RecordHeader{Key: []byte(k), Value: []byte(v)})
			}
		}
		claims := strings.Contains(strings.ToLower(headers), "ce_specversion") ||
			strings.Contains(strings.ToLower(headers), "cloudevents+json")
		ev, err := toEvent(msg, "shipping", "default")
		if err != nil {
			if !claims || !errors.Is(err, errNotEvent) {
				t.Fatalf("toEvent: %v (claims to be a CloudEvent: %v)", err, claims)
			}
			return
		}
		if err := ev.Validate(); err != nil {
			t.Fatalf("event does not validate: %v", err)
		}
		req := httptest.NewRequest("POST", "/", nil)
		if err := cehttp.WriteRequest(t.Context(), binding.ToMessage(ev), req); err != nil {
			t.Fatalf("event cannot be delivered: %v", err)
		}
	})
}
