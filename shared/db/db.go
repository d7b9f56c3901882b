// Package db opens a function's connection pool on its own Postgres schema
// and applies the function's versioned migrations.
package db

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/trace"
)

// Option changes how Open builds a pool.
type Option func(*pgxpool.Config)

// WithTracing makes the pool trace every statement, COPY and batch run
// under a recording span as a client span of tp (see tracer).
func WithTracing(tp trace.TracerProvider) Option {
	return func(c *pgxpool.Config) {
		c.ConnConfig.Tracer = newTracer(tp, c.ConnConfig.RuntimeParams["search_path"])
	}
}

// Open builds a pool whose connections work in schema (and nothing else on
// the search path), so a function's SQL never names its schema.
//
// The pool connects lazily: a function that scales from zero answers its
// readiness probe as soon as the first query succeeds, not after a warm-up.
func Open(ctx context.Context, url, schema string, maxConns int32, opts ...Option) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse database url: %w", err)
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
	cfg.ConnConfig.RuntimeParams["application_name"] = schema
	if maxConns > 0 {
		cfg.MaxConns = maxConns
	}
	for _, o := range opts {
		o(cfg)
	}
	cfg.MaxConnIdleTime = time.Minute
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open pool: %w", err)
	}
	return pool, nil
}

// CheckSettings refuses the database settings every function takes from its
// environment when they would start it on the wrong database: envconfig's
// required accepts a variable set to nothing, and pgx would read an empty
// URL as "the defaults".
func CheckSettings(url string, maxConns int32) error {
	var errs []error
	if url == "" {
		errs = append(errs, errors.New("DATABASE_URL must not be empty"))
	} else if _, err := pgxpool.ParseConfig(url); err != nil {
		errs = append(errs, fmt.Errorf("DATABASE_URL: %w", err)) // pgx masks the password in its message
	}
	if maxConns < 1 {
		errs = append(errs, fmt.Errorf("DB_MAX_CONNS=%d: want at least 1", maxConns))
	}
	return errors.Join(errs...)
}

// Migrations are one owner's versioned migrations: the files NNN_name.sql
// in Dir of FS, their applied versions recorded in Table.
type Migrations struct {
	Table string
	FS    fs.FS
	Dir   string
}

// Own are a function's own migrations, the files in dir of migrations,
// recorded in schema_migrations. A framework that owns tables in a
// function's schema (shared/sink) records its own versions in a table of
// its own, beside them.
func Own(migrations fs.FS, dir string) Migrations {
	return Migrations{Table: "schema_migrations", FS: migrations, Dir: dir}
}

// Migrate brings the schema up to date with each set, in the order given:
// each missing migration in order, in its own transaction, its version
// recorded in the set's table. An advisory lock serialises instances that
// start at the same moment (Knative may start several at once).
func Migrate(ctx context.Context, pool *pgxpool.Pool, sets ...Migrations) error {
	steps := make([][]step, len(sets))
	for i, m := range sets {
		var err error
		if steps[i], err = versions(m.FS, m.Dir); err != nil {
			return err
		}
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Release()
	// Every start but the first finds the schema up to date: one round trip
	// for all the sets (simple protocol: no prepare for a statement run
	// once) and no lock, since migrations only ever add. This is on the
	// cold start's path.
	if current, err := schemaVersions(ctx, conn, sets); err == nil && upToDate(current, steps) {
		return nil
	}
	// The lock key is per schema, so functions sharing a database don't wait on each other.
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(hashtext(current_schema()))`); err != nil {
		return fmt.Errorf("lock migrations: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(hashtext(current_schema()))`)
	for i, m := range sets {
		if err := m.apply(ctx, conn, steps[i]); err != nil {
			return err
		}
	}
	return nil
}

