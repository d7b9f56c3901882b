// Package dispatch is a local stand-in for the Knative KafkaSource data plane:
// it reads records from Kafka with one consumer group per KafkaSource and
// delivers them as CloudEvents over HTTP to the source's sink, with the
// retries, dead-lettering and offset commits of Knative's dispatcher.
//
// On a cluster Knative does this job; the functions never import this
// package. Delivery is at least once: sinks must be idempotent.
package dispatch

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"

	"github.com/mskafka/knative-functions/shared/telemetry"
	"github.com/mskafka/knative-functions/tools/broker/manifest"
)

// consumeRetryDelay is the pause before connecting or rejoining a consumer
// group again after an error, such as a topic that does not exist yet.
const consumeRetryDelay = time.Second

// Config is what a Dispatcher needs.
type Config struct {
	// Brokers are the Kafka bootstrap addresses. They replace the
	// bootstrapServers of the manifests, which name the cluster's Kafka.
	Brokers []string
	// Sources are the KafkaSources to run, as manifest.Load returns them.
	Sources []manifest.KafkaSource
	// KafkaSinks are the KafkaSinks a sink or dead letter sink may name, by name.
	KafkaSinks map[string]manifest.KafkaSink
	// Services maps a Knative Service name to the local URL of that function,
	// such as "shipping" to "http://127.0.0.1:8082/".
	Services map[string]string
	// Logger receives one record per delivery outcome; nil discards them.
	Logger *slog.Logger
	// HTTPClient posts events to sinks (its transport wrapped to trace each
	// attempt); nil means a client of the dispatcher's own.
	HTTPClient *http.Client
	// Telemetry traces and counts the deliveries; nil means none, though
	// the trace context of each record still travels on to its sink.
	Telemetry *telemetry.Telemetry
}

// Stats counts what a Dispatcher did since it was made: the events a sink
// accepted, the failed attempts that were repeated, the events handed to a
// dead letter sink, and those dropped: given up without a dead letter sink,
// or records that were no valid CloudEvent.
type Stats struct {
	Delivered    int64 `json:"delivered"`
	Retried      int64 `json:"retried"`
	DeadLettered int64 `json:"deadLettered"`
	Dropped      int64 `json:"dropped"`
}

// Failure is the last failed attempt of a KafkaSource's delivery: the
// CloudEvent's id, the sink's HTTP status (0 when it did not answer) and
// the start of its answer, or the transport's error, as Reason.
type Failure struct {
	At      time.Time `json:"at"`
	EventID string    `json:"eventId"`
	Attempt int       `json:"attempt"`
	Status  int       `json:"status"`
	Reason  string    `json:"reason"`
}

// SourceStats is what one KafkaSource did since the Dispatcher was made;
// LastFailure is nil until an attempt failed.
type SourceStats struct {
	Name          string   `json:"name"`
	ConsumerGroup string   `json:"consumerGroup"`
	Topics        []string `json:"topics"`
	Stats
	LastFailure *Failure `json:"lastFailure"`
}

// reasonMax bounds the reason kept of a failure.
const reasonMax = 200

// counters count for one source, and into total (the Dispatcher's) too.
type counters struct {
	n           [4]atomic.Int64 // indexed by the constants below
	lastFailure atomic.Pointer[Failure]
	total       *counters
}

const (
	delivered = iota
	retried
	deadLettered
	dropped
)

func (c *counters) inc(k int) {
	for ; c != nil; c = c.total {
		c.n[k].Add(1)
	}
}

func (c *counters) failed(id string, attempt int, o outcome) {
	f := &Failure{At: time.Now(), EventID: id, Attempt: attempt, Status: o.status, Reason: strings.TrimSpace(string(o.body))}
	if o.err != nil {
		f.Reason = o.err.Error()
	}
	if len(f.Reason) > reasonMax {
		f.Reason = f.Reason[:reasonMax] + "…"
	}
	c.lastFailure.Store(f)
}

func (c *counters) snapshot() Stats {
	return Stats{Delivered: c.n[delivered].Load(), Retried: c.n[retried].Load(),
		DeadLettered: c.n[deadLettered].Load(), Dropped: c.n[dropped].Load()}
}

// Dispatcher runs the KafkaSources of a Config.
type Dispatcher struct {
	brokers []string
	log     *slog.Logger
	client  *http.Client
	tel     *telemetry.Telemetry
	sources []*processor
	stats   counters
	// producer writes to the KafkaSinks while a session runs (nil when no
	// source has one); it is set before the session's consumers start.
	producer     sarama.SyncProducer
	needProducer bool
}

// New checks cfg and resolves every sink and dead letter sink, so a reference
// to an unknown service or KafkaSink fails here rather than at the first
// delivery. It does not connect to Kafka.
func New(cfg Config) (*Dispatcher, error) {
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("new dispatcher: no Kafka brokers")
	}
	d := &Dispatcher{brokers: cfg.Brokers, log: cmp.Or(cfg.Logger, slog.New(slog.DiscardHandler)),
		tel: cmp.Or(cfg.Telemetry, telemetry.Noop())}
	client := http.Client{Transport: &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		MaxIdleConnsPerHost: unorderedInFlight,
		IdleConnTimeout:     90 * time.Second,
	}}
	if cfg.HTTPClient != nil {
		client = *cfg.HTTPClient
	}
	// Each attempt is a client span, and its headers carry the trace on.
	client.Transport = d.tel.Transport(client.Transport)
	d.client = &client
	for _, src := range cfg.Sources {
		if len(src.Topics) == 0 || src.ConsumerGroup == "" {
			return nil, fmt.Errorf("new dispatcher: source %s: needs topics and a consumer group", src.Name)
		}
		p := &processor{src: src, log: d.log, stats: &counters{total: &d.stats}, tel: d.tel}
		var err error
		if p.sink, err = d.resolve(src.Sink, cfg.Services, cfg.KafkaSinks); err != nil {
			return nil, fmt.Errorf("new dispatcher: source %s: sink: %w", src.Name, err)
		}
		if dls := src.Delivery.DeadLetterSink; dls != nil {
			if p.deadLetter, err = d.resolve(*dls, cfg.Services, cfg.KafkaSinks); err != nil {
				return nil, fmt.Errorf("new dispatcher: source %s: dead letter sink: %w", src.Name, err)
			}
		}
		d.sources = append(d.sources, p)
	}
	return d, nil
}

