package order

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/IBM/sarama"
	"github.com/cloudevents/sdk-go/protocol/kafka_sarama/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mskafka/knative-functions/shared/events"
)

// relayBatch bounds how many outbox rows one round sends: enough to drain a
// backlog quickly, small enough to keep the row locks short.
const relayBatch = 100

// Sender delivers records to Kafka; a sarama SyncProducer is one.
type Sender interface {
	SendMessages(msgs []*sarama.ProducerMessage) error
	Close() error
}

// Relay sends unsent outbox rows to Kafka and marks them sent. It runs at
// start, right after each commit (Kick), and periodically, so an order
// accepted while Kafka is down reaches Kafka once it is back.
type Relay struct {
	pool     *pgxpool.Pool
	topic    string
	interval time.Duration
	log      *slog.Logger
	connect  func() (Sender, error)
	kick     chan struct{}
	sender   Sender // owned by the Run goroutine
}

// NewRelay builds a relay; connect is called lazily and again after a failure,
// so the function starts (and takes orders) while Kafka is unreachable.
func NewRelay(pool *pgxpool.Pool, topic string, interval time.Duration, connect func() (Sender, error), log *slog.Logger) *Relay {
	return &Relay{pool: pool, topic: topic, interval: interval, connect: connect, log: log, kick: make(chan struct{}, 1)}
}

// Kick asks the relay to send now. It never blocks: one pending kick is enough.
func (r *Relay) Kick() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// Run sends until ctx is cancelled.
func (r *Relay) Run(ctx context.Context) {
	defer func() {
		if r.sender != nil {
			r.sender.Close()
		}
	}()
	t := time.NewTicker(r.interval)
	defer t.Stop()
	for {
		r.drain(ctx)
		select {
		case <-ctx.Done():
			return
		case <-r.kick:
		case <-t.C:
		}
	}
}

func (r *Relay) drain(ctx context.Context) {
	// A batch under way finishes even when ctx ends: stopping between the
	// send and the sent mark would only cause a (harmless) re-send later.
	work := context.WithoutCancel(ctx)
	for ctx.Err() == nil {
		n, err := r.sendBatch(work)
		if err != nil {
			r.log.Warn("outbox relay: will retry", "error", err)
			return
		}
		if n < relayBatch {
			return
		}
	}
}

// sendBatch locks a batch of unsent rows, sends them, and marks them sent in
// the same transaction. SKIP LOCKED lets several instances relay side by side
// without sending a row twice; a crash between send and commit re-sends it,
// which the sinks absorb (they deduplicate by event id).
func (r *Relay) sendBatch(ctx context.Context) (int, error) {
	if r.sender == nil {
		s, err := r.connect()
		if err != nil {
			return 0, fmt.Errorf("connect to kafka: %w", err)
		}
		r.sender = s
	}
	tx, err := r.pool.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	rows, err := tx.Query(ctx, `SELECT seq, id::text, order_id, type, payload, created FROM outbox
		WHERE sent_at IS NULL ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED`, relayBatch)
	if err != nil {
		return 0, fmt.Errorf("read outbox: %w", err)
	}
	recs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (OutboxRecord, error) {
		var rec OutboxRecord
		err := row.Scan(&rec.Seq, &rec.ID, &rec.OrderID, &rec.Type, &rec.Payload, &rec.Created)
		return rec, err
	})
	if err != nil || len(recs) == 0 {
		return 0, err
	}
	msgs := make([]*sarama.ProducerMessage, len(recs))
	seqs := make([]int64, len(recs))
	for i, rec := range recs {
		if msgs[i], err = r.message(ctx, rec); err != nil {
			return 0, err
		}
		seqs[i] = rec.Seq
	}
	if err := r.sender.SendMessages(msgs); err != nil {
		// A broken producer is replaced on the next round.
		r.sender.Close()
		r.sender = nil
		return 0, fmt.Errorf("send %d records: %w", len(msgs), err)
	}
	if _, err := tx.Exec(ctx, `UPDATE outbox SET sent_at = now() WHERE seq = ANY($1)`, seqs); err != nil {
		return 0, fmt.Errorf("mark %d records sent: %w", len(seqs), err)
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("commit sent marks: %w", err)
	}
	for _, rec := range recs {
		r.log.Info("event published", "ce_id", rec.ID, "ce_type", rec.Type, "order_id", rec.OrderID)
	}
	return len(recs), nil
}

func (r *Relay) message(ctx context.Context, rec OutboxRecord) (*sarama.ProducerMessage, error) {
	ev := rec.Event()
	msg := &sarama.ProducerMessage{Topic: r.topic, Key: sarama.StringEncoder(events.Key(rec.OrderID))}
	if err := kafka_sarama.WriteProducerMessage(ctx, binding.ToMessage(&ev), msg); err != nil {
		return nil, fmt.Errorf("encode event %s: %w", rec.ID, err)
	}
	return msg, nil
}

// Event is the CloudEvent an outbox row stands for. It is derived from the
// row alone, so every re-send is the same event.
func (rec OutboxRecord) Event() event.Event {
	ev := event.New()
	ev.SetID(rec.ID)
	ev.SetSource(events.SourceOrder)
	ev.SetType(rec.Type)
	ev.SetSubject(strconv.FormatInt(rec.OrderID, 10))
	ev.SetTime(rec.Created)
	_ = ev.SetData(event.ApplicationJSON, rec.Payload)
	return ev
}

// NewProducer connects an idempotent producer that waits for all in-sync
// replicas: together they keep a retried send from writing a record twice or
// losing it to a leader change.
func NewProducer(brokers []string, clientID string) (Sender, error) {
	cfg := sarama.NewConfig()
	cfg.ClientID = clientID
	// Kafka 4 dropped the protocol versions older than 2.1.
	cfg.Version = sarama.V4_0_0_0
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Idempotent = true
	cfg.Net.MaxOpenRequests = 1
	cfg.Producer.Return.Successes = true
	cfg.Producer.Retry.Max = 5
	cfg.Producer.Retry.Backoff = 200 * time.Millisecond
	cfg.Metadata.Retry.Max = 2
	cfg.Net.DialTimeout = 3 * time.Second
	p, err := sarama.NewSyncProducer(brokers, cfg)
	if err != nil {
		return nil, fmt.Errorf("new producer for %v: %w", brokers, err)
	}
	return p, nil
}