// apply applies the steps of m not yet recorded in its table, which it
// creates if need be. The caller holds the migration lock.
func (m Migrations) apply(ctx context.Context, conn *pgxpool.Conn, steps []step) error {
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+pgx.Identifier{m.Table}.Sanitize()+` (
		version int PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return fmt.Errorf("create %s: %w", m.Table, err)
	}
	current, err := schemaVersions(ctx, conn, []Migrations{m})
	if err != nil {
		return err
	}
	for _, s := range steps {
		if s.version > current[0] {
			if err := s.apply(ctx, conn, m.Table, m.FS); err != nil {
				return err
			}
		}
	}
	return nil
}

// upToDate reports whether each set's highest applied version is that of
// its last step.
func upToDate(current []int, steps [][]step) bool {
	for i, s := range steps {
		if len(s) > 0 && current[i] < s[len(s)-1].version {
			return false
		}
	}
	return true
}

// step is one migration file and its version.
type step struct {
	version int
	file    string
}

// versions lists the migrations of dir, by version.
func versions(migrations fs.FS, dir string) ([]step, error) {
	files, err := fs.Glob(migrations, path.Join(dir, "*.sql"))
	if err != nil {
		return nil, fmt.Errorf("list migrations: %w", err)
	}
	steps := make([]step, 0, len(files))
	for _, f := range files {
		num, _, ok := strings.Cut(path.Base(f), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("migration %s: name must start with a version number", f)
		}
		steps = append(steps, step{v, f})
	}
	sort.Slice(steps, func(i, j int) bool { return steps[i].version < steps[j].version })
	return steps, nil
}

// apply runs one migration and records its version, in one transaction.
func (s step) apply(ctx context.Context, conn *pgxpool.Conn, table string, migrations fs.FS) error {
	sql, err := fs.ReadFile(migrations, s.file)
	if err != nil {
		return fmt.Errorf("read %s: %w", s.file, err)
	}
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, string(sql)); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO `+pgx.Identifier{table}.Sanitize()+` (version) VALUES ($1)`, s.version)
		return err
	})
	if err != nil {
		return fmt.Errorf("migration %s: %w", s.file, err)
	}
	return nil
}

// schemaVersions reads the highest migration applied of each set, in one
// query; an error when a set's table does not exist yet.
func schemaVersions(ctx context.Context, conn *pgxpool.Conn, sets []Migrations) ([]int, error) {
	cols := make([]string, len(sets))
	current := make([]int, len(sets))
	dest := make([]any, len(sets))
	for i, m := range sets {
		cols[i] = `(SELECT coalesce(max(version), 0) FROM ` + pgx.Identifier{m.Table}.Sanitize() + `)`
		dest[i] = &current[i]
	}
	err := conn.QueryRow(ctx, `SELECT `+strings.Join(cols, ", "), pgx.QueryExecModeSimpleProtocol).Scan(dest...)
	if err != nil {
		return nil, fmt.Errorf("read schema versions: %w", err)
	}
	return current, nil
}

// Provision makes sure that each named role exists, can log in, and owns a
// schema of the same name that only it can use. It runs with an
// administrator's connection: locally the stack runner calls it, on a
// cluster an init job does the same in SQL.
func Provision(ctx context.Context, adminURL string, roles ...string) error {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("connect as admin: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	for _, r := range roles {
		id := pgx.Identifier{r}.Sanitize()
		var exists bool
		if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)`, r).Scan(&exists); err != nil {
			return fmt.Errorf("look up role %s: %w", r, err)
		}
		stmts := []string{
			`CREATE SCHEMA IF NOT EXISTS ` + id + ` AUTHORIZATION ` + id,
			`REVOKE ALL ON SCHEMA ` + id + ` FROM PUBLIC`,
		}
		if !exists {
			stmts = append([]string{`CREATE ROLE ` + id + ` LOGIN`}, stmts...)
		}
		for _, s := range stmts {
			if _, err := conn.Exec(ctx, s); err != nil {
				return fmt.Errorf("provision %s: %s: %w", r, s, err)
			}
		}
	}
	// Nobody but the owners may create things in public.
	if _, err := conn.Exec(ctx, `REVOKE CREATE ON SCHEMA public FROM PUBLIC`); err != nil {
		return fmt.Errorf("lock down public schema: %w", err)
	}
	return nil
}

// WithUser returns url with its user (and password) replaced, so each
// function connects as its own role.
func WithUser(rawURL, user, password string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", fmt.Errorf("database url must be a postgres:// URL")
	}
	if password != "" {
		u.User = url.UserPassword(user, password)
	} else {
		u.User = url.User(user)
	}
	return u.String(), nil
}

// Redact returns url without its password, for logging.
func Redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "(unparsable url)"
	}
	return u.Redacted()
}

// Permanent tells whether Postgres refused a statement for a value it can
// never store, so that retrying cannot help: a data exception (SQLSTATE
// class 22: out of range, invalid encoding, a NUL in text, …), a NOT NULL
// or CHECK violation, or a value over a limit such as an index row's size.
// Unique and foreign key violations are not among them: a concurrent
// transaction may have caused them, and a retry sees its outcome.
func Permanent(err error) bool {
	var pg *pgconn.PgError
	if !errors.As(err, &pg) {
		return false
	}
	switch pg.Code {
	case "23502", "23514", "54000": // not_null_violation, check_violation, program_limit_exceeded
		return true
	}
	return strings.HasPrefix(pg.Code, "22")
}
