// Package order is the order function: it takes orders from the HTML form,
// the JSON API and com.example.order.place CloudEvents, stores them in its
// own schema, and publishes each as a com.example.order.placed CloudEvent on
// the Kafka topic "order" through a transactional outbox.
package order

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/metric"

	"github.com/mskafka/knative-functions/shared/db"
	"github.com/mskafka/knative-functions/shared/events"
	"github.com/mskafka/knative-functions/shared/telemetry"
	"github.com/mskafka/knative-functions/shared/web"
)

//go:embed migrations/*.sql
var migrations embed.FS

//go:embed pages/*.html
var pageFiles embed.FS

// Config is the order function's configuration; the root Start parses it
// from the environment, once, and passes it in.
type Config struct {
	DatabaseURL    string        `envconfig:"DATABASE_URL" required:"true" desc:"Postgres URL of the order function's own role"`
	DatabaseSchema string        `envconfig:"DATABASE_SCHEMA" default:"orders" desc:"schema the order tables live in"`
	DBMaxConns     int32         `envconfig:"DB_MAX_CONNS" default:"8" desc:"largest number of Postgres connections"`
	KafkaBrokers   []string      `envconfig:"KAFKA_BROKERS" default:"127.0.0.1:9092" desc:"Kafka bootstrap servers, comma separated"`
	KafkaTopic     string        `envconfig:"KAFKA_TOPIC" default:"order" desc:"topic the order events go to"`
	OutboxInterval time.Duration `envconfig:"OUTBOX_INTERVAL" default:"5s" desc:"how often the outbox relay looks for unsent events besides right after each order"`
	TraceQueryURL  string        `envconfig:"TRACE_QUERY_URL" desc:"base URL of a Jaeger-compatible query API (such as http://127.0.0.1:16686) from which each order's page shows its trace; empty: the page says how to turn tracing on"`
	// A key must outlive every repeat of its command. Forms and API clients
	// repeat within minutes; a command carried by a Kafka-backed channel
	// can be redelivered as long as its record is on the topic: retention.ms
	// (7 days) plus segment.ms (1 day, infra/kafka/topics.yaml), and a day
	// for the broker's retention check and producers' clocks.
	KeyRetention    time.Duration `envconfig:"IDEMPOTENCY_KEY_RETENTION" default:"216h" desc:"how long an idempotency key (command id, Idempotency-Key, form token) is kept; a repeat after that places a new order"`
	OutboxRetention time.Duration `envconfig:"OUTBOX_RETENTION" default:"216h" desc:"how long a sent outbox row is kept after it was sent; at least IDEMPOTENCY_KEY_RETENTION (a repeated command is answered with its event)"`
	RetentionBatch  int           `envconfig:"RETENTION_BATCH" default:"1000" desc:"most rows one retention DELETE removes (each in its own short transaction)"`
	RetentionTime   time.Duration `envconfig:"RETENTION_TIME" default:"10s" desc:"most time one ping spends deleting per table; the rest waits for the next ping"`
	GroupCommit     int           `envconfig:"GROUP_COMMIT" default:"8" desc:"most orders committed together in one transaction (those placed while one commits); 1: each alone"`
}

// retention is the retention part of the configuration.
func (c Config) retention() Retention {
	return Retention{Keys: c.KeyRetention, Outbox: c.OutboxRetention,
		Batches: db.Batches{Rows: c.RetentionBatch, Time: c.RetentionTime}}
}

// Validate refuses what would start the function on the wrong database or
// without anywhere to publish.
func (c Config) Validate() error {
	errs := []error{db.CheckSettings(c.DatabaseURL, c.DBMaxConns)}
	if len(c.KafkaBrokers) == 0 {
		errs = append(errs, errors.New("KAFKA_BROKERS must name at least one broker"))
	}
	if c.KafkaTopic == "" {
		errs = append(errs, errors.New("KAFKA_TOPIC must not be empty"))
	}
	if c.OutboxInterval <= 0 {
		errs = append(errs, fmt.Errorf("OUTBOX_INTERVAL=%v: want a positive duration", c.OutboxInterval))
	}
	if c.TraceQueryURL != "" {
		if u, err := url.Parse(c.TraceQueryURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			u.User != nil || u.RawQuery != "" || u.Fragment != "" {
			errs = append(errs, errors.New("TRACE_QUERY_URL: want an http(s) base URL without user, query or fragment, such as http://127.0.0.1:16686"))
		}
	}
	if c.KeyRetention <= 0 {
		errs = append(errs, fmt.Errorf("IDEMPOTENCY_KEY_RETENTION=%v: want a positive duration", c.KeyRetention))
	}
	if c.OutboxRetention < c.KeyRetention {
		errs = append(errs, fmt.Errorf("OUTBOX_RETENTION=%v: want at least IDEMPOTENCY_KEY_RETENTION (%v): a repeated command is answered with its event, read from the outbox",
			c.OutboxRetention, c.KeyRetention))
	}
	if c.GroupCommit < 1 {
		errs = append(errs, fmt.Errorf("GROUP_COMMIT=%d: want 1 (each order alone) or more", c.GroupCommit))
	}
	errs = append(errs, c.retention().Check())
	return errors.Join(errs...)
}

// LogValue shows the configuration with the database password masked.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(slog.String("database", db.Redact(c.DatabaseURL)), slog.String("schema", c.DatabaseSchema),
		slog.Int("db_max_conns", int(c.DBMaxConns)), slog.String("kafka_brokers", strings.Join(c.KafkaBrokers, ",")),
		slog.String("topic", c.KafkaTopic), slog.String("outbox_interval", c.OutboxInterval.String()),
		slog.String("trace_query_url", c.TraceQueryURL),
		slog.String("key_retention", c.KeyRetention.String()), slog.String("outbox_retention", c.OutboxRetention.String()),
		slog.Int("retention_batch", c.RetentionBatch), slog.String("retention_time", c.RetentionTime.String()),
		slog.Int("group_commit", c.GroupCommit))
}

