package order

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/propagation"

	"github.com/mskafka/knative-functions/shared/db"
	"github.com/mskafka/knative-functions/shared/events"
	"github.com/mskafka/knative-functions/shared/group"
)

// placements commits orders together (see package group and placeAll).
type placements = group.Group[*placement, Placed]

// call is one order's place in a group.
type call = group.Call[*placement, Placed]

// placement is one order on its way into the store: the request with its
// key and digest, then what pricing made of it and what its insert found.
type placement struct {
	req    Request
	cmd    *CommandKey
	digest []byte

	order Order
	rec   OutboxRecord
	// claimed is whether its claim took the key (always, without a key):
	// if not, the key was there before, and nothing of it is written.
	claimed bool
}

// placeAlone places one order in a group of its own.
func (s *Store) placeAlone(ctx context.Context, p *placement) (Placed, error) {
	c := &call{Ctx: ctx, Arg: p}
	if err := s.placeAll(ctx, []*call{c}); err != nil {
		return Placed{}, err
	}
	return c.Result, c.Err
}

// placeAll places the orders of calls, whatever their number, in one
// transaction of two round trips. BEGIN travels with each key's claim, the
// catalogue look-ups of them all and each one's order id (taken from the
// sequence, so that each event's payload can be made before the insert);
// then each order, its lines, its outbox row and its key's link go in one
// statement each, with COMMIT. Each call gets its own result: an unknown
// customer or item, a repeated key, a reused one. An error means the
// transaction failed and nothing of it was committed.
//
// The keys are claimed in key order, so two groups (two instances of
// order) cannot deadlock; claiming a key first makes a concurrent
// duplicate wait on its row lock instead of racing it: it sees the
// repeat once the first has committed.
func (s *Store) placeAll(ctx context.Context, calls []*call) error {
	slices.SortFunc(calls, func(a, b *call) int { return compareKeys(a.Arg.cmd, b.Arg.cmd) })
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("acquire: %w", err)
	}
	// A connection left inside a transaction (a failure between the two
	// round trips) is closed by the pool on release, which rolls it back.
	defer conn.Release()
	writes, err := s.price(ctx, conn, calls)
	if err == nil && writes > 0 {
		err = insert(ctx, conn, calls)
	}
	if err != nil || writes == 0 {
		if _, rerr := conn.Exec(context.WithoutCancel(ctx), `ROLLBACK`); rerr != nil {
			conn.Conn().Close(context.WithoutCancel(ctx))
		}
		if err != nil {
			return err
		}
	}
	for _, c := range calls {
		p := c.Arg
		switch {
		case !p.claimed:
			c.Result, c.Err = s.repeated(c.Ctx, *p.cmd, p.digest)
		case c.Err == nil:
			p.order.EventID = p.rec.ID
			c.Result = Placed{Order: p.order, Event: p.rec}
		}
	}
	return nil
}

// shared is ctx marked as the context of a batch shared by calls (see
// db.WithShares), owner[i] being the call of statement i (-1: all of
// them); the call's own context when there is one.
func shared(ctx context.Context, calls []*call, owner []int) context.Context {
	if len(calls) == 1 {
		return calls[0].Ctx
	}
	callers := make([]context.Context, len(calls))
	for i, c := range calls {
		callers[i] = c.Ctx
	}
	return db.WithShares(ctx, callers, owner)
}

// lookups is what the first round trip reads for all the calls.
type lookups struct {
	customers map[int64]events.Customer
	items     map[int64]events.Item
	ids       []int64
	created   time.Time
}

