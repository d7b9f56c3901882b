// Package embedded runs an in-process, single-node Kafka for local runs: a
// kfake cluster (github.com/twmb/franz-go/pkg/kfake) speaking the Kafka wire
// protocol on one address, with the project's topics created at start.
//
// With a DataDir the broker keeps its state (records, topics, committed
// offsets, idempotent-producer state) on disk between runs through kfake's
// own persistence. Writes are not fsynced per batch, so a machine crash (not
// a process crash) can lose the last records.
package embedded

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"syscall"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/mskafka/knative-functions/shared/events"
)

// DefaultAddr is where the local stack's Kafka listens.
const DefaultAddr = "127.0.0.1:9092"

// Config configures Start.
type Config struct {
	// Addr is the host:port to listen on and to advertise to clients; empty
	// means DefaultAddr, port 0 a free port. The host must be one clients can
	// dial, not a wildcard.
	Addr string
	// DataDir keeps the broker's state between runs; empty keeps it in memory.
	DataDir string
	// Logger receives the broker's own log; nil discards it.
	Logger *slog.Logger
}

// Broker is a running embedded Kafka.
type Broker struct {
	cluster *kfake.Cluster
	addr    string
	unlock  func()
}

// Start listens on cfg.Addr, loads cfg.DataDir if it holds an earlier run,
// and creates any missing topic. The broker runs until Close; ctx bounds only
// the start.
func Start(ctx context.Context, cfg Config) (*Broker, error) {
	addr, err := dialable(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("start embedded kafka: %w", err)
	}
	log := cmp.Or(cfg.Logger, slog.New(slog.DiscardHandler))

	unlock := func() {}
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		// kfake always asks for 127.0.0.1:<port>; listen where we were told.
		kfake.ListenFn(func(network, _ string) (net.Listener, error) {
			var lc net.ListenConfig
			return lc.Listen(ctx, network, addr)
		}),
		kfake.WithLogger(logger{log}),
		kfake.ClusterID("ms-kafka-embedded"),
	}
	if cfg.DataDir != "" {
		if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
			return nil, fmt.Errorf("start embedded kafka: %w", err)
		}
		// Two brokers writing one directory would corrupt it.
		if unlock, err = lock(cfg.DataDir); err != nil {
			return nil, fmt.Errorf("start embedded kafka: %w", err)
		}
		opts = append(opts, kfake.DataDir(cfg.DataDir))
	}
	cluster, err := kfake.NewCluster(opts...)
	if err != nil {
		unlock()
		return nil, fmt.Errorf("start embedded kafka: %w", err)
	}
	b := &Broker{cluster: cluster, addr: cluster.ListenAddrs()[0], unlock: unlock}

	// The project's topics: the order events and their dead letters.
	for topic, partitions := range map[string]int32{events.Topic: events.TopicPartitions, events.DeadLetterTopic: events.DeadLetterTopicPartitions} {
		err := ctx.Err()
		if err == nil {
			err = b.ensureTopic(topic, partitions, log)
		}
		if err != nil {
			b.Close()
			return nil, fmt.Errorf("start embedded kafka: %w", err)
		}
	}
	log.Info("embedded kafka started", "addr", b.addr, "data_dir", cfg.DataDir)
	return b, nil
}

// dialable returns addr (DefaultAddr when empty) if clients can dial it:
// the broker advertises the address it listens on, and a wildcard would
// send clients to an address they cannot reach.
func dialable(addr string) (string, error) {
	addr = cmp.Or(addr, DefaultAddr)
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return "", err
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		return "", fmt.Errorf("addr %q: want a host clients can dial", addr)
	}
	return addr, nil
}

func (b *Broker) ensureTopic(topic string, partitions int32, log *slog.Logger) error {
	// Seeding topics through kfake.SeedTopics would apply only to a fresh
	// data directory; creating what is missing works for both.
	if b.cluster.TopicInfo(topic) != nil {
		if n := len(b.cluster.PartitionInfos(topic)); int32(n) != partitions {
			log.Warn("topic has a different partition count", "topic", topic, "partitions", n, "want", partitions)
		}
		return nil
	}
	if err := b.cluster.CreateTopic(topic, partitions, nil); err != nil {
		return fmt.Errorf("create topic %s: %w", topic, err)
	}
	return nil
}

// Addr returns the address clients bootstrap from.
func (b *Broker) Addr() string { return b.addr }

// Close stops the broker and, with a DataDir, writes its state to disk.
func (b *Broker) Close() {
	b.cluster.Close()
	b.unlock()
}

// logger hands kfake's log to slog. kfake logs every request at its info
// level, which is debug detail here.
type logger struct{ log *slog.Logger }

func (l logger) Logf(level kfake.LogLevel, format string, args ...any) {
	var lv slog.Level
	switch level {
	case kfake.LogLevelError:
		lv = slog.LevelError
	case kfake.LogLevelWarn:
		lv = slog.LevelWarn
	case kfake.LogLevelInfo:
		lv = slog.LevelDebug
	default:
		lv = slog.LevelDebug - 4
	}
	ctx := context.Background()
	if l.log.Enabled(ctx, lv) {
		l.log.Log(ctx, lv, fmt.Sprintf(format, args...), "component", "kfake")
	}
}

// lock takes an exclusive advisory lock on dir for as long as the process
// holds it; the kernel drops it when the process dies, so a crash leaves no
// stale lock behind.
func lock(dir string) (unlock func(), err error) {
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("lock %s: data directory in use by another embedded kafka", dir)
		}
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	return func() { f.Close() }, nil
}
