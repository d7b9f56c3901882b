// Package dbtest gives tests and benchmarks a fresh schema in the real
// Postgres that `make test` starts.
package dbtest

import (
	"context"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mskafka/knative-functions/shared/db"
)

// URL returns the administrator's URL in DATABASE_URL. Without it the test
// is skipped, unless REQUIRE_SERVERS=1 (make test, CI), where it fails.
func URL(tb testing.TB) string {
	tb.Helper()
	url := os.Getenv("DATABASE_URL")
	if url == "" {
		if os.Getenv("REQUIRE_SERVERS") == "1" {
			tb.Fatal("DATABASE_URL is not set, and REQUIRE_SERVERS=1 forbids skipping")
		}
		tb.Skip("needs DATABASE_URL; run `make test`")
	}
	return url
}

// Schema makes a fresh, empty schema named after prefix and drops it when
// the test ends.
func Schema(tb testing.TB, prefix string) (url, schema string) {
	tb.Helper()
	url = URL(tb)
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
	if err := db.Migrate(context.Background(), pool, migrations, "migrations"); err != nil {
		tb.Fatal(err)
	}
	return pool
}
