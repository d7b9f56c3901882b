package testenv

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// KafkaBrokers returns the brokers in KAFKA_BROKERS.
func KafkaBrokers(tb testing.TB) []string {
	tb.Helper()
	var brokers []string
	for b := range strings.SplitSeq(os.Getenv(EnvBrokers), ",") {
		if b = strings.TrimSpace(b); b != "" {
			brokers = append(brokers, b)
		}
	}
	if len(brokers) == 0 {
		Missing(tb, EnvBrokers, "run `make test`, or infra/local/kafka.sh start and set it to host:port")
	}
	return brokers
}

// TopicName returns a topic or group name no other test run uses.
func TopicName(t testing.TB, prefix string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := regexp.MustCompile(`[^a-zA-Z0-9._-]+`).ReplaceAllString(t.Name(), "-")
	return strings.ToLower(prefix + "-" + name + "-" + hex.EncodeToString(b[:]))
}

// KafkaConfig returns a sarama config for test clients.
func KafkaConfig() *sarama.Config {
	c := sarama.NewConfig()
	c.Version = sarama.V4_0_0_0
	c.ClientID = "testenv"
	c.Metadata.AllowAutoTopicCreation = false
	return c
}

// CreateTopic creates a topic and waits until the cluster reports every
// partition with a leader.
func CreateTopic(t testing.TB, brokers []string, topic string, partitions int32) {
	t.Helper()
	admin, err := sarama.NewClusterAdmin(brokers, KafkaConfig())
	if err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
	defer admin.Close()
	err = admin.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: partitions, ReplicationFactor: 1}, false)
	if err != nil && !errors.Is(err, sarama.ErrTopicAlreadyExists) {
		t.Fatalf("create topic %s: %v", topic, err)
	}
	client, err := sarama.NewClient(brokers, KafkaConfig())
	if err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
	defer client.Close()
	Eventually(t, 10*time.Second, "leaders of topic "+topic, func() bool {
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
	})
}

// Producer returns an idempotent producer that waits for all replicas, as
// the order function's outbox uses; it is closed when the test ends.
func Producer(t testing.TB, brokers []string) sarama.SyncProducer {
	t.Helper()
	c := KafkaConfig()
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
	consumer, err := sarama.NewConsumer(brokers, KafkaConfig())
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
	admin, err := sarama.NewClusterAdmin(brokers, KafkaConfig())
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

// ReadAll returns every record of every partition of topic, up to the end
// each partition has now.
func ReadAll(tb testing.TB, brokers []string, topic string) []*sarama.ConsumerMessage {
	tb.Helper()
	client, err := sarama.NewClient(brokers, KafkaConfig())
	if err != nil {
		tb.Fatalf("read %s: %v", topic, err)
	}
	defer client.Close()
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		tb.Fatalf("read %s: %v", topic, err)
	}
	defer consumer.Close()
	parts, err := client.Partitions(topic)
	if err != nil {
		tb.Fatalf("read %s: %v", topic, err)
	}
	var all []*sarama.ConsumerMessage
	for _, p := range parts {
		end, err := client.GetOffset(topic, p, sarama.OffsetNewest)
		if err != nil {
			tb.Fatalf("read %s/%d: %v", topic, p, err)
		}
		if end == 0 {
			continue
		}
		pc, err := consumer.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			tb.Fatalf("read %s/%d: %v", topic, p, err)
		}
		for m := range pc.Messages() {
			all = append(all, m)
			if m.Offset >= end-1 {
				break
			}
		}
		_ = pc.Close()
	}
	return all
}
