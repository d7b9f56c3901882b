package embedded_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/google/go-cmp/cmp"

	"github.com/mskafka/knative-functions/shared/testenv"
	"github.com/mskafka/knative-functions/tools/broker/dispatch"
	"github.com/mskafka/knative-functions/tools/broker/embedded"
	"github.com/mskafka/knative-functions/tools/broker/internal/kafkatest"
	"github.com/mskafka/knative-functions/tools/broker/manifest"
)

// TestRestartKeepsRecordsAndOffsets runs the dispatcher against the embedded
// broker, restarts the broker on the same data directory, and checks that
// topics, records and committed offsets survived.
func TestRestartKeepsRecordsAndOffsets(t *testing.T) {
	dir := t.TempDir()
	start := func() *embedded.Broker {
		t.Helper()
		b, err := embedded.Start(context.Background(), embedded.Config{Addr: "127.0.0.1:0", DataDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	order := func(topic string, id int) *sarama.ProducerMessage {
		return &sarama.ProducerMessage{
			Topic: topic, Key: sarama.StringEncoder(fmt.Sprint(id)),
			Value:   sarama.StringEncoder(fmt.Sprintf(`{"id":%d}`, id)),
			Headers: []sarama.RecordHeader{{Key: []byte("content-type"), Value: []byte("application/json")}},
		}
	}
	source := manifest.KafkaSource{
		Name: "order-to-shipping", Namespace: "ms-kafka", Topics: []string{"order"}, ConsumerGroup: "shipping",
		InitialOffset: manifest.OffsetEarliest, Ordering: manifest.Ordered,
		Delivery: manifest.Delivery{Retry: 1, BackoffPolicy: manifest.BackoffLinear, BackoffDelay: 10 * time.Millisecond},
		Sink:     manifest.Destination{Ref: &manifest.Ref{APIVersion: manifest.ServiceAPIVersion, Kind: manifest.ServiceKind, Name: "shipping"}},
	}
	run := func(brokers []string, sink *kafkatest.Sink, n int) []string {
		t.Helper()
		d, stop := kafkatest.Run(t, dispatch.Config{
			Brokers: brokers, Sources: []manifest.KafkaSource{source},
			Services: map[string]string{"shipping": sink.URL},
		})
		sink.WaitFor(t, n, 30*time.Second)
		testenv.Eventually(t, 10*time.Second, "deliveries counted", func() bool { return d.Stats().Delivered >= int64(n) })
		// Anything redelivered would show up by now; order has five
		// partitions, so give every one a moment.
		time.Sleep(300 * time.Millisecond)
		stop()
		var bodies []string
		for _, r := range sink.Requests() {
			bodies = append(bodies, r.Body)
		}
		return bodies
	}

	b := start()
	brokers := []string{b.Addr()}
	p := testenv.Producer(t, brokers)
	testenv.Produce(t, p, order("order", 1), order("order", 2), order("order", 3))
	got := run(brokers, kafkatest.NewSink(t, nil), 3)
	if diff := cmp.Diff([]string{`{"id":1}`, `{"id":2}`, `{"id":3}`}, slices.Sorted(slices.Values(got))); diff != "" {
		t.Errorf("first run's deliveries mismatch (-want +got):\n%s", diff)
	}
	b.Close()

	b = start()
	defer b.Close()
	brokers = []string{b.Addr()}
	admin, err := sarama.NewClusterAdmin(brokers, testenv.KafkaConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	topics, err := admin.ListTopics()
	if err != nil {
		t.Fatal(err)
	}
	if n := topics["order"].NumPartitions; n != 5 {
		t.Errorf("after restart order has %d partitions, want 5", n)
	}
	if n := topics["order-dead-letter"].NumPartitions; n != 1 {
		t.Errorf("after restart order-dead-letter has %d partitions, want 1", n)
	}

	// The records are still there for anyone reading from the start.
	var kept []string
	for _, m := range testenv.Read(t, brokers, "order", 3, 10*time.Second) {
		kept = append(kept, string(m.Value))
	}
	if diff := cmp.Diff([]string{`{"id":1}`, `{"id":2}`, `{"id":3}`}, slices.Sorted(slices.Values(kept))); diff != "" {
		t.Errorf("records after restart mismatch (-want +got):\n%s", diff)
	}

	// The group resumes after what it committed: only the new record arrives.
	p = testenv.Producer(t, brokers)
	testenv.Produce(t, p, order("order", 4))
	got = run(brokers, kafkatest.NewSink(t, nil), 1)
	if diff := cmp.Diff([]string{`{"id":4}`}, got); diff != "" {
		t.Errorf("second run's deliveries mismatch (-want +got):\n%s", diff)
	}
}

func TestDataDirTakenOnce(t *testing.T) {
	dir := t.TempDir()
	b, err := embedded.Start(context.Background(), embedded.Config{Addr: "127.0.0.1:0", DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	_, err = embedded.Start(context.Background(), embedded.Config{Addr: "127.0.0.1:0", DataDir: dir})
	if err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("second Start on one data directory: error = %v, want it refused", err)
	}
	b.Close()
	b, err = embedded.Start(context.Background(), embedded.Config{Addr: "127.0.0.1:0", DataDir: dir})
	if err != nil {
		t.Fatalf("Start after Close: %v", err)
	}
	b.Close()
}

func TestStartConfig(t *testing.T) {
	tests := []struct {
		name    string
		addr    string
		wantErr string
	}{
		{name: "wildcard", addr: "0.0.0.0:0", wantErr: "want a host clients can dial"},
		{name: "no host", addr: ":0", wantErr: "want a host clients can dial"},
		{name: "no port", addr: "127.0.0.1", wantErr: "missing port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := embedded.Start(context.Background(), embedded.Config{Addr: tt.addr})
			if err == nil {
				b.Close()
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Start(%q) error = %v, want one containing %q", tt.addr, err, tt.wantErr)
			}
		})
	}

	t.Run("port taken", func(t *testing.T) {
		b, err := embedded.Start(context.Background(), embedded.Config{Addr: "127.0.0.1:0"})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		if _, err := embedded.Start(context.Background(), embedded.Config{Addr: b.Addr()}); err == nil {
			t.Error("Start on a taken port succeeded")
		}
	})
}

func TestInMemoryIdempotentProducer(t *testing.T) {
	b, err := embedded.Start(context.Background(), embedded.Config{Addr: "127.0.0.1:0", Topics: []embedded.Topic{{Name: "t", Partitions: 2}}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	brokers := []string{b.Addr()}
	p := testenv.Producer(t, brokers)
	testenv.Produce(t, p, &sarama.ProducerMessage{Topic: "t", Key: sarama.StringEncoder("k"), Value: sarama.StringEncoder("v")})
	if got := testenv.Read(t, brokers, "t", 1, 10*time.Second); string(got[0].Value) != "v" {
		t.Errorf("read %q, want %q", got[0].Value, "v")
	}
	// No topic is created by accident.
	_, _, err = p.SendMessage(&sarama.ProducerMessage{Topic: "missing", Value: sarama.StringEncoder("v")})
	if !errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
		t.Errorf("produce to a missing topic: error = %v, want %v", err, sarama.ErrUnknownTopicOrPartition)
	}
}