// price is placeAll's first round trip: BEGIN, the claim of each key, the
// customers and items the calls name, and an order id for each. It fills
// names and prices from the catalogue, answers a call that names an
// unknown id with an *InvalidError against the fields that hold it, and
// makes the event of each other one. It returns how many orders are to be
// written: those claimed (or without a key) and valid.
func (s *Store) price(ctx context.Context, conn *pgxpool.Conn, calls []*call) (writes int, err error) {
	var customerIDs, itemIDs []int64
	for _, c := range calls {
		customerIDs = append(customerIDs, c.Arg.req.CustomerID)
		for _, l := range c.Arg.req.Lines {
			itemIDs = append(itemIDs, l.ItemID)
		}
	}
	look := lookups{customers: make(map[int64]events.Customer, len(calls)), items: make(map[int64]events.Item, len(itemIDs))}
	b := &pgx.Batch{}
	b.Queue(`BEGIN`)
	owner := []int{-1}
	for i, c := range calls {
		if c.Arg.claim(b) {
			owner = append(owner, i)
		}
	}
	look.queue(b, customerIDs, itemIDs)
	owner = append(owner, -1, -1)
	look.ids = make([]int64, len(calls))
	for i := range calls {
		// One statement an order: a lone order (the common case on a
		// quiet day) pays no more than before groups; one series for them
		// all cost it more.
		b.Queue(`SELECT nextval(pg_get_serial_sequence('orders', 'id')), now()`).QueryRow(func(r pgx.Row) error {
			return r.Scan(&look.ids[i], &look.created)
		})
		owner = append(owner, i)
	}
	if err := conn.SendBatch(shared(ctx, calls, owner), b).Close(); err != nil {
		return 0, fmt.Errorf("price %d orders: %w", len(calls), err)
	}
	for i, c := range calls {
		p := c.Arg
		if !p.claimed {
			continue
		}
		if p.order, c.Err = priced(p.req, look.customers, look.items); c.Err != nil {
			continue
		}
		p.order.ID, p.order.Created = look.ids[i], look.created
		p.order.Updated = events.Time{Time: look.created}
		if p.rec, c.Err = placedRecord(c.Ctx, p.order); c.Err != nil {
			continue
		}
		writes++
	}
	return writes, nil
}

