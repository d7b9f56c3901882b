package dispatch_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/google/go-cmp/cmp"

	"github.com/mskafka/knative-functions/shared/testenv"
	"github.com/mskafka/knative-functions/tools/broker/dispatch"
	"github.com/mskafka/knative-functions/tools/broker/embedded"
	"github.com/mskafka/knative-functions/tools/broker/manifest"
)

// The scenarios run against the Kafka in $KAFKA_BROKERS (TestKafka…) and
// against the embedded broker (TestEmbeddedKafka), so both must behave as
// the dispatcher expects. Each scenario uses topics and groups of its own.

const waitLong = 30 * time.Second

func TestKafkaOrdered(t *testing.T)   { t.Parallel(); ordered(t, testenv.KafkaBrokers(t)) }
func TestKafkaUnordered(t *testing.T) { t.Parallel(); unordered(t, testenv.KafkaBrokers(t)) }
func TestKafkaRetryThenSuccess(t *testing.T) {
	t.Parallel()
	retryThenSuccess(t, testenv.KafkaBrokers(t))
}
func TestKafkaDeadLetter(t *testing.T) { t.Parallel(); deadLetter(t, testenv.KafkaBrokers(t)) }
func TestKafkaOffsetsCommitted(t *testing.T) {
	t.Parallel()
	offsetsCommitted(t, testenv.KafkaBrokers(t))
}
func TestKafkaCancelRedelivers(t *testing.T) {
	t.Parallel()
	cancelRedelivers(t, testenv.KafkaBrokers(t))
}

func TestEmbeddedKafka(t *testing.T) {
	t.Parallel()
	b, err := embedded.Start(context.Background(), embedded.Config{Addr: "127.0.0.1:0", DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	brokers := []string{b.Addr()}
	for name, scenario := range map[string]func(*testing.T, []string){
		"ordered":            ordered,
		"unordered":          unordered,
		"retry then success": retryThenSuccess,
		"dead letter":        deadLetter,
		"offsets committed":  offsetsCommitted,
		"cancel redelivers":  cancelRedelivers,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			scenario(t, brokers)
		})
	}
}

// setup is one scenario's topic, group and wiring.
type setup struct {
	brokers []string
	topic   string
	source  manifest.KafkaSource
	sinks   map[string]manifest.KafkaSink
}

func newSetup(t *testing.T, brokers []string, partitions int32) *setup {
	t.Helper()
	s := &setup{brokers: brokers, topic: testenv.TopicName(t, "order"), sinks: map[string]manifest.KafkaSink{}}
	testenv.CreateTopic(t, brokers, s.topic, partitions)
	s.source = manifest.KafkaSource{
		Name:          "order-to-sink",
		Namespace:     "test",
		Topics:        []string{s.topic},
		ConsumerGroup: testenv.TopicName(t, "group"),
		InitialOffset: manifest.OffsetEarliest,
		Ordering:      manifest.Ordered,
		Delivery:      manifest.Delivery{Retry: 3, BackoffPolicy: manifest.BackoffLinear, BackoffDelay: 10 * time.Millisecond, Timeout: 5 * time.Second},
		Sink:          manifest.Destination{Ref: &manifest.Ref{APIVersion: manifest.ServiceAPIVersion, Kind: manifest.ServiceKind, Name: "sink"}},
	}
	return s
}

// withDeadLetterTopic adds a KafkaSink on a fresh topic as dead letter sink.
func (s *setup) withDeadLetterTopic(t *testing.T) string {
	t.Helper()
	topic := testenv.TopicName(t, "dead-letter")
	testenv.CreateTopic(t, s.brokers, topic, 1)
	s.sinks["dead-letter"] = manifest.KafkaSink{Name: "dead-letter", Topic: topic, ContentMode: manifest.ContentBinary}
	s.source.Delivery.DeadLetterSink = &manifest.Destination{Ref: &manifest.Ref{
		APIVersion: manifest.SinkAPIVersion, Kind: manifest.SinkKind, Name: "dead-letter",
	}}
	return topic
}

