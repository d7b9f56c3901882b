package testenv

import (
	"context"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net/url"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mskafka/knative-functions/shared/db"
)

// PostgresURL returns the administrator's URL in DATABASE_URL.
func PostgresURL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv(EnvDatabase)
	if u == "" {
		Missing(tb, EnvDatabase, "run `make test`, or infra/local/postgres.sh start and set it to its url")
	}
	return u
}

// Schema makes a fresh, empty schema named after prefix and drops it when
// the test ends.
func Schema(tb testing.TB, prefix string) (url, schema string) {
	tb.Helper()
	url = PostgresURL(tb)
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, url)
	if err != nil {
		tb.Fatal(err)
	}
	schema = fmt.Sprintf("%s_test_%016x", prefix, rand.Uint64())
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if _, err := admin.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			tb.Errorf("drop schema %s: %v", schema, err)
		}
		admin.Close(ctx)
	})
	return url, schema
}

// Pool returns a pool on a fresh schema with the migrations in the directory
// "migrations" of migrations applied.
func Pool(tb testing.TB, prefix string, migrations fs.FS) *pgxpool.Pool {
	tb.Helper()
	url, schema := Schema(tb, prefix)
	pool, err := db.Open(context.Background(), url, schema, 16)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(pool.Close)
	if err := db.Migrate(context.Background(), pool, db.Own(migrations, "migrations")); err != nil {
		tb.Fatal(err)
	}
	return pool
}

// Database makes a fresh, empty database for a whole stack and returns the
// administrator's URL of it. It is left behind for a look after a failure;
// its name says which run made it.
func Database(tb testing.TB, prefix string) string {
	tb.Helper()
	adminURL := PostgresURL(tb)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close(ctx)
	name := fmt.Sprintf("%s_%016x", prefix, rand.Uint64())
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		tb.Fatal(err)
	}
	u, err := url.Parse(adminURL)
	if err != nil {
		tb.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}
