package sink

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"

	"github.com/mskafka/knative-functions/shared/events"
	"github.com/mskafka/knative-functions/shared/testenv"
)

// A group whose transaction fails (one placement's statement fails) is
// retried one placement at a time: the failing one gets its error, its
// neighbours are stored, and each is answered with its own outcome.
func TestPostgresGroupFailsAlone(t *testing.T) {
	migrations := fstest.MapFS{"migrations/001_rec.sql": {Data: []byte(`
		CREATE TABLE rec (order_id bigint PRIMARY KEY, n int NOT NULL CHECK (n > 0), cancelled boolean NOT NULL DEFAULT false,
			order_updated timestamptz, created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz, digest bytea);
		CREATE TABLE rec_line (order_id bigint NOT NULL REFERENCES rec, line_no int NOT NULL, count int NOT NULL,
			PRIMARY KEY (order_id, line_no));`)}}
	pool := testenv.Pool(t, "sinkgroup", migrations)
	if err := Migrate(t.Context(), pool, migrations); err != nil {
		t.Fatal(err)
	}
	placed := func(id int64, n int, event string) *placement {
		row := Row{Columns: []Column{Col("order_id", id), Col("n", n)}, Lines: "rec_line",
			LineColumns: []Column{LineColumn("count", "int[]", []int{1, 2}, func(c int) int { return c })}}
		return &placement{table: "rec", orderID: id, row: row,
			digest: Digest(fmt.Sprint(id, n)), ref: Ref{Source: events.SourceOrder, ID: event, Type: events.TypePlaced}}
	}
	g := newPlacements(pool, 8)
	ctx := t.Context()
	// The first placement holds the leader, waiting for its order's lock,
	// while the others queue: they go together into the next group.
	hold, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Rollback(ctx)
	if _, err := hold.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext(current_schema()), hashtext('100'))`); err != nil {
		t.Fatal(err)
	}
	batch := []*placement{placed(3, 1, "e3"), placed(1, 1, "e1"), placed(2, -1, "e2"), placed(1, 1, "e1"), placed(4, 5, "e4")}
	outcomes := make([]string, len(batch))
	var wg sync.WaitGroup
	do := func(i int, p *placement) {
		o, err := g.Do(ctx, p)
		outcomes[i] = p.ref.ID + " " + string(o)
		if err != nil {
			outcomes[i] = p.ref.ID + " error"
		}
	}
	wg.Go(func() { g.Do(ctx, placed(100, 1, "e100")) })
	testenv.Eventually(t, 10*time.Second, "the first placement waiting for its lock", func() bool {
		var waiting bool
		err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_locks WHERE locktype = 'advisory' AND NOT granted)`).Scan(&waiting)
		return err == nil && waiting
	})
	for i, p := range batch {
		wg.Go(func() { do(i, p) })
	}
	testenv.Eventually(t, 10*time.Second, "the placements queued", func() bool { return g.Waiting() == len(batch) })
	if err := hold.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	wg.Wait()

	// e1 comes twice (a redelivery while the first was in flight): stored
	// once, whichever comes first; e2 fails the group, and only itself.
	slices.Sort(outcomes)
	want := []string{"e1 duplicate", "e1 stored", "e2 error", "e3 stored", "e4 stored"}
	if diff := cmp.Diff(want, outcomes); diff != "" {
		t.Errorf("outcomes (-want +got):\n%s", diff)
	}
	rows, _ := pool.Query(t.Context(), `SELECT order_id FROM rec ORDER BY order_id`)
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int64{1, 3, 4, 100}, ids); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
}