func (s *setup) run(t *testing.T, sink *testSink) (*dispatch.Dispatcher, func()) {
	t.Helper()
	return runDispatcher(t, dispatch.Config{
		Brokers:    s.brokers,
		Sources:    []manifest.KafkaSource{s.source},
		KafkaSinks: s.sinks,
		Services:   map[string]string{"sink": sink.URL},
	})
}

func (s *setup) plain(key, value string) *sarama.ProducerMessage {
	return &sarama.ProducerMessage{
		Topic:   s.topic,
		Key:     sarama.StringEncoder(key),
		Value:   sarama.StringEncoder(value),
		Headers: []sarama.RecordHeader{{Key: []byte("content-type"), Value: []byte("application/json")}},
	}
}

// waitDelivered waits until the dispatcher has seen n deliveries succeed: the
// sink records a request before the dispatcher reads its response.
func waitDelivered(t *testing.T, d *dispatch.Dispatcher, n int64) {
	t.Helper()
	testenv.Eventually(t, 10*time.Second, fmt.Sprintf("the dispatcher to count %d deliveries", n),
		func() bool { return d.Stats().Delivered >= n })
}

// partitionOffset parses a wrapped event's id, partition:<p>/offset:<o>.
func partitionOffset(t *testing.T, id string) (int32, int64) {
	t.Helper()
	var p int32
	var o int64
	if _, err := fmt.Sscanf(id, "partition:%d/offset:%d", &p, &o); err != nil {
		t.Fatalf("event id %q: %v", id, err)
	}
	return p, o
}

// ordered: one event in flight per partition, in offset order, each once.
func ordered(t *testing.T, brokers []string) {
	const n = 30
	var (
		mu       sync.Mutex
		inFlight = map[string]int{}
		overlap  []string
	)
	sink := newTestSink(t, func(r sinkRequest, _ int) sinkReply {
		part, _, _ := strings.Cut(r.ID(), "/")
		mu.Lock()
		inFlight[part]++
		if inFlight[part] > 1 {
			overlap = append(overlap, r.ID())
		}
		mu.Unlock()
		time.Sleep(3 * time.Millisecond)
		mu.Lock()
		inFlight[part]--
		mu.Unlock()
		return sinkReply{Status: http.StatusAccepted}
	})
	s := newSetup(t, brokers, 3)
	p := testenv.Producer(t, brokers)
	for i := range n {
		testenv.Produce(t, p, s.plain("k"+strconv.Itoa(i%7), fmt.Sprintf(`{"seq":%d}`, i)))
	}
	d, _ := s.run(t, sink)

	got := sink.WaitFor(t, n, waitLong)
	waitDelivered(t, d, n)
	last := map[int32]int64{}
	seen := map[string]bool{}
	for _, r := range got {
		part, off := partitionOffset(t, r.ID())
		if prev, ok := last[part]; ok && off <= prev {
			t.Errorf("partition %d: offset %d delivered after %d", part, off, prev)
		}
		last[part] = off
		if seen[r.ID()] {
			t.Errorf("event %s delivered twice", r.ID())
		}
		seen[r.ID()] = true
	}
	mu.Lock()
	defer mu.Unlock()
	if len(overlap) > 0 {
		t.Errorf("events delivered while another of their partition was in flight: %v", overlap)
	}
}

// unordered: several events of one partition in flight; all delivered, and
// the committed offset covers all of them once the dispatcher stops.
func unordered(t *testing.T, brokers []string) {
	const n = 20
	var (
		mu             sync.Mutex
		inFlight, peak int
	)
	sink := newTestSink(t, func(sinkRequest, int) sinkReply {
		mu.Lock()
		inFlight++
		peak = max(peak, inFlight)
		mu.Unlock()
		time.Sleep(50 * time.Millisecond)
		mu.Lock()
		inFlight--
		mu.Unlock()
		return sinkReply{Status: http.StatusOK}
	})
	s := newSetup(t, brokers, 1)
	s.source.Ordering = manifest.Unordered
	p := testenv.Producer(t, brokers)
	for i := range n {
		testenv.Produce(t, p, s.plain("k", fmt.Sprintf(`{"seq":%d}`, i)))
	}
	d, stop := s.run(t, sink)
	got := sink.WaitFor(t, n, waitLong)
	waitDelivered(t, d, n)
	stop()

	ids := map[string]bool{}
	for _, r := range got {
		ids[r.ID()] = true
	}
	if len(ids) != n {
		t.Errorf("delivered %d distinct events, want %d", len(ids), n)
	}
	mu.Lock()
	if peak < 2 {
		t.Errorf("peak in flight = %d, want several", peak)
	}
	mu.Unlock()
	if got := testenv.CommittedOffset(t, brokers, s.source.ConsumerGroup, s.topic, 0); got != n {
		t.Errorf("committed offset = %d, want %d", got, n)
	}
}

