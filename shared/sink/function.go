package sink

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mskafka/knative-functions/shared/db"
	"github.com/mskafka/knative-functions/shared/telemetry"
)

// Config is the configuration of shipping and invoicing alike; the root
// Start parses it from the environment, once, and passes it in.
type Config struct {
	DatabaseURL    string `envconfig:"DATABASE_URL" required:"true" desc:"Postgres URL of the function's own role"`
	DatabaseSchema string `envconfig:"DATABASE_SCHEMA" desc:"schema that holds the function's tables; empty: the function's name (shipping, invoicing)"`
	DBMaxConns     int32  `envconfig:"DB_MAX_CONNS" default:"4" desc:"most connections to Postgres at once"`
	// An event can be delivered again as long as its record is on the
	// topic: a segment is deleted once its newest record is older than
	// retention.ms (7 days), and it takes new records for up to segment.ms
	// (1 day, infra/kafka/topics.yaml); a day more covers the broker's
	// retention check and producers' clocks. Past that, a placed event sent
	// again is still a duplicate of the record it made (an order is kept
	// once); only its answer's outcome could tell.
	HandledRetention time.Duration `envconfig:"HANDLED_EVENT_RETENTION" default:"216h" desc:"how long the record of a handled event, and a recorded cancellation, is kept; at least the topic's retention.ms plus segment.ms"`
	RetentionBatch   int           `envconfig:"RETENTION_BATCH" default:"1000" desc:"most rows one retention DELETE removes (each in its own short transaction)"`
	// 30 s: the retention ping comes every 15 minutes, which at 600
	// events/s brings 540,000 rows; Postgres deleted ~39,000 a second here
	// (RETENTION_BATCH rows a statement), so about 14 s a round.
	RetentionTime time.Duration `envconfig:"RETENTION_TIME" default:"30s" desc:"most time one ping spends deleting; the rest waits for the next ping"`
	GroupCommit   int           `envconfig:"GROUP_COMMIT" default:"8" desc:"most placed events committed together in one transaction (those that arrive while one commits); 1: each alone"`
}

// Validate refuses what would start a function on the wrong database.
func (c Config) Validate() error {
	var errs []error
	errs = append(errs, db.CheckSettings(c.DatabaseURL, c.DBMaxConns), c.retention().Check())
	if c.GroupCommit < 1 {
		errs = append(errs, fmt.Errorf("GROUP_COMMIT=%d: want 1 (each event alone) or more", c.GroupCommit))
	}
	if c.HandledRetention <= 0 {
		errs = append(errs, fmt.Errorf("HANDLED_EVENT_RETENTION=%v: want a positive duration", c.HandledRetention))
	}
	return errors.Join(errs...)
}

func (c Config) retention() Retention {
	return Retention{Handled: c.HandledRetention, Batches: db.Batches{Rows: c.RetentionBatch, Time: c.RetentionTime}}
}

// LogValue shows the configuration with the database password masked.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(slog.String("database", db.Redact(c.DatabaseURL)),
		slog.String("schema", c.DatabaseSchema), slog.Int("db_max_conns", int(c.DBMaxConns)),
		slog.String("handled_event_retention", c.HandledRetention.String()),
		slog.Int("retention_batch", c.RetentionBatch), slog.String("retention_time", c.RetentionTime.String()),
		slog.Int("group_commit", c.GroupCommit))
}

// Open does what a sink function does at start before it can serve: open
// the pool on its schema (named after the function unless cfg names one)
// and bring the schema up to date with the function's migrations (dir
// "migrations" of migrations).
func Open(ctx context.Context, cfg Config, name string, migrations fs.FS, log *slog.Logger, tel *telemetry.Telemetry) (*pgxpool.Pool, error) {
	if cfg.DatabaseSchema == "" {
		cfg.DatabaseSchema = name
	}
	pool, err := db.Open(ctx, cfg.DatabaseURL, cfg.DatabaseSchema, cfg.DBMaxConns, db.WithTracing(tel.TracerProvider))
	if err != nil {
		return nil, err
	}
	if err := Migrate(ctx, pool, migrations); err != nil {
		pool.Close()
		return nil, fmt.Errorf("migrate schema %s: %w", cfg.DatabaseSchema, err)
	}
	return pool, nil
}

// tables are the framework's own migrations, run in each sink's schema.
//
//go:embed migrations/*.sql
var tables embed.FS

// Migrate brings a sink's schema up to date: the framework's tables
// (handled_event, cancellation), versioned in sink_migrations, then the
// function's own migrations (dir "migrations" of migrations).
func Migrate(ctx context.Context, pool *pgxpool.Pool, migrations fs.FS) error {
	return db.Migrate(ctx, pool, db.Migrations{Table: "sink_migrations", FS: tables, Dir: "migrations"},
		db.Own(migrations, "migrations"))
}

// Database is what a sink function needs of its pool besides its store; a
// *pgxpool.Pool is one, tests pass a fake.
type Database interface {
	Ping(ctx context.Context) error
	Close()
}

// Function is a running sink function as the runtime sees it: its HTTP
// surface (the sink, pages and JSON API) on top of its database.
type Function struct {
	http.Handler
	db Database
}

// NewFunction pairs a sink function's routes with its database.
func NewFunction(routes http.Handler, db Database) *Function {
	return &Function{Handler: routes, db: db}
}

// Stop closes the pool. The runtime has stopped serving by then; Close
// waits for the connections still in use to come back.
func (f *Function) Stop(context.Context) error {
	f.db.Close()
	return nil
}

// Ready reports whether the database answers.
func (f *Function) Ready(ctx context.Context) (bool, error) {
	if err := f.db.Ping(ctx); err != nil {
		return false, fmt.Errorf("ping database: %w", err)
	}
	return true, nil
}

// Start does all a sink function does at start: Open its pool and schema,
// and serve Routes over the store of its projection.
func Start[R any](ctx context.Context, cfg Config, name string, migrations fs.FS, site Site, proj Projection[R],
	log *slog.Logger, tel *telemetry.Telemetry) (*Function, error) {
	pool, err := Open(ctx, cfg, name, migrations, log, tel)
	if err != nil {
		return nil, err
	}
	store := NewPostgres(pool, proj, WithRetention(cfg.retention()), WithGroupCommit(cfg.GroupCommit))
	routes, err := Routes[R](site, store, store, log, tel)
	if err != nil {
		pool.Close()
		return nil, err
	}
	return NewFunction(routes, pool), nil
}
