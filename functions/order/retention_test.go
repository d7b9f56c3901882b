package order

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"

	"github.com/mskafka/knative-functions/shared/db"
)

// TestPostgresPrune: keys received and outbox rows sent before their
// retention go, in batches; newer ones and unsent rows stay, whatever
// their age; the order and its page stay.
func TestPostgresPrune(t *testing.T) {
	pool := testPool(t)
	s := NewStore(pool)
	ctx := context.Background()
	kafka := &fakeSender{}
	relay := NewRelay(pool, "order", time.Hour, func() (Sender, error) { return kafka, nil }, slog.New(slog.NewTextHandler(io.Discard, nil)))

	var ids []int64
	for _, key := range []string{"k1", "k2", "k3", "k4"} {
		p, err := s.Place(ctx, validRequest(), &CommandKey{ID: key})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, p.Order.ID)
	}
	relay.drain(ctx)
	unsent, err := s.Place(ctx, validRequest(), &CommandKey{ID: "k5"})
	if err != nil {
		t.Fatal(err)
	}
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := pool.Exec(ctx, sql, args...); err != nil {
			t.Fatal(err)
		}
	}
	// k1–k3 and k5 are old; the rows of k1–k3 were sent long ago, k5's never.
	exec(`UPDATE command SET received = now() - interval '3 hours' WHERE id <> 'k4'`)
	exec(`UPDATE outbox SET sent_at = now() - interval '3 hours' WHERE order_id = ANY($1)`, ids[:3])
	exec(`UPDATE outbox SET created = now() - interval '3 hours' WHERE order_id = $1`, unsent.Order.ID)

	r := Retention{Keys: time.Hour, Outbox: 2 * time.Hour, Batches: db.Batches{Rows: 2, Time: time.Minute}}
	got, err := s.Prune(ctx, r, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(Pruned{Keys: 4, Outbox: 3}, got); diff != "" {
		t.Errorf("pruned (-want +got):\n%s", diff)
	}
	rows, _ := pool.Query(ctx, `SELECT id FROM command ORDER BY id`)
	keys, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"k4"}, keys); diff != "" {
		t.Errorf("keys left (-want +got):\n%s", diff)
	}
	rows, _ = pool.Query(ctx, `SELECT order_id FROM outbox ORDER BY seq`)
	left, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int64{ids[3], unsent.Order.ID}, left); diff != "" {
		t.Errorf("outbox rows left, by order (-want +got):\n%s", diff)
	}
	o, err := s.Get(ctx, ids[0])
	if err != nil || o.EventID != "" || o.Published != nil {
		t.Errorf("order with its outbox row deleted: %+v, %v", o, err)
	}
	// A key past its retention is a new command; a kept one a repeat.
	if p, err := s.Place(ctx, validRequest(), &CommandKey{ID: "k1"}); err != nil || p.Repeated || p.Order.ID == ids[0] {
		t.Errorf("k1 after its retention: %+v, %v; want a new order", p, err)
	}
	if p, err := s.Place(ctx, validRequest(), &CommandKey{ID: "k4"}); err != nil || !p.Repeated || p.Order.ID != ids[3] {
		t.Errorf("k4 within its retention: %+v, %v; want order %d repeated", p, err, ids[3])
	}
}
