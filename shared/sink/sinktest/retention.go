package sinktest

import (
	"net/http"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"

	"github.com/mskafka/knative-functions/shared/db"
	"github.com/mskafka/knative-functions/shared/events"
	"github.com/mskafka/knative-functions/shared/sink"
)

// testRetention keeps handled events an hour, deleting two rows a batch so
// that a round takes several.
var testRetention = sink.Retention{Handled: time.Hour, Batches: db.Batches{Rows: 2, Time: time.Minute}}

// A PingSource's ping deletes the records of the events handled before the
// retention, in batches, and keeps the others: a redelivery of a kept event
// is still a duplicate, and the records the events made stay.
func retention(f *fixture) {
	for i, id := range []string{"old-1", "old-2", "old-3", "new-1"} {
		f.want(sink.Stored)(f.placed(id, f.withOrder(int64(100+i), nil)))
	}
	// Two cancellations of orders not here: one recorded before the
	// retention, one within it.
	f.want(sink.Stored)(f.cancelled("cancel-old", events.Cancelled{ID: 200}))
	f.want(sink.Stored)(f.cancelled("cancel-new", events.Cancelled{ID: 201}))
	for _, age := range []string{
		`UPDATE handled_event SET handled_at = now() - interval '2 hours' WHERE id LIKE '%old%'`,
		`UPDATE cancellation SET recorded_at = now() - interval '2 hours' WHERE order_id = 200`,
	} {
		if _, err := f.pool.Exec(f.t.Context(), age); err != nil {
			f.t.Fatal(err)
		}
	}
	w := f.post(events.TypePing, "ping-1", []byte(`{"delete":"handled events past their retention"}`))
	if w.Code != http.StatusOK {
		f.t.Fatalf("ping = %d %s", w.Code, w.Body)
	}
	if diff := cmp.Diff(map[string]any{"deleted": map[string]any{"handledEvents": 4.0, "cancellations": 1.0}}, decode(f.t, w.Body.Bytes())); diff != "" {
		f.t.Errorf("ping answer (-want +got):\n%s", diff)
	}
	rows, _ := f.pool.Query(f.t.Context(), `SELECT id FROM handled_event ORDER BY id`)
	left, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		f.t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"cancel-new", "new-1"}, left); diff != "" {
		f.t.Errorf("handled events left (-want +got):\n%s", diff)
	}
	rows, _ = f.pool.Query(f.t.Context(), `SELECT order_id FROM cancellation`)
	cancellations, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		f.t.Fatal(err)
	}
	if diff := cmp.Diff([]int64{201}, cancellations); diff != "" {
		f.t.Errorf("cancellations left (-want +got):\n%s", diff)
	}
	if got := len(f.records()); got != 4 {
		f.t.Errorf("%d records after retention, want the 4 the events made", got)
	}
	f.want(sink.Duplicate)(f.placed("new-1", f.withOrder(103, nil)))
	// The ping is no event to record.
	if n := f.handled(); n != 2 {
		f.t.Errorf("%d handled events after the ping, want 2", n)
	}
}
