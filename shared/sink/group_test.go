package sink

import (
	"context"
	"fmt"
	"testing"
	"testing/fstest"

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
	placed := func(id int64, n int, event string) *pending {
		row := Row{Columns: []Column{Col("order_id", id), Col("n", n)}, Lines: "rec_line",
			LineColumns: []Column{LineColumn("count", "int[]", []int{1, 2}, func(c int) int { return c })}}
		return &pending{ctx: context.Background(), done: make(chan struct{}), p: &placement{table: "rec", orderID: id, row: row,
			digest: Digest(fmt.Sprint(id, n)), ref: Ref{Source: events.SourceOrder, ID: event, Type: events.TypePlaced}}}
	}
	g := &group{pool: pool, max: 8}
	batch := []*pending{placed(3, 1, "e3"), placed(1, 1, "e1"), placed(2, -1, "e2"), placed(1, 1, "e1"), placed(4, 5, "e4")}
	g.commit(context.Background(), batch)

	var outcomes []string
	for _, w := range batch {
		<-w.done
		o := string(w.outcome)
		if w.err != nil {
			o = "error"
		}
		outcomes = append(outcomes, w.p.ref.ID+" "+o)
	}
	// The batch is sorted by order id for its locks; e1 comes twice (a
	// redelivery while the first was in flight): stored once.
	want := []string{"e1 stored", "e1 duplicate", "e2 error", "e3 stored", "e4 stored"}
	if diff := cmp.Diff(want, outcomes); diff != "" {
		t.Errorf("outcomes (-want +got):\n%s", diff)
	}
	rows, _ := pool.Query(t.Context(), `SELECT order_id FROM rec ORDER BY order_id`)
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int64{1, 3, 4}, ids); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
}
