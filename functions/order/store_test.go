package order

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mskafka/knative-functions/shared/events"
	"github.com/mskafka/knative-functions/shared/testenv"
)

// testPool gives a test its own fresh schema in the real Postgres that
// `make test` starts (DATABASE_URL), with the migrations applied.
func testPool(t testing.TB) *pgxpool.Pool { return testenv.Pool(t, "order", migrations) }

func TestPostgresPlaceAndGet(t *testing.T) {
	s := NewStore(testPool(t))
	ctx := context.Background()
	req := validRequest()
	req.BillingAddress = events.Address{Street: "Krischerstr. 100", Zip: "40789", City: "Monheim am Rhein"}
	req.Lines = []RequestLine{{ItemID: 1, Count: 2}, {ItemID: 3, Count: 3}}
	res, err := s.Place(ctx, req, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, res.Order.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := events.Order{
		ID:              res.Order.ID,
		Customer:        events.Customer{CustomerID: 1, Name: "Wolff", Firstname: "Eberhard", Email: "eberhard.wolff@gmail.com"},
		Updated:         got.Updated,
		ShippingAddress: req.ShippingAddress,
		BillingAddress:  req.BillingAddress,
		OrderLine: []events.Line{
			{Count: 2, Item: events.Item{ItemID: 1, Name: "iPod", Price: 4200}},
			{Count: 3, Item: events.Item{ItemID: 3, Name: "iPod nano", Price: 100}},
		},
		NumberOfLines: 2,
	}
	if diff := cmp.Diff(want, got.Order); diff != "" {
		t.Errorf("stored order (-want +got):\n%s", diff)
	}
	if got.Total != 8700 || got.Status != StatusPlaced || got.EventID != res.Event.ID || got.Published != nil {
		t.Errorf("total %v status %s event %s published %v", got.Total, got.Status, got.EventID, got.Published)
	}
	// The outbox payload is the order as the sinks will read it.
	published, err := events.DecodeOrder(res.Event.Payload)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want.OrderLine, published.OrderLine); diff != "" {
		t.Errorf("payload lines (-want +got):\n%s", diff)
	}
}

