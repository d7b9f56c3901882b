// Package kafkatest holds what the broker tests that talk to a Kafka share:
// where that Kafka is, fresh topics and groups, producing and reading records,
// a recording CloudEvents sink, and a dispatcher run bound to a test.
package kafkatest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/mskafka/knative-functions/broker/dispatch"
)

// Env names the variables that point the tests at a Kafka.
const (
	EnvBrokers = "KAFKA_BROKERS"
	EnvRequire = "REQUIRE_SERVERS"
)

// Brokers returns the brokers in $KAFKA_BROKERS. Without them the test is
// skipped, or fails when $REQUIRE_SERVERS is 1, so CI never skips silently.
func Brokers(t testing.TB) []string {
	t.Helper()
	v := strings.TrimSpace(os.Getenv(EnvBrokers))
	if v == "" {
		if os.Getenv(EnvRequire) == "1" {
			t.Fatalf("%s is not set and %s=1: this test needs a Kafka", EnvBrokers, EnvRequire)
		}
		t.Skipf("%s is not set; set it to run tests against a real Kafka", EnvBrokers)
	}
	var brokers []string
	for b := range strings.SplitSeq(v, ",") {
		if b = strings.TrimSpace(b); b != "" {
			brokers = append(brokers, b)
		}
	}
	return brokers
}

// Name returns a topic or group name no other test run uses.
func Name(t testing.TB, prefix string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := regexp.MustCompile(`[^a-zA-Z0-9._-]+`).ReplaceAllString(t.Name(), "-")
	return strings.ToLower(prefix + "-" + name + "-" + hex.EncodeToString(b[:]))
}

// Config returns a sarama config for test clients.
func Config() *sarama.Config {
	c := sarama.NewConfig()
	c.Version = sarama.V4_0_0_0
	c.ClientID = "kafkatest"
	c.Metadata.AllowAutoTopicCreation = false
	return c
}

// CreateTopic creates a topic and waits until the cluster reports every
// partition with a leader.
func CreateTopic(t testing.TB, brokers []string, topic string, partitions int32) {
	t.Helper()
	admin, err := sarama.NewClusterAdmin(brokers, Config())
	if err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
	defer admin.Close()
	err = admin.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: partitions, ReplicationFactor: 1}, false)
	if err != nil && !errors.Is(err, sarama.ErrTopicAlreadyExists) {
		t.Fatalf("create topic %s: %v", topic, err)
	}
	client, err := sarama.NewClient(brokers, Config())
	if err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
	defer client.Close()
	Eventually(t, 10*time.Second, func() bool {
		if client.RefreshMetadata(topic) != nil {
			return false
		}
		ps, err := client.Partitions(topic)
		if err != nil || int32(len(ps)) != partitions {
			return false
		}
		for _, p := range ps {
			if _, err := client.Leader(topic, p); err != nil {
				return false
			}
		}
		return true
	}, "topic %s has no leaders", topic)
}