// Function is a started order function.
type Function struct {
	http.Handler
	pool *pgxpool.Pool
	stop context.CancelFunc
	done chan struct{}
	log  *slog.Logger
	// flush sends what is left in the outbox on the way out.
	flush func(context.Context) (int, error)
}

// Start prepares the schema and starts the outbox relay with cfg, which
// the caller has validated (the root function does, once, before any role
// starts: Config.Validate). tel traces the Postgres calls and the Kafka
// sends, and counts the orders and the outbox backlog.
func Start(ctx context.Context, cfg Config, log *slog.Logger, tel *telemetry.Telemetry) (*Function, error) {
	pool, err := db.Open(ctx, cfg.DatabaseURL, cfg.DatabaseSchema, cfg.DBMaxConns, db.WithTracing(tel.TracerProvider))
	if err != nil {
		return nil, err
	}
	if err := db.Migrate(ctx, pool, db.Own(migrations, "migrations")); err != nil {
		pool.Close()
		return nil, err
	}
	connect := func() (Sender, error) { return NewProducer(cfg.KafkaBrokers, "order") }
	relay := NewRelay(pool, cfg.KafkaTopic, cfg.OutboxInterval, connect, log, WithTelemetry(tel))
	if err := tel.Metrics.ObserveOutbox(relay.Backlog); err != nil {
		pool.Close()
		return nil, err
	}
	traces := newTraceReader(strings.TrimSuffix(cfg.TraceQueryURL, "/"))
	store := NewStore(pool, WithGroupCommit(cfg.GroupCommit))
	prune := func(ctx context.Context) (Pruned, error) { return store.Prune(ctx, cfg.retention(), time.Now()) }
	f, err := newFunction(pool, counted{store, tel.Metrics}, relay, traces, prune, log)
	if err != nil {
		pool.Close()
		return nil, err
	}
	return f, nil
}

// counted counts the orders accepted, so the store stays free of metrics.
// Cancellations show in outbox.published by type. A command refused because
// its source and id came before with other data is counted as an event
// handled with result "conflict", as the sinks count theirs.
type counted struct {
	orders
	m *telemetry.Metrics
}

func (c counted) Place(ctx context.Context, req Request, cmd *CommandKey) (Placed, error) {
	p, err := c.orders.Place(ctx, req, cmd)
	switch {
	case err == nil && !p.Repeated:
		c.m.OrdersPlaced.Add(ctx, 1)
	case errors.Is(err, ErrKeyReused) && cmd != nil && cmd.Source != "":
		c.m.EventsHandled.Add(ctx, 1, metric.WithAttributes(
			telemetry.AttrType.String(events.TypePlace), telemetry.AttrResult.String("conflict")))
	}
	return p, err
}

func newFunction(pool *pgxpool.Pool, store orders, relay *Relay, traces traceReader, prune func(context.Context) (Pruned, error), log *slog.Logger) (*Function, error) {
	s := &server{store: store, wakeRelay: relay.Kick, drain: relay.Flush, traces: traces, prune: prune,
		pages: web.LazyPages(pageFiles, "pages/*.html"), menu: web.Menu(), log: log}
	runCtx, stop := context.WithCancel(context.Background())
	f := &Function{Handler: s.routes(), pool: pool, stop: stop, done: make(chan struct{}), log: log, flush: relay.Flush}
	go func() {
		defer close(f.done)
		relay.Run(runCtx)
	}()
	return f, nil
}

// Ready reports whether the database answers.
func (f *Function) Ready(ctx context.Context) (bool, error) {
	if err := f.pool.Ping(ctx); err != nil {
		return false, fmt.Errorf("ping database: %w", err)
	}
	return true, nil
}

// Stop ends the relay (a send under way finishes first), publishes what
// the outbox still holds within ctx (the runtime's grace period), and
// closes the pool. The runtime calls it after the last request has been
// answered, so a scale-down leaves nothing for the next ping to find
// unless Kafka is unreachable.
func (f *Function) Stop(ctx context.Context) error {
	f.stop()
	select {
	case <-f.done:
	case <-ctx.Done():
	}
	if n, err := f.flush(ctx); err != nil {
		f.log.Warn("outbox not flushed on stop: the next ping publishes it", "published", n, "error", err)
	} else if n > 0 {
		f.log.Info("outbox flushed on stop", "published", n)
	}
	f.pool.Close()
	return nil
}
