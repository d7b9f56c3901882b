package order

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mskafka/knative-functions/shared/db"
	"github.com/mskafka/knative-functions/shared/testenv"
)

// placing is one Place of a group test: its request and key, and its
// caller's context (Background when nil).
type placing struct {
	name string
	req  Request
	key  *CommandKey
	ctx  context.Context
}

type placedOrErr struct {
	res Placed
	err error
}

// placeGrouped places ps while the leader of s's group is held by a
// first order waiting for a key that another transaction claimed, so
// that they queue and go together into one group; then it lets the first
// go. It returns each placing's answer by name, and the first's.
func placeGrouped(t *testing.T, s *Store, pool *pgxpool.Pool, ps ...placing) (map[string]placedOrErr, placedOrErr) {
	t.Helper()
	ctx := t.Context()
	hold, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Rollback(ctx)
	held := CommandKey{"test", "held by another transaction"}
	if _, err := hold.Exec(ctx, `INSERT INTO command (source, id) VALUES ($1, $2)`, held.Source, held.ID); err != nil {
		t.Fatal(err)
	}
	var (
		mu      sync.Mutex
		answers = map[string]placedOrErr{}
		first   placedOrErr
		wg      sync.WaitGroup
	)
	wg.Go(func() { first.res, first.err = s.Place(ctx, validRequest(), &held) })
	testenv.Eventually(t, 10*time.Second, "the first order waiting for its key", func() bool {
		var waiting bool
		err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_locks WHERE locktype = 'transactionid' AND NOT granted)`).Scan(&waiting)
		return err == nil && waiting
	})
	for _, p := range ps {
		wg.Go(func() {
			pctx := p.ctx
			if pctx == nil {
				pctx = ctx
			}
			res, err := s.Place(pctx, p.req, p.key)
			mu.Lock()
			answers[p.name] = placedOrErr{res, err}
			mu.Unlock()
		})
	}
	testenv.Eventually(t, 10*time.Second, "the orders queued", func() bool { return s.group.Waiting() == len(ps) })
	// The other transaction gives up its key: the first order claims it.
	if err := hold.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	return answers, first
}

// transactions counts the transactions that wrote the orders ids.
func transactions(t *testing.T, pool *pgxpool.Pool, ids ...int64) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(t.Context(), `SELECT count(DISTINCT xmin::text) FROM orders WHERE id = ANY($1)`, ids).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func keyHeld(t *testing.T, pool *pgxpool.Pool, k CommandKey) bool {
	t.Helper()
	var held bool
	if err := pool.QueryRow(t.Context(), `SELECT EXISTS (SELECT FROM command WHERE source = $1 AND id = $2)`, k.Source, k.ID).Scan(&held); err != nil {
		t.Fatal(err)
	}
	return held
}

// Orders placed while a group commits share the next group's transaction,
// and each gets its own answer: a refused one (an unknown item, a key
// reused with another request) fails alone, a key repeated inside the
// group places one order and answers both with it.
func TestPostgresPlaceGroupShares(t *testing.T) {
	pool := testPool(t)
	s := NewStore(pool, WithGroupCommit(8))
	ctx := t.Context()
	used := &CommandKey{"test", "used"}
	before, err := s.Place(ctx, validRequest(), used)
	if err != nil {
		t.Fatal(err)
	}
	other := validRequest()
	other.Lines[0].Count = 3
	unknown := validRequest()
	unknown.Lines = append(unknown.Lines, RequestLine{ItemID: 99, Count: 1})
	bad := &CommandKey{"test", "unknown item"}
	twice := &CommandKey{"test", "twice"}
	answers, first := placeGrouped(t, s, pool,
		placing{name: "keyed", req: validRequest(), key: &CommandKey{"test", "keyed"}},
		placing{name: "no key", req: other},
		placing{name: "twice 1", req: other, key: twice},
		placing{name: "twice 2", req: other, key: twice},
		placing{name: "unknown item", req: unknown, key: bad},
		placing{name: "reused", req: other, key: used},
	)
	if first.err != nil {
		t.Fatalf("the first order: %v", first.err)
	}
	got := map[string]string{}
	for name, a := range answers {
		switch {
		case a.err != nil:
			got[name] = fmt.Sprintf("%T", a.err)
		case a.res.Repeated:
			got[name] = "repeated"
		default:
			got[name] = "placed"
		}
	}
	twiceFirst, twiceRepeat := "twice 1", "twice 2"
	if answers[twiceFirst].res.Repeated {
		twiceFirst, twiceRepeat = twiceRepeat, twiceFirst
	}
	want := map[string]string{"keyed": "placed", "no key": "placed", twiceFirst: "placed", twiceRepeat: "repeated",
		"unknown item": "*order.InvalidError", "reused": "*order.ReusedError"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("answers (-want +got):\n%s", diff)
	}
	if r := answers[twiceRepeat].res; r.Order.ID != answers[twiceFirst].res.Order.ID || r.Event.ID != answers[twiceFirst].res.Event.ID {
		t.Errorf("the repeat inside the group got order %d event %s, want the first's: %d %s",
			r.Order.ID, r.Event.ID, answers[twiceFirst].res.Order.ID, answers[twiceFirst].res.Event.ID)
	}
	if reused := (*ReusedError)(nil); !errors.As(answers["reused"].err, &reused) || reused.OrderID != before.Order.ID {
		t.Errorf("reused key: %v, want a ReusedError naming order %d", answers["reused"].err, before.Order.ID)
	}
	group := []int64{answers["keyed"].res.Order.ID, answers["no key"].res.Order.ID, answers[twiceFirst].res.Order.ID}
	if n := transactions(t, pool, group...); n != 1 {
		t.Errorf("the group's orders were written by %d transactions, want 1", n)
	}
	if n := transactions(t, pool, append(group, first.res.Order.ID)...); n != 2 {
		t.Errorf("the first order and the group's were written by %d transactions, want 2", n)
	}
	// Each order is stored as it was answered.
	for _, name := range []string{"keyed", "no key", twiceFirst} {
		a := answers[name].res
		o, err := s.Get(ctx, a.Order.ID)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(a.Order.Order, o.Order); diff != "" || o.EventID != a.Event.ID {
			t.Errorf("%s: stored order (-answered +stored):\n%s event %s, answered %s", name, diff, o.EventID, a.Event.ID)
		}
	}
	// The refused order's key was released with it.
	if keyHeld(t, pool, *bad) {
		t.Error("the refused order's key is held")
	}
	var orders int
	pool.QueryRow(ctx, `SELECT count(*) FROM orders`).Scan(&orders)
	if orders != 5 {
		t.Errorf("%d orders stored, want 5 (one before, the first, three in the group)", orders)
	}
}

// A group whose transaction fails (a value Postgres refuses) is placed
// again one order at a time: the failing order gets its own error, its
// neighbours are placed.
func TestPostgresPlaceGroupFailsAlone(t *testing.T) {
	pool := testPool(t)
	s := NewStore(pool, WithGroupCommit(8))
	answers, first := placeGrouped(t, s, pool,
		placing{name: "a", req: validRequest(), key: &CommandKey{"test", "a"}},
		placing{name: "refused by postgres", req: validRequest(), key: &CommandKey{"test", "nul \x00 byte"}},
		placing{name: "b", req: validRequest()},
	)
	if first.err != nil {
		t.Fatalf("the first order: %v", first.err)
	}
	if err := answers["refused by postgres"].err; !db.Permanent(err) {
		t.Errorf("the refused order: %v, want Postgres's data exception", err)
	}
	for _, name := range []string{"a", "b"} {
		if a := answers[name]; a.err != nil || a.res.Order.ID == 0 {
			t.Errorf("%s: %+v, %v; want placed", name, a.res.Order, a.err)
		}
	}
	if n := transactions(t, pool, answers["a"].res.Order.ID, answers["b"].res.Order.ID); n != 2 {
		t.Errorf("the neighbours were written by %d transactions, want 2 (each alone)", n)
	}
}

// A caller that goes while its order waits for a group is left out: its
// order is not placed. One that goes while its order is being placed (here
// alone, in its own goroutine, so it is answered when the work ends) gets
// context.Canceled; its order is placed, and a retry with its key finds it.
func TestPostgresPlaceGroupCancelled(t *testing.T) {
	pool := testPool(t)
	s := NewStore(pool, WithGroupCommit(8))
	ctx := t.Context()
	gone, cancel := context.WithCancel(ctx)
	cancel()
	goneKey := &CommandKey{"test", "gone before its group"}
	answers, _ := placeGrouped(t, s, pool,
		placing{name: "gone", req: validRequest(), key: goneKey, ctx: gone},
		placing{name: "stays", req: validRequest(), key: &CommandKey{"test", "stays"}},
	)
	if err := answers["gone"].err; !errors.Is(err, context.Canceled) {
		t.Errorf("gone: %v, want context.Canceled", err)
	}
	if answers["stays"].err != nil {
		t.Errorf("its neighbour: %v", answers["stays"].err)
	}
	if keyHeld(t, pool, *goneKey) {
		t.Error("the order of a caller gone before its group was placed")
	}

	// Gone while its order is placed: the placement waits for a key
	// another transaction holds.
	hold, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Rollback(ctx)
	key := &CommandKey{"test", "gone during its group"}
	if _, err := hold.Exec(ctx, `INSERT INTO command (source, id) VALUES ($1, $2)`, key.Source, key.ID); err != nil {
		t.Fatal(err)
	}
	during, cancel := context.WithCancel(ctx)
	done := make(chan error)
	go func() {
		_, err := s.Place(during, validRequest(), key)
		done <- err
	}()
	testenv.Eventually(t, 10*time.Second, "the order waiting for its key", func() bool {
		var waiting bool
		err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_locks WHERE locktype = 'transactionid' AND NOT granted)`).Scan(&waiting)
		return err == nil && waiting
	})
	cancel()
	hold.Rollback(ctx)
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("gone during its group: %v, want context.Canceled", err)
	}
	testenv.Eventually(t, 10*time.Second, "the order of the caller gone during its group placed", func() bool {
		return keyHeld(t, pool, *key)
	})
	again, err := s.Place(ctx, validRequest(), key)
	if err != nil || !again.Repeated {
		t.Errorf("retry with the key: %+v, %v; want the order placed while its caller was gone", again, err)
	}
	rows, _ := pool.Query(ctx, `SELECT id FROM orders`)
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil || len(ids) != 3 {
		t.Errorf("orders %v, %v; want 3 (the first, its neighbour, the one gone during its group)", ids, err)
	}
}
