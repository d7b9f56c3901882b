package main

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mskafka/knative-functions/shared/money"
	"github.com/mskafka/knative-functions/tools/internal/orderapi"
	"github.com/mskafka/knative-functions/tools/internal/wait"
)

// runDrill places orders while d's fault comes and goes, then waits for the
// system to converge and checks it.
func runDrill(ctx context.Context, e *env, d drill, prefix string, step func(string, ...any)) (row, error) {
	r := row{Drill: d.name}
	dlFrom, err := e.deadLetterEnd()
	if err != nil {
		return r, err
	}

	l := &load{e: e, prefix: prefix}
	loadCtx, stopLoad := context.WithCancel(ctx)
	loaded := make(chan struct{})
	go func() { l.run(loadCtx); close(loaded) }()
	defer func() { stopLoad(); <-loaded }()

	if err := sleep(ctx, e.cfg.Warmup); err != nil {
		return r, err
	}
	step("  inject (%d orders placed so far)", len(l.snapshot()))
	injected := time.Now()
	if err := d.inject(ctx, e); err != nil {
		return r, fmt.Errorf("inject: %w", err)
	}
	if d.cancel {
		step("  cancelling %d orders during the fault", l.cancelSome(ctx))
	}
	if err := sleep(ctx, time.Until(injected.Add(d.hold))); err != nil {
		return r, err
	}
	if d.cancel {
		step("  cancelling %d more orders during the fault", l.cancelSome(ctx))
	}
	// Convergence counts from the heal, or from the inject for a fault
	// that ends by itself.
	healed := injected
	if d.heal != nil {
		step("  heal")
		if err := d.heal(ctx, e); err != nil {
			return r, fmt.Errorf("heal: %w", err)
		}
		healed = time.Now()
	}
	if err := sleep(ctx, e.cfg.Tail); err != nil {
		return r, err
	}
	stopLoad()
	<-loaded
	l.cancels.Wait()
	answers := l.snapshot()
	step("  load done: %d requests; waiting for convergence (at most %v from the heal)", len(answers), d.converge)

	c := newCheck(e, answers, d.poison, dlFrom)
	r.Converged = c.converge(ctx, healed.Add(d.converge))
	r.Seconds = time.Since(healed).Seconds()
	if err := c.exactSet(ctx, prefix); err != nil {
		return r, err
	}
	c.fill(&r)
	return r, nil
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// check holds what one drill's checks found.
type check struct {
	e      *env
	poison []byte
	dlFrom int64

	orders map[int64]*state // the requests answered 201, by order id
	others []answer         // the rest: given up, or refused

	backlog     int64
	deadLetters [][]byte
	doubled     []string // keys with more than one stored order
	phantom     []string // stored orders never answered 201: their keys
	lastErr     error    // of the last round that could not read Postgres
}

// state is what the checks saw of one accepted order.
type state struct {
	a                 answer
	shipped, invoiced bool   // present and right
	whole             bool   // and cancelled as it should be
	why               string // what is wrong, while not whole
}

func newCheck(e *env, answers []answer, poison []byte, dlFrom int64) *check {
	c := &check{e: e, poison: poison, dlFrom: dlFrom, orders: map[int64]*state{}}
	for _, a := range answers {
		if a.accepted() {
			c.orders[a.ID] = &state{a: a}
		} else {
			c.others = append(c.others, a)
		}
	}
	return c
}

// converge polls until every accepted order has its shipment and invoice,
// right in content and cancellation, the outbox is empty and a poison
// record is dead-lettered, or until deadline.
func (c *check) converge(ctx context.Context, deadline time.Time) bool {
	err := wait.Until(ctx, time.Until(deadline), time.Second, func(ctx context.Context) (bool, error) {
		c.poll(ctx, false)
		return len(c.pending()) == 0 && c.backlog == 0 && (c.poison == nil || c.poisonDeadLettered() >= 2), nil
	})
	if err != nil {
		c.poll(ctx, true) // once more, asking the API about every order left, for the reasons
	}
	return err == nil
}

// pending are the accepted orders not yet whole.
func (c *check) pending() map[int64]*state {
	p := map[int64]*state{}
	for id, s := range c.orders {
		if !s.whole {
			p[id] = s
		}
	}
	return p
}

// poll asks the public APIs about the pending orders. To spare a busy
// machine it asks only about those whose shipment and invoice Postgres
// already holds, as expected cancelled or not, unless all is set.
func (c *check) poll(ctx context.Context, all bool) {
	pending := c.pending()
	cancelled, ready, err := c.inDB(ctx, pending)
	if err != nil {
		c.lastErr = err // Postgres may be restarting: ask again next round
		return
	}
	var wg sync.WaitGroup
	slots := make(chan struct{}, 8)
	for id, s := range pending {
		if !all && !ready[id] {
			s.why = "not yet in both sinks' tables; "
			continue
		}
		wg.Go(func() {
			slots <- struct{}{}
			defer func() { <-slots }()
			want := cancelled[id] || s.a.cancelled
			shipped, why1 := c.record(ctx, "shipment", "/shipping/api/shipments/", s.a, want)
			invoiced, why2 := c.record(ctx, "invoice", "/invoicing/api/invoices/", s.a, want)
			s.shipped, s.invoiced, s.why = shipped, invoiced, why1+why2
			if s.a.cancelled && !cancelled[id] {
				s.why += "cancel answered 200 but the order is not cancelled; "
			}
			s.whole = shipped && invoiced && s.why == ""
		})
	}
	wg.Wait()
	if err := c.e.db.QueryRow(ctx, `SELECT count(*) FROM orders.outbox WHERE sent_at IS NULL`).Scan(&c.backlog); err != nil {
		c.backlog = -1
	}
	if c.poison != nil {
		// Only those added since the last poll are read.
		if values, err := c.e.deadLetters(c.dlFrom + int64(len(c.deadLetters))); err == nil {
			c.deadLetters = append(c.deadLetters, values...)
		}
	}
}

// inDB returns which pending orders Postgres holds as cancelled (a DELETE
// whose answer was lost may still have cancelled one), and which have a
// shipment and an invoice there, both cancelled as expected.
func (c *check) inDB(ctx context.Context, pending map[int64]*state) (cancelled, ready map[int64]bool, err error) {
	rows, err := c.e.db.Query(ctx, `SELECT o.id, o.status = 'cancelled', s.cancelled, i.cancelled FROM orders.orders o
		LEFT JOIN shipping.shipment s ON s.order_id = o.id LEFT JOIN invoicing.invoice i ON i.order_id = o.id
		WHERE o.id = ANY($1)`, slices.Collect(maps.Keys(pending)))
	if err != nil {
		return nil, nil, fmt.Errorf("read orders, shipments and invoices: %w", err)
	}
	cancelled, ready = map[int64]bool{}, map[int64]bool{}
	var id int64
	var orderCancel bool
	var shipCancel, invCancel *bool
	_, err = pgx.ForEachRow(rows, []any{&id, &orderCancel, &shipCancel, &invCancel}, func() error {
		want := orderCancel || pending[id].a.cancelled
		cancelled[id] = orderCancel
		ready[id] = shipCancel != nil && invCancel != nil && *shipCancel == want && *invCancel == want
		return nil
	})
	return cancelled, ready, err
}

// record checks a's shipment or invoice, read at path+id: its order, the
// street its key names (a shipment's shipping address, an invoice's
// billing address), its total (an invoice's), whether it is cancelled.
func (c *check) record(ctx context.Context, what, path string, a answer, cancelled bool) (bool, string) {
	var r struct { // JSON's names match these whatever their case
		ID        int64
		Shipping  struct{ Street string } `json:"shippingAddress"`
		Billing   struct{ Street string } `json:"billingAddress"`
		Total     *money.Cents
		Cancelled bool
	}
	if err := orderapi.ReadJSON(ctx, c.e.http, c.e.stack.GatewayURL()+path+strconv.FormatInt(a.ID, 10), &r); err != nil {
		return false, what + ": " + err.Error() + "; "
	}
	street := cmp.Or(r.Shipping.Street, r.Billing.Street)
	switch {
	case r.ID != a.ID || street != a.Key:
		return false, fmt.Sprintf("%s is order %d to %q; ", what, r.ID, street)
	case what == "invoice" && r.Total == nil:
		return false, "invoice without a total; "
	case r.Total != nil && *r.Total != a.Total:
		return false, fmt.Sprintf("%s total %v, want %v; ", what, *r.Total, a.Total)
	case r.Cancelled != cancelled:
		return false, fmt.Sprintf("%s cancelled=%v, want %v; ", what, r.Cancelled, cancelled)
	}
	return true, ""
}

func (c *check) poisonDeadLettered() int {
	n := 0
	for _, v := range c.deadLetters {
		if bytes.Equal(v, c.poison) {
			n++
		}
	}
	return n
}

// exactSet compares the orders Postgres holds for this drill (their street
// is the request's key) with the answers: a key stored twice is a doubled
// order, a stored order never answered 201 a phantom.
func (c *check) exactSet(ctx context.Context, prefix string) error {
	rows, err := c.e.db.Query(ctx, `SELECT shipping_street, array_agg(id ORDER BY id) FROM orders.orders
		WHERE shipping_street LIKE $1 GROUP BY 1`, prefix+"-%")
	if err != nil {
		return fmt.Errorf("read the drill's orders: %w", err)
	}
	var key string
	var ids []int64
	_, err = pgx.ForEachRow(rows, []any{&key, &ids}, func() error {
		if len(ids) > 1 {
			c.doubled = append(c.doubled, fmt.Sprintf("%s (orders %v)", key, ids))
		}
		for _, id := range ids {
			if c.orders[id] == nil {
				c.phantom = append(c.phantom, fmt.Sprintf("%s (order %d)", key, id))
			}
		}
		return nil
	})
	slices.Sort(c.doubled)
	slices.Sort(c.phantom)
	return err
}

func (c *check) fill(r *row) {
	if values, err := c.e.deadLetters(c.dlFrom); err == nil {
		c.deadLetters = values
	}
	retried, replayed := 0, 0
	for _, s := range c.orders {
		if s.shipped {
			r.Shipped++
		}
		if s.invoiced {
			r.Invoiced++
		}
		if !s.whole {
			r.Lost++
			r.Details = append(r.Details, fmt.Sprintf("lost %s (order %d): %s", s.a.Key, s.a.ID, s.why))
		}
		if s.a.attempts > 1 {
			retried++
		}
		if s.a.Replayed {
			replayed++
		}
	}
	for _, a := range c.others {
		r.Unanswered = append(r.Unanswered, a.describe())
	}
	r.Accepted, r.Doubled, r.Phantom = len(c.orders), len(c.doubled), len(c.phantom)
	r.DeadLettered, r.PoisonExpected, r.PoisonSeen = len(c.deadLetters), c.poison != nil, c.poisonDeadLettered()
	r.Backlog = c.backlog
	for what, keys := range map[string][]string{"doubled": c.doubled, "phantom": c.phantom, "no 201": r.Unanswered} {
		for _, k := range keys {
			r.Details = append(r.Details, what+" "+k)
		}
	}
	slices.Sort(r.Details) // by kind, then key
	if r.Lost > 0 && c.lastErr != nil {
		r.Details = append(r.Details, "last error: "+c.lastErr.Error())
	}
	if n := len(r.Details) - maxDetails; n > 0 {
		r.Details = append(r.Details[:maxDetails], fmt.Sprintf("… and %d more", n))
	}
	if retried > 0 {
		r.Notes = append(r.Notes, fmt.Sprintf("%d orders were answered 201 only after a retry with the same key; %d of those answers were replays (Idempotent-Replayed: true)", retried, replayed))
	}
}
