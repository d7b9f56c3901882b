package sink_test

import (
	"testing"
	"testing/fstest"

	"github.com/mskafka/knative-functions/shared/sink"
	"github.com/mskafka/knative-functions/shared/testenv"
)

// The framework's tables come from its own migration, on a fresh schema
// and on one whose sink migrations created them before (issue 17): the
// old schema keeps its versions and gains nothing twice.
func TestMigratePostgres(t *testing.T) {
	const handled = `CREATE TABLE handled_event (source text NOT NULL, id text NOT NULL, type text NOT NULL,
		handled_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (source, id));
		CREATE TABLE cancellation (order_id bigint PRIMARY KEY, updated timestamptz, recorded_at timestamptz NOT NULL DEFAULT now());`
	old := fstest.MapFS{
		"migrations/001_init.sql":   {Data: []byte(`CREATE TABLE rec (order_id bigint PRIMARY KEY);` + handled)},
		"migrations/002_digest.sql": {Data: []byte(`ALTER TABLE handled_event ADD COLUMN digest bytea; ALTER TABLE rec ADD COLUMN digest bytea;`)},
	}
	now := fstest.MapFS{
		"migrations/001_init.sql":   {Data: []byte(`CREATE TABLE rec (order_id bigint PRIMARY KEY);`)},
		"migrations/002_digest.sql": {Data: []byte(`ALTER TABLE rec ADD COLUMN digest bytea;`)},
	}
	for name, before := range map[string]fstest.MapFS{"fresh": now, "migrated by the sink before": old} {
		t.Run(name, func(t *testing.T) {
			pool := testenv.Pool(t, "sinkmigrate", before)
			if err := sink.Migrate(t.Context(), pool, now); err != nil {
				t.Fatal(err)
			}
			if err := sink.Migrate(t.Context(), pool, now); err != nil {
				t.Fatalf("again: %v", err)
			}
			_, err := pool.Exec(t.Context(), `INSERT INTO handled_event (source, id, type, digest) VALUES ('s', '1', 't', '\x01');
				INSERT INTO cancellation (order_id) VALUES (1); INSERT INTO rec (order_id, digest) VALUES (1, '\x01')`)
			if err != nil {
				t.Fatal(err)
			}
			var versions int
			if err := pool.QueryRow(t.Context(), `SELECT (SELECT count(*) FROM schema_migrations) * 10 + (SELECT count(*) FROM sink_migrations)`).Scan(&versions); err != nil || versions != 23 {
				t.Errorf("versions %d (%v), want 2 of the function's and 3 of the framework's", versions, err)
			}
		})
	}
}