// claim adds the claim of the placement's key to b, if it has one, and
// reports whether it did. Without a key a placement counts as claimed.
func (p *placement) claim(b *pgx.Batch) bool {
	p.claimed = p.cmd == nil
	if p.cmd == nil {
		return false
	}
	b.Queue(`INSERT INTO command (source, id, digest) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
		p.cmd.Source, p.cmd.ID, p.digest).Exec(func(tag pgconn.CommandTag) error {
		p.claimed = tag.RowsAffected() == 1
		return nil
	})
	return true
}

// queue adds the look-ups to b: the customers and the items.
func (l *lookups) queue(b *pgx.Batch, customerIDs, itemIDs []int64) {
	b.Queue(`SELECT id, name, firstname, email FROM customer WHERE id = ANY($1)`, customerIDs).Query(func(rows pgx.Rows) error {
		var cu events.Customer
		_, err := pgx.ForEachRow(rows, []any{&cu.CustomerID, &cu.Name, &cu.Firstname, &cu.Email}, func() error {
			l.customers[cu.CustomerID] = cu
			return nil
		})
		return err
	})
	b.Queue(`SELECT id, name, (price * 100)::bigint FROM item WHERE id = ANY($1)`, itemIDs).Query(func(rows pgx.Rows) error {
		var it events.Item
		_, err := pgx.ForEachRow(rows, []any{&it.ItemID, &it.Name, &it.Price}, func() error {
			l.items[it.ItemID] = it
			return nil
		})
		return err
	})
}

// priced is the order req makes with the catalogue's customers and items,
// or an *InvalidError naming the fields that hold unknown ids.
func priced(req Request, customers map[int64]events.Customer, items map[int64]events.Item) (Order, error) {
	o := Order{Status: StatusPlaced, Order: events.Order{
		ShippingAddress: req.ShippingAddress,
		BillingAddress:  req.BillingAddress,
		OrderLine:       make([]events.Line, len(req.Lines)),
		NumberOfLines:   len(req.Lines),
	}}
	bad := &InvalidError{}
	cu, ok := customers[req.CustomerID]
	if !ok {
		bad.add("customer", "unknown customer %d", req.CustomerID)
	}
	o.Customer = cu
	for i, l := range req.Lines {
		it, ok := items[l.ItemID]
		if !ok {
			bad.add(fmt.Sprintf("orderLine[%d].item", i), "unknown item %d", l.ItemID)
			continue
		}
		o.OrderLine[i] = events.Line{Count: l.Count, Item: it}
		o.Total += it.Price.Times(l.Count)
	}
	if err := bad.orNil(); err != nil {
		return Order{}, err
	}
	return o, nil
}

// placedRecord is the outbox row that announces o, carrying the trace
// context of ctx for the relay to continue.
func placedRecord(ctx context.Context, o Order) (OutboxRecord, error) {
	payload, err := json.Marshal(o.Order)
	if err != nil {
		return OutboxRecord{}, fmt.Errorf("encode %s of order %d: %w", events.TypePlaced, o.ID, err)
	}
	rec := OutboxRecord{ID: uuid.NewString(), OrderID: o.ID, Type: events.TypePlaced, Payload: payload,
		Created: o.Created, Trace: propagation.MapCarrier{}}
	propagation.TraceContext{}.Inject(ctx, rec.Trace)
	return rec, nil
}

// insertSQL inserts an order, its lines and its outbox row, and links its
// key to it. Its parameters: $1 order id, $2 customer, $3–$5 shipping and
// $6–$8 billing address, $9–$11 the lines' items, counts and prices, $12
// and $13 the key's source and id (NULL without a key), $14 the event id,
// $15 its type, $16 its payload, $17 and $18 its trace context.
const insertSQL = `WITH o AS (
		INSERT INTO orders (id, customer_id, shipping_street, shipping_zip, shipping_city,
			billing_street, billing_zip, billing_city)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id
	), l AS (
		INSERT INTO order_line (order_id, line_no, item_id, count, price)
		SELECT o.id, l.line_no, l.item_id, l.count, l.price
		FROM o, unnest($9::bigint[], $10::integer[], $11::numeric[]) WITH ORDINALITY AS l(item_id, count, price, line_no)
	), c AS (
		UPDATE command SET order_id = o.id FROM o WHERE source = $12 AND command.id = $13
	)
	INSERT INTO outbox (id, order_id, type, payload, traceparent, tracestate)
	SELECT $14, o.id, $15, $16, nullif($17, ''), nullif($18, '') FROM o RETURNING seq`

// insert is placeAll's second round trip: the statement of each order to
// be written, the release of each key claimed by an order refused, and
// COMMIT. It sets the Seq of each event written.
func insert(ctx context.Context, conn *pgxpool.Conn, calls []*call) error {
	b := &pgx.Batch{}
	var owner []int
	for i, c := range calls {
		switch p := c.Arg; {
		case !p.claimed:
			continue
		case c.Err == nil:
			p.queue(b)
		case p.cmd != nil:
			// Refused: the key is free again once the transaction commits.
			b.Queue(`DELETE FROM command WHERE source = $1 AND id = $2`, p.cmd.Source, p.cmd.ID)
		default:
			continue
		}
		owner = append(owner, i)
	}
	b.Queue(`COMMIT`)
	owner = append(owner, -1)
	err := conn.SendBatch(shared(ctx, calls, owner), b).Close()
	if err == nil && conn.Conn().PgConn().TxStatus() != 'I' {
		err = errors.New("still in a transaction")
	}
	if err != nil {
		if len(calls) == 1 {
			return fmt.Errorf("insert order %d: %w", calls[0].Arg.order.ID, err)
		}
		return fmt.Errorf("insert %d orders together: %w", len(calls), err)
	}
	return nil
}

// queue adds the placement's statement to b.
func (p *placement) queue(b *pgx.Batch) {
	o := p.order
	items := make([]int64, len(o.OrderLine))
	counts := make([]int64, len(o.OrderLine))
	prices := make([]pgtype.Numeric, len(o.OrderLine))
	for i, l := range o.OrderLine {
		items[i], counts[i], prices[i] = l.Item.ItemID, int64(l.Count), db.Numeric(l.Item.Price)
	}
	var source, id *string
	if p.cmd != nil {
		source, id = &p.cmd.Source, &p.cmd.ID
	}
	b.Queue(insertSQL, o.ID, o.Customer.CustomerID, o.ShippingAddress.Street, o.ShippingAddress.Zip, o.ShippingAddress.City,
		o.BillingAddress.Street, o.BillingAddress.Zip, o.BillingAddress.City,
		items, counts, prices, source, id,
		p.rec.ID, p.rec.Type, p.rec.Payload, p.rec.Trace["traceparent"], p.rec.Trace["tracestate"]).
		QueryRow(func(r pgx.Row) error { return r.Scan(&p.rec.Seq) })
}

// compareKeys orders keys by source and id, no key last.
func compareKeys(a, b *CommandKey) int {
	switch {
	case a == nil || b == nil:
		return cmp.Compare(boolInt(a == nil), boolInt(b == nil))
	case a.Source != b.Source:
		return cmp.Compare(a.Source, b.Source)
	default:
		return cmp.Compare(a.ID, b.ID)
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