// Stats returns the counters so far.
func (d *Dispatcher) Stats() Stats { return d.stats.snapshot() }

// Sources returns the counters and the last failure of each KafkaSource,
// in the order of the Config.
func (d *Dispatcher) Sources() []SourceStats {
	out := make([]SourceStats, 0, len(d.sources))
	for _, p := range d.sources {
		out = append(out, SourceStats{Name: p.src.Name, ConsumerGroup: p.src.ConsumerGroup, Topics: p.src.Topics,
			Stats: p.stats.snapshot(), LastFailure: p.stats.lastFailure.Load()})
	}
	return out
}

// Run consumes and delivers until ctx ends, then leaves the consumer groups
// after committing the offsets of finished records, and returns nil. Like
// the platform's dispatcher it keeps trying to reach Kafka, logging each
// failure: a broker that is down delays delivery instead of ending it. Run
// once per Dispatcher.
func (d *Dispatcher) Run(ctx context.Context) error {
	for {
		err := d.session(ctx)
		if err == nil || ctx.Err() != nil {
			return nil
		}
		d.log.Warn("dispatcher cannot reach Kafka yet; trying again", "error", err, "in", consumeRetryDelay)
		sleep(ctx, consumeRetryDelay)
	}
}

// session connects, consumes until ctx ends and disconnects; it returns an
// error only when it cannot connect.
func (d *Dispatcher) session(ctx context.Context) error {
	if d.needProducer {
		p, err := sarama.NewSyncProducer(d.brokers, producerConfig())
		if err != nil {
			return fmt.Errorf("run dispatcher: producer: %w", err)
		}
		defer func() {
			if err := p.Close(); err != nil {
				d.log.Warn("close producer", "error", err)
			}
		}()
		d.producer = p
	}

	groups := make([]sarama.ConsumerGroup, 0, len(d.sources))
	closeGroups := func() {
		for _, g := range groups {
			if err := g.Close(); err != nil {
				d.log.Warn("close consumer group", "error", err)
			}
		}
	}
	for _, p := range d.sources {
		g, err := sarama.NewConsumerGroup(d.brokers, p.src.ConsumerGroup, consumerConfig(p.src))
		if err != nil {
			closeGroups()
			return fmt.Errorf("run dispatcher: source %s: %w", p.src.Name, err)
		}
		groups = append(groups, g)
	}

	var consumers, logs sync.WaitGroup
	for i, p := range d.sources {
		consumers.Go(func() { d.consume(ctx, groups[i], p) })
		// Errors of the partition consumers arrive here rather than from
		// Consume; the channel closes with the group.
		logs.Go(func() {
			for err := range groups[i].Errors() {
				d.log.Warn("consume", "source", p.src.Name, "group", p.src.ConsumerGroup, "error", err)
			}
		})
	}
	<-ctx.Done()
	consumers.Wait()
	closeGroups()
	logs.Wait()
	return nil
}

// consume runs one consumer group until ctx ends; Consume returns at every
// rebalance.
func (d *Dispatcher) consume(ctx context.Context, g sarama.ConsumerGroup, p *processor) {
	for ctx.Err() == nil {
		err := g.Consume(ctx, p.src.Topics, p)
		if errors.Is(err, sarama.ErrClosedConsumerGroup) {
			return
		}
		if err != nil && ctx.Err() == nil {
			d.log.Warn("consume", "source", p.src.Name, "group", p.src.ConsumerGroup, "error", err)
			sleep(ctx, consumeRetryDelay)
		}
	}
}

func baseConfig(clientID string) *sarama.Config {
	c := sarama.NewConfig()
	// Kafka 4 removed the protocol versions older than 2.1.
	c.Version = sarama.V4_0_0_0
	c.ClientID = clientID
	// A topic missing from a local run is a mistake to report, not one to
	// paper over with a topic of the broker's default partition count.
	c.Metadata.AllowAutoTopicCreation = false
	return c
}

func consumerConfig(src manifest.KafkaSource) *sarama.Config {
	c := baseConfig("dispatch-" + src.Name)
	c.Consumer.Offsets.Initial = sarama.OffsetNewest
	if src.InitialOffset == manifest.OffsetEarliest {
		c.Consumer.Offsets.Initial = sarama.OffsetOldest
	}
	// Marked offsets are committed every second and when a session ends.
	c.Consumer.Offsets.AutoCommit.Enable = true
	c.Consumer.Offsets.AutoCommit.Interval = time.Second
	c.Consumer.Return.Errors = true
	return c
}

func producerConfig() *sarama.Config {
	c := baseConfig("dispatch-dead-letter")
	// Dead letters are the last copy of an event: wait for every replica and
	// let the broker drop duplicates of retried batches.
	c.Producer.RequiredAcks = sarama.WaitForAll
	c.Producer.Idempotent = true
	c.Net.MaxOpenRequests = 1
	c.Producer.Return.Successes = true
	c.Producer.Return.Errors = true
	return c
}
