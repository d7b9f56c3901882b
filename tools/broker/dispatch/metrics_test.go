package dispatch

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/IBM/sarama"
	"github.com/google/go-cmp/cmp"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/mskafka/knative-functions/shared/telemetry"
)

// The dispatcher records what Knative's KafkaSource dispatcher records: one
// dispatch latency per event, when its delivery to the sink ends, tagged with
// the last response's status; none for a delivery that ended without a
// response; a discarded record for a record that is no CloudEvent.
func TestProcessMetrics(t *testing.T) {
	ok, unavailable, bad := outcome{status: 202}, outcome{status: 503}, outcome{status: 400}
	down := outcome{err: errors.New("dial tcp: connection refused")}
	notEvent := &sarama.ConsumerMessage{
		Topic:   "order",
		Headers: []*sarama.RecordHeader{{Key: []byte("content-type"), Value: []byte("application/cloudevents+json")}},
		Value:   []byte(`not json`),
	}
	tests := []struct {
		name          string
		sink          []outcome
		msg           *sarama.ConsumerMessage
		wantDispatch  map[string]uint64 // "status" → observations
		wantDiscarded int64
	}{
		{name: "delivered at once", sink: []outcome{ok}, wantDispatch: map[string]uint64{"202": 1}},
		{name: "retried then delivered", sink: []outcome{unavailable, unavailable, ok}, wantDispatch: map[string]uint64{"202": 1}},
		{name: "refused", sink: []outcome{bad}, wantDispatch: map[string]uint64{"400": 1}},
		{name: "retries exhausted with a response", sink: []outcome{unavailable}, wantDispatch: map[string]uint64{"503": 1}},
		{name: "retries exhausted without a response", sink: []outcome{down}, wantDispatch: map[string]uint64{}},
		{name: "no CloudEvent", sink: []outcome{ok}, msg: notEvent, wantDispatch: map[string]uint64{}, wantDiscarded: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reader := sdkmetric.NewManualReader()
			tel, err := telemetry.FromProviders("dispatcher", tracenoop.NewTracerProvider(),
				sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)))
			if err != nil {
				t.Fatal(err)
			}
			p := testProcessor(&fakeDest{name: "http://sink.invalid/", script: tt.sink}, 2)
			p.deadLetter = &fakeDest{name: "kafka:dl", script: []outcome{ok}}
			p.tel = tel
			msg := tt.msg
			if msg == nil {
				msg = plainRecord()
			}
			if !p.process(context.Background(), msg) {
				t.Fatal("process() = false, want true")
			}
			var rm metricdata.ResourceMetrics
			if err := reader.Collect(context.Background(), &rm); err != nil {
				t.Fatal(err)
			}
			gotDispatch, gotDiscarded := map[string]uint64{}, int64(0)
			for _, sm := range rm.ScopeMetrics {
				for _, m := range sm.Metrics {
					switch d := m.Data.(type) {
					case metricdata.Histogram[float64]:
						if m.Name != telemetry.MetricDispatchLatency || m.Unit != "ms" {
							continue
						}
						for _, dp := range d.DataPoints {
							checkSourceAttrs(t, dp.Attributes)
							status, _ := dp.Attributes.Value(telemetry.AttrResponseStatusCode)
							gotDispatch[status.AsString()] += dp.Count
						}
					case metricdata.Sum[int64]:
						if m.Name != telemetry.MetricDiscardedEvents {
							continue
						}
						for _, dp := range d.DataPoints {
							checkSourceAttrs(t, dp.Attributes)
							if typ, _ := dp.Attributes.Value(telemetry.AttrEventType); typ.AsString() != "InvalidCloudEvent" {
								t.Errorf("discarded record tagged %s=%q, want InvalidCloudEvent", telemetry.AttrEventType, typ.AsString())
							}
							gotDiscarded += dp.Value
						}
					}
				}
			}
			if diff := cmp.Diff(tt.wantDispatch, gotDispatch); diff != "" {
				t.Errorf("dispatch latency observations by status (-want +got):\n%s", diff)
			}
			if gotDiscarded != tt.wantDiscarded {
				t.Errorf("discarded records = %d, want %d", gotDiscarded, tt.wantDiscarded)
			}
		})
	}
}

// checkSourceAttrs: the KafkaSource's tags, as the platform sets them.
func checkSourceAttrs(t *testing.T, s attribute.Set) {
	t.Helper()
	want := map[attribute.Key]string{
		telemetry.AttrKafkaSourceName:      "order-to-shipping",
		telemetry.AttrKafkaSourceNamespace: "ms-kafka",
		telemetry.AttrConsumerName:         "order-to-shipping",
	}
	for k, v := range want {
		if got, _ := s.Value(k); got.AsString() != v {
			t.Errorf("%s = %q, want %q (attributes %s)", k, got.AsString(), v, fmt.Sprint(s.ToSlice()))
		}
	}
}