// Producer returns an idempotent producer that waits for all replicas, as
// the order function's outbox uses; it is closed when the test ends.
func Producer(t testing.TB, brokers []string) sarama.SyncProducer {
	t.Helper()
	c := Config()
	c.Producer.RequiredAcks = sarama.WaitForAll
	c.Producer.Idempotent = true
	c.Net.MaxOpenRequests = 1
	c.Producer.Return.Successes = true
	p, err := sarama.NewSyncProducer(brokers, c)
	if err != nil {
		t.Fatalf("producer: %v", err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// Produce sends msgs in order and fills in their partitions and offsets.
func Produce(t testing.TB, p sarama.SyncProducer, msgs ...*sarama.ProducerMessage) {
	t.Helper()
	for _, m := range msgs {
		if _, _, err := p.SendMessage(m); err != nil {
			t.Fatalf("produce to %s: %v", m.Topic, err)
		}
	}
}

// Read returns the first n records of a topic, reading every partition from
// its start, or fails the test after timeout.
func Read(t testing.TB, brokers []string, topic string, n int, timeout time.Duration) []*sarama.ConsumerMessage {
	t.Helper()
	consumer, err := sarama.NewConsumer(brokers, Config())
	if err != nil {
		t.Fatalf("read %s: %v", topic, err)
	}
	defer consumer.Close()
	parts, err := consumer.Partitions(topic)
	if err != nil {
		t.Fatalf("read %s: %v", topic, err)
	}
	got := make(chan *sarama.ConsumerMessage)
	done := make(chan struct{})
	var pcs []sarama.PartitionConsumer
	defer func() {
		close(done)
		for _, pc := range pcs {
			_ = pc.Close()
		}
	}()
	for _, p := range parts {
		pc, err := consumer.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			t.Fatalf("read %s/%d: %v", topic, p, err)
		}
		pcs = append(pcs, pc)
		go func() {
			for m := range pc.Messages() {
				select {
				case got <- m:
				case <-done:
					return
				}
			}
		}()
	}
	var msgs []*sarama.ConsumerMessage
	deadline := time.After(timeout)
	for len(msgs) < n {
		select {
		case m := <-got:
			msgs = append(msgs, m)
		case <-deadline:
			t.Fatalf("read %s: got %d records within %v, want %d", topic, len(msgs), timeout, n)
		}
	}
	return msgs
}

// CommittedOffset returns the offset a group committed for a partition, -1
// for none.
func CommittedOffset(t testing.TB, brokers []string, group, topic string, partition int32) int64 {
	t.Helper()
	admin, err := sarama.NewClusterAdmin(brokers, Config())
	if err != nil {
		t.Fatalf("committed offset: %v", err)
	}
	defer admin.Close()
	resp, err := admin.ListConsumerGroupOffsets(group, map[string][]int32{topic: {partition}})
	if err != nil {
		t.Fatalf("committed offset: %v", err)
	}
	b := resp.GetBlock(topic, partition)
	if b == nil {
		return -1
	}
	return b.Offset
}

// Request is an event a Sink received.
type Request struct {
	Header http.Header
	Body   string
}

// ID returns the event's id.
func (r Request) ID() string { return r.Header.Get("Ce-Id") }

// Reply is how a Sink answers.
type Reply struct {
	Status int
	Body   string
	Delay  time.Duration
}

// Sink is a recording CloudEvents sink.
type Sink struct {
	URL string

	respond func(r Request, attempt int) Reply

	mu       sync.Mutex
	requests []Request
	attempts map[string]int
	changed  chan struct{}
}

// NewSink starts a sink that answers each request with respond, told how
// many times (from 1) it has seen that event id. A nil respond accepts all.
func NewSink(t testing.TB, respond func(r Request, attempt int) Reply) *Sink {
	if respond == nil {
		respond = func(Request, int) Reply { return Reply{Status: http.StatusAccepted} }
	}
	s := &Sink{respond: respond, attempts: make(map[string]int), changed: make(chan struct{})}
	srv := httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(srv.Close)
	s.URL = srv.URL + "/"
	return s
}

func (s *Sink) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	req := Request{Header: r.Header.Clone(), Body: string(body)}
	s.mu.Lock()
	s.attempts[req.ID()]++
	attempt := s.attempts[req.ID()]
	s.mu.Unlock()

	reply := s.respond(req, attempt)
	if reply.Delay > 0 {
		select {
		case <-time.After(reply.Delay):
		case <-r.Context().Done():
			return
		}
	}
	if reply.Status == 0 {
		// Hang until the client gives up, like a stuck function.
		<-r.Context().Done()
		return
	}
	s.mu.Lock()
	s.requests = append(s.requests, req)
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
	w.WriteHeader(reply.Status)
	_, _ = io.WriteString(w, reply.Body)
}

// Requests returns the requests answered so far, in order.
func (s *Sink) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Attempts returns how many times the sink saw an event id.
func (s *Sink) Attempts(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attempts[id]
}

// WaitFor waits until the sink answered n requests and returns them.
func (s *Sink) WaitFor(t testing.TB, n int, timeout time.Duration) []Request {
	t.Helper()
	deadline := time.After(timeout)
	for {
		s.mu.Lock()
		got, changed := len(s.requests), s.changed
		s.mu.Unlock()
		if got >= n {
			return s.Requests()
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("sink answered %d requests within %v, want %d", got, timeout, n)
		}
	}
}

// Run runs a dispatcher until the returned stop is called or the test ends;
// stop waits for Run to return and fails the test when that takes long.
func Run(t testing.TB, cfg dispatch.Config) (d *dispatch.Dispatcher, stop func()) {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	d, err := dispatch.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("dispatcher: %v", err)
				}
			case <-time.After(20 * time.Second):
				t.Errorf("dispatcher did not stop within 20s of cancel")
			}
		})
	}
	t.Cleanup(stop)
	return d, stop
}

// Eventually polls cond until it holds or fails the test after timeout.
func Eventually(t testing.TB, timeout time.Duration, cond func() bool, format string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf(format, args...)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