// retryThenSuccess: a sink that answers 503 twice gets the event a third time.
func retryThenSuccess(t *testing.T, brokers []string) {
	sink := newTestSink(t, func(_ sinkRequest, attempt int) sinkReply {
		if attempt <= 2 {
			return sinkReply{Status: http.StatusServiceUnavailable, Body: "starting"}
		}
		return sinkReply{Status: http.StatusAccepted}
	})
	s := newSetup(t, brokers, 1)
	p := testenv.Producer(t, brokers)
	testenv.Produce(t, p, s.plain("1", `{"id":1}`), s.plain("2", `{"id":2}`))
	d, _ := s.run(t, sink)

	got := sink.WaitFor(t, 6, waitLong)
	var ids []string
	for _, r := range got {
		ids = append(ids, r.ID())
	}
	want := []string{
		"partition:0/offset:0", "partition:0/offset:0", "partition:0/offset:0",
		"partition:0/offset:1", "partition:0/offset:1", "partition:0/offset:1",
	}
	if diff := cmp.Diff(want, ids); diff != "" {
		t.Errorf("sink requests mismatch (-want +got):\n%s", diff)
	}
	waitDelivered(t, d, 2)
	if diff := cmp.Diff(dispatch.Stats{Delivered: 2, Retried: 4}, d.Stats()); diff != "" {
		t.Errorf("Stats() mismatch (-want +got):\n%s", diff)
	}
}

// deadLetter: a 400 is not retried; the event lands on the dead letter topic
// with Knative's error extensions and the record's key, and the next record
// is still delivered.
func deadLetter(t *testing.T, brokers []string) {
	sink := newTestSink(t, func(r sinkRequest, _ int) sinkReply {
		if r.Header.Get("Ce-Type") == "com.example.order.placed" && r.Header.Get("Ce-Subject") == "13" {
			return sinkReply{Status: http.StatusBadRequest, Body: `{"error":"unknown customer"}`}
		}
		return sinkReply{Status: http.StatusAccepted}
	})
	s := newSetup(t, brokers, 1)
	dlTopic := s.withDeadLetterTopic(t)
	bad := &sarama.ProducerMessage{
		Topic: s.topic,
		Key:   sarama.StringEncoder("13"),
		Value: sarama.StringEncoder(`{"id":13}`),
		Headers: []sarama.RecordHeader{
			{Key: []byte("ce_specversion"), Value: []byte("1.0")},
			{Key: []byte("ce_id"), Value: []byte("evt-13")},
			{Key: []byte("ce_source"), Value: []byte("/order")},
			{Key: []byte("ce_type"), Value: []byte("com.example.order.placed")},
			{Key: []byte("ce_subject"), Value: []byte("13")},
			{Key: []byte("content-type"), Value: []byte("application/json")},
		},
	}
	p := testenv.Producer(t, brokers)
	testenv.Produce(t, p, s.plain("12", `{"id":12}`), bad, s.plain("14", `{"id":14}`))
	d, _ := s.run(t, sink)

	got := sink.WaitFor(t, 3, waitLong)
	var ids []string
	for _, r := range got {
		ids = append(ids, r.ID())
	}
	if diff := cmp.Diff([]string{"partition:0/offset:0", "evt-13", "partition:0/offset:2"}, ids); diff != "" {
		t.Errorf("sink requests mismatch (-want +got):\n%s", diff)
	}

	dl := testenv.Read(t, brokers, dlTopic, 1, waitLong)[0]
	headers := map[string]string{}
	for _, h := range dl.Headers {
		headers[string(h.Key)] = string(h.Value)
	}
	wantHeaders := map[string]string{
		"ce_specversion":      "1.0",
		"ce_id":               "evt-13",
		"ce_source":           "/order",
		"ce_type":             "com.example.order.placed",
		"ce_subject":          "13",
		"content-type":        "application/json",
		"ce_knativeerrordest": sink.URL,
		"ce_knativeerrorcode": "400",
		"ce_knativeerrordata": base64.StdEncoding.EncodeToString([]byte(`{"error":"unknown customer"}`)),
	}
	if diff := cmp.Diff(wantHeaders, headers); diff != "" {
		t.Errorf("dead letter headers mismatch (-want +got):\n%s", diff)
	}
	if string(dl.Key) != "13" || string(dl.Value) != `{"id":13}` {
		t.Errorf("dead letter record key %q value %q, want the original", dl.Key, dl.Value)
	}
	waitDelivered(t, d, 2)
	if diff := cmp.Diff(dispatch.Stats{Delivered: 2, DeadLettered: 1}, d.Stats()); diff != "" {
		t.Errorf("Stats() mismatch (-want +got):\n%s", diff)
	}
}