func TestPostgresPlaceRefusesUnknownIDs(t *testing.T) {
	pool := testPool(t)
	s := NewStore(pool)
	req := validRequest()
	req.CustomerID = 42
	req.Lines = append(req.Lines, RequestLine{ItemID: 99, Count: 1})
	_, err := s.Place(context.Background(), req, &CommandKey{"test", "bad-1"})
	var bad *InvalidError
	if !errors.As(err, &bad) {
		t.Fatalf("err = %v, want InvalidError", err)
	}
	want := []Problem{{"customer", "unknown customer 42"}, {"orderLine[1].item", "unknown item 99"}}
	if diff := cmp.Diff(want, bad.Problems); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
	var orders, commands, outbox int
	pool.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM orders), (SELECT count(*) FROM command), (SELECT count(*) FROM outbox)`).
		Scan(&orders, &commands, &outbox)
	if orders+commands+outbox != 0 {
		t.Errorf("a refused order wrote rows: %d orders, %d commands, %d outbox", orders, commands, outbox)
	}
}

func TestPostgresRepeatedCommandConcurrently(t *testing.T) {
	pool := testPool(t)
	s := NewStore(pool)
	const n = 10
	results := make([]Placed, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			results[i], errs[i] = s.Place(context.Background(), validRequest(), &CommandKey{"test", "cmd-1"})
		})
	}
	wg.Wait()
	repeated := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("call %d: %v", i, errs[i])
		}
		if results[i].Order.ID != results[0].Order.ID || results[i].Event.ID != results[0].Event.ID {
			t.Errorf("call %d got order %d event %s, want %d %s", i, results[i].Order.ID, results[i].Event.ID, results[0].Order.ID, results[0].Event.ID)
		}
		if results[i].Repeated {
			repeated++
		}
	}
	if repeated != n-1 {
		t.Errorf("%d calls reported repeated, want %d", repeated, n-1)
	}
	var orders int
	pool.QueryRow(context.Background(), `SELECT count(*) FROM orders`).Scan(&orders)
	if orders != 1 {
		t.Errorf("%d orders stored, want 1", orders)
	}
}

func TestPostgresCancel(t *testing.T) {
	pool := testPool(t)
	s := NewStore(pool)
	ctx := context.Background()
	res, err := s.Place(ctx, validRequest(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second cancel changes nothing
		o, err := s.Cancel(ctx, res.Order.ID)
		if err != nil {
			t.Fatal(err)
		}
		if o.Status != StatusCancelled {
			t.Errorf("status = %s", o.Status)
		}
	}
	var types []string
	rows, _ := pool.Query(ctx, `SELECT type FROM outbox ORDER BY seq`)
	types, _ = pgx.CollectRows(rows, pgx.RowTo[string])
	if diff := cmp.Diff([]string{events.TypePlaced, events.TypeCancelled}, types); diff != "" {
		t.Errorf("outbox (-want +got):\n%s", diff)
	}
	if _, err := s.Cancel(ctx, 999999); !errors.Is(err, ErrNotFound) {
		t.Errorf("cancel unknown: %v, want ErrNotFound", err)
	}
}

// fakeSender records what the relay sends, and fails while down is set.
type fakeSender struct {
	mu   sync.Mutex
	down bool
	sent []*sarama.ProducerMessage
}

func (f *fakeSender) SendMessages(msgs []*sarama.ProducerMessage) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return errors.New("kafka is down")
	}
	f.sent = append(f.sent, msgs...)
	return nil
}

func (f *fakeSender) Close() error { return nil }

func TestPostgresRelayWhileKafkaIsDown(t *testing.T) {
	pool := testPool(t)
	s := NewStore(pool)
	ctx := context.Background()
	kafka := &fakeSender{down: true}
	relay := NewRelay(pool, "order", time.Hour, func() (Sender, error) { return kafka, nil }, slog.New(slog.NewTextHandler(io.Discard, nil)))

	res, err := s.Place(ctx, validRequest(), nil)
	if err != nil {
		t.Fatal(err)
	}
	relay.drain(ctx)
	if o, _ := s.Get(ctx, res.Order.ID); o.Published != nil {
		t.Fatal("marked published while Kafka was down")
	}
	kafka.mu.Lock()
	kafka.down = false
	kafka.mu.Unlock()
	relay.drain(ctx)
	relay.drain(ctx) // nothing left: nothing sent twice
	if len(kafka.sent) != 1 {
		t.Fatalf("sent %d records, want 1", len(kafka.sent))
	}
	msg := kafka.sent[0]
	got := map[string]string{}
	for _, h := range msg.Headers {
		got[string(h.Key)] = string(h.Value)
	}
	key, _ := msg.Key.Encode()
	want := map[string]string{
		"ce_specversion": "1.0", "ce_id": res.Event.ID, "ce_source": "/order", "ce_type": events.TypePlaced,
		"ce_subject": fmt.Sprint(res.Order.ID), "ce_time": got["ce_time"], "content-type": "application/json",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("record headers (-want +got):\n%s", diff)
	}
	if string(key) != fmt.Sprint(res.Order.ID) || msg.Topic != "order" {
		t.Errorf("key %s topic %s", key, msg.Topic)
	}
	if o, _ := s.Get(ctx, res.Order.ID); o.Published == nil {
		t.Error("not marked published after the send")
	}
}

// BenchmarkPostgresPlace is the cost of accepting one order at a time, as
// the function runs (with group commit, a group of one): validation
// against the catalogue, the order, its lines and its outbox row in one
// transaction.
func BenchmarkPostgresPlace(b *testing.B) {
	s := NewStore(testPool(b), WithGroupCommit(8))
	ctx := context.Background()
	req := validRequest()
	req.Lines = []RequestLine{{ItemID: 1, Count: 2}, {ItemID: 3, Count: 1}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Place(ctx, req, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// placeInFlight is how many orders the benchmarks place at once: as many
// as the order function has Postgres connections (DB_MAX_CONNS).
const placeInFlight = 8

// BenchmarkPostgresPlaceConcurrently places orders placeInFlight at once,
// each with its own idempotency key (as every form and command has), each
// committed alone and with group commit. Besides the time per order it
// reports the commits, the Postgres CPU, this process's CPU and the WAL
// per order.
func BenchmarkPostgresPlaceConcurrently(b *testing.B) {
	for _, tc := range []struct {
		name  string
		group int
	}{{"alone", 1}, {"grouped", 8}} {
		b.Run(tc.name, func(b *testing.B) {
			s := NewStore(testPool(b), WithGroupCommit(tc.group))
			req := validRequest()
			req.Lines = []RequestLine{{ItemID: 1, Count: 2}, {ItemID: 3, Count: 1}}
			var next atomic.Int64
			b.ReportAllocs()
			before := testenv.ServerUsage(b, s.pool)
			b.ResetTimer()
			var wg sync.WaitGroup
			for range placeInFlight {
				wg.Go(func() {
					for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
						if _, err := s.Place(context.Background(), req, IdempotencyKey(fmt.Sprint("bench-", i))); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			testenv.ServerUsage(b, s.pool).ReportSince(b, before)
		})
	}
}
