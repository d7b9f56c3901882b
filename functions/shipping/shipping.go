// Package shipping is the shipping function: a CloudEvents sink that turns
// each placed order into a shipment in its own Postgres schema, marks it
// cancelled when the order is cancelled, and shows the shipments as HTML
// pages and JSON.
package shipping

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/kelseyhightower/envconfig"

	"github.com/mskafka/knative-functions/shared/db"
	"github.com/mskafka/knative-functions/shared/telemetry"
)

// The migrations and page templates travel inside the binary, so the image
// needs no files beside it. (go:embed needs package variables; they are
// never written.)
var (
	//go:embed migrations/*.sql
	migrations embed.FS
	//go:embed templates/*.html
	templates embed.FS
)

// Config is the shipping function's configuration, read from the environment.
type Config struct {
	DatabaseURL    string `envconfig:"DATABASE_URL" required:"true" desc:"Postgres URL of shipping's own role"`
	DatabaseSchema string `envconfig:"DATABASE_SCHEMA" default:"shipping" desc:"schema that holds shipping's tables"`
	DBMaxConns     int32  `envconfig:"DB_MAX_CONNS" default:"4" desc:"most connections to Postgres at once"`
}

func (c Config) validate() error {
	var errs []error
	// envconfig's required accepts a variable set to nothing, and pgx would
	// read an empty URL as "the defaults": refuse it here.
	if c.DatabaseURL == "" {
		errs = append(errs, errors.New("DATABASE_URL must not be empty"))
	}
	if c.DatabaseSchema == "" {
		errs = append(errs, errors.New("DATABASE_SCHEMA must not be empty"))
	}
	if c.DBMaxConns < 1 {
		errs = append(errs, fmt.Errorf("DB_MAX_CONNS=%d: want at least 1", c.DBMaxConns))
	}
	return errors.Join(errs...)
}

// Function is a running shipping function.
type Function struct {
	mux *http.ServeMux
	db  database
}

// database is what the function needs of its pool beyond the store.
type database interface {
	Ping(ctx context.Context) error
	Close()
}

// Start reads the configuration, opens the pool on shipping's schema and
// brings the schema up to date.
//
// tel traces its Postgres calls; the sink's spans and metrics come with
// each request (see sink.Handler).
func Start(ctx context.Context, log *slog.Logger, tel *telemetry.Telemetry) (*Function, error) {
	var cfg Config
	if err := envconfig.Process("", &cfg); err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	pool, err := db.Open(ctx, cfg.DatabaseURL, cfg.DatabaseSchema, cfg.DBMaxConns, db.WithTracing(tel.TracerProvider))
	if err != nil {
		return nil, err
	}
	// Logged from the parsed URL, so the password never reaches the log.
	cc := pool.Config().ConnConfig
	log.Info("configuration", "db_host", cc.Host, "db_port", cc.Port, "db_name", cc.Database,
		"db_user", cc.User, "db_schema", cfg.DatabaseSchema, "db_max_conns", cfg.DBMaxConns)
	if err := db.Migrate(ctx, pool, migrations, "migrations"); err != nil {
		pool.Close()
		return nil, fmt.Errorf("migrate schema %s: %w", cfg.DatabaseSchema, err)
	}
	f, err := newFunction(log, NewStore(pool), pool)
	if err != nil {
		pool.Close()
		return nil, err
	}
	return f, nil
}

// newFunction wires the HTTP surface to its dependencies; tests call it
// with fakes.
func newFunction(log *slog.Logger, store shipments, pool database) (*Function, error) {
	h, err := newHandlers(log, store)
	if err != nil {
		return nil, err
	}
	return &Function{mux: h.routes(), db: pool}, nil
}

// ServeHTTP serves the sink, the pages and the JSON API.
func (f *Function) ServeHTTP(w http.ResponseWriter, r *http.Request) { f.mux.ServeHTTP(w, r) }

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