// offsetsCommitted: a second dispatcher of the same group gets only what the
// first did not finish.
func offsetsCommitted(t *testing.T, brokers []string) {
	sink := newTestSink(t, nil)
	s := newSetup(t, brokers, 1)
	p := testenv.Producer(t, brokers)
	testenv.Produce(t, p, s.plain("1", `{"id":1}`), s.plain("2", `{"id":2}`), s.plain("3", `{"id":3}`))

	d, stop := s.run(t, sink)
	sink.WaitFor(t, 3, waitLong)
	waitDelivered(t, d, 3)
	stop()

	testenv.Produce(t, p, s.plain("4", `{"id":4}`), s.plain("5", `{"id":5}`))
	again := newTestSink(t, nil)
	d, stop = s.run(t, again)
	again.WaitFor(t, 2, waitLong)
	waitDelivered(t, d, 2)
	// Redelivered records would come first on this single partition; give
	// stragglers a moment anyway.
	time.Sleep(300 * time.Millisecond)
	stop()
	var ids []string
	for _, r := range again.Requests() {
		ids = append(ids, r.ID())
	}
	if diff := cmp.Diff([]string{"partition:0/offset:3", "partition:0/offset:4"}, ids); diff != "" {
		t.Errorf("second run's deliveries mismatch (-want +got):\n%s", diff)
	}
}

// cancelRedelivers: a delivery cut short by shutdown is not committed, so
// the next run delivers it again; shutdown does not wait for a stuck sink.
func cancelRedelivers(t *testing.T, brokers []string) {
	stuck := newTestSink(t, func(sinkRequest, int) sinkReply { return sinkReply{} })
	s := newSetup(t, brokers, 1)
	s.source.Delivery.Timeout = 0 // only shutdown ends the attempt
	p := testenv.Producer(t, brokers)
	testenv.Produce(t, p, s.plain("1", `{"id":1}`))

	_, stop := s.run(t, stuck)
	testenv.Eventually(t, waitLong, "the sink called", func() bool { return stuck.Attempts("partition:0/offset:0") > 0 })
	start := time.Now()
	stop()
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("stop took %v with a stuck sink", d)
	}

	sink := newTestSink(t, nil)
	_, _ = s.run(t, sink)
	got := sink.WaitFor(t, 1, waitLong)
	if got[0].ID() != "partition:0/offset:0" {
		t.Errorf("redelivered %s, want partition:0/offset:0", got[0].ID())
	}
}

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
	run := func(brokers []string, sink *testSink, n int) []string {
		t.Helper()
		d, stop := runDispatcher(t, dispatch.Config{
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
	got := run(brokers, newTestSink(t, nil), 3)
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
	got = run(brokers, newTestSink(t, nil), 1)
	if diff := cmp.Diff([]string{`{"id":4}`}, got); diff != "" {
		t.Errorf("second run's deliveries mismatch (-want +got):\n%s", diff)
	}
}
