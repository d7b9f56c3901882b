package dispatch_test

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/google/go-cmp/cmp"

	"github.com/mskafka/knative-functions/shared/telemetry"
	"github.com/mskafka/knative-functions/shared/testenv"
	"github.com/mskafka/knative-functions/tools/broker/dispatch"
	"github.com/mskafka/knative-functions/tools/broker/manifest"
)

// TestKafkaMetrics reads the dispatcher's /metrics after real deliveries:
// the series are those of Knative's KafkaSource dispatcher, one observation
// per event by the last response's status (a retried event counts once).
func TestKafkaMetrics(t *testing.T) {
	t.Parallel()
	brokers := testenv.KafkaBrokers(t)
	ctx := context.Background()
	tel, err := telemetry.New(ctx, "dispatcher", telemetry.Config{Protocol: "http/protobuf", TracesExporter: "none", MetricsExporter: "prometheus"})
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Shutdown(ctx)

	sink := newTestSink(t, func(r sinkRequest, attempt int) sinkReply {
		switch {
		case r.Header.Get("Ce-Subject") == "13":
			return sinkReply{Status: http.StatusBadRequest, Body: `{"error":"unknown customer"}`}
		case r.Header.Get("Ce-Subject") == "14" && attempt == 1:
			return sinkReply{Status: http.StatusServiceUnavailable}
		}
		return sinkReply{Status: http.StatusAccepted}
	})
	topic := testenv.TopicName(t, "order")
	testenv.CreateTopic(t, brokers, topic, 1)
	src := manifest.KafkaSource{
		Name: "order-to-sink", Namespace: "test", Topics: []string{topic},
		ConsumerGroup: testenv.TopicName(t, "group"), InitialOffset: manifest.OffsetEarliest, Ordering: manifest.Ordered,
		Delivery: manifest.Delivery{Retry: 3, BackoffPolicy: manifest.BackoffLinear, BackoffDelay: 10 * time.Millisecond, Timeout: 5 * time.Second},
		Sink:     manifest.Destination{Ref: &manifest.Ref{APIVersion: manifest.ServiceAPIVersion, Kind: manifest.ServiceKind, Name: "sink"}},
	}
	event := func(subject string) *sarama.ProducerMessage {
		return &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(subject), Value: sarama.StringEncoder(`{}`),
			Headers: []sarama.RecordHeader{
				{Key: []byte("ce_specversion"), Value: []byte("1.0")},
				{Key: []byte("ce_id"), Value: []byte("evt-" + subject)},
				{Key: []byte("ce_source"), Value: []byte("/order")},
				{Key: []byte("ce_type"), Value: []byte("com.example.order.placed")},
				{Key: []byte("ce_subject"), Value: []byte(subject)},
				{Key: []byte("content-type"), Value: []byte("application/json")},
			}}
	}
	testenv.Produce(t, testenv.Producer(t, brokers), event("12"), event("13"), event("14"))
	d, _ := runDispatcher(t, dispatch.Config{Brokers: brokers, Sources: []manifest.KafkaSource{src},
		Services: map[string]string{"sink": sink.URL}, Telemetry: tel})
	testenv.Eventually(t, 10*time.Second, "the dispatcher to finish 3 events",
		func() bool { s := d.Stats(); return s.Delivered+s.Dropped >= 3 })

	rec := httptest.NewRecorder()
	tel.MetricsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	var lines []string
	counts := map[string]string{}
	s := bufio.NewScanner(rec.Body)
	for s.Scan() {
		l := s.Text()
		if !strings.HasPrefix(l, "kn_") {
			continue
		}
		lines = append(lines, l)
		if name, rest, ok := strings.Cut(l, "{"); ok && name == "kn_eventing_dispatch_latency_milliseconds_count" {
			labels, value, _ := strings.Cut(rest, "} ")
			counts[labels] = value
		}
	}
	t.Logf("dispatcher /metrics, kn_* series:\n%s", strings.Join(lines, "\n"))
	tags := func(status string) string {
		return `cloudevents_type="com.example.order.placed",http_response_status_code="` + status +
			`",kn_kafkasource_name="order-to-sink",kn_kafkasource_namespace="test",messaging_consumer_group_name="order-to-sink",service_name="dispatcher"`
	}
	want := map[string]string{tags("202"): "2", tags("400"): "1"}
	if diff := cmp.Diff(want, counts); diff != "" {
		t.Errorf("kn_eventing_dispatch_latency_milliseconds_count (-want +got):\n%s", diff)
	}
}
