package invoicing

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mskafka/knative-functions/shared/db/dbtest"
	"github.com/mskafka/knative-functions/shared/events"
	"github.com/mskafka/knative-functions/shared/sink"
)

// testSchema makes a fresh schema in the Postgres at DATABASE_URL, dropped
// when the test ends.
func testSchema(t testing.TB) (url, schema string) { return dbtest.Schema(t, "invoicing") }

// testPool returns a pool on a fresh, migrated schema.
func testPool(t testing.TB) *pgxpool.Pool { return dbtest.Pool(t, "invoicing", migrations) }

// ignoreCreated leaves out the time the database chose.
func ignoreCreated() cmp.Option { return cmpopts.IgnoreFields(Invoice{}, "Created") }

func placedRef(id string) sink.Ref {
	return sink.Ref{Source: events.SourceOrder, ID: id, Type: events.TypePlaced}
}

func cancelledRef(id string) sink.Ref {
	return sink.Ref{Source: events.SourceOrder, ID: id, Type: events.TypeCancelled}
}

// wantOutcome returns a check that fails the test unless the store call
// it is applied to returned want and no error.
func wantOutcome(t *testing.T, want sink.Outcome) func(sink.Outcome, error) {
	t.Helper()
	return func(got sink.Outcome, err error) {
		t.Helper()
		if err != nil || got != want {
			t.Fatalf("outcome = %q, %v; want %q", got, err, want)
		}
	}
}

// wantInvoices fails the test unless the store holds exactly want.
func wantInvoices(t *testing.T, s *Store, want ...Invoice) {
	t.Helper()
	got, err := s.Invoices(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got, ignoreCreated(), cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("invoices (-want +got):\n%s", diff)
	}
}

func TestPostgresPlaced(t *testing.T) {
	pool := testPool(t)
	s := NewStore(pool)
	ctx := t.Context()
	before := time.Now()
	wantOutcome(t, sink.Stored)(s.Placed(ctx, placedRef("e1"), testOrder(t)))

	got, err := s.Invoice(ctx, 7)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(testInvoice(), got, ignoreCreated()); diff != "" {
		t.Errorf("invoice (-want +got):\n%s", diff)
	}
	if got.Created.Before(before.Add(-time.Minute)) || got.Created.After(time.Now().Add(time.Minute)) {
		t.Errorf("created = %v, want about %v", got.Created, before)
	}
	wantInvoices(t, s, testInvoice())

	// What SQL sees: exact numerics, not floats nor cents.
	var amounts []string
	if err := pool.QueryRow(ctx, `
		SELECT array[total::text] || array(SELECT line_total::text FROM invoice_line WHERE order_id = 7 ORDER BY line_no)
		FROM invoice WHERE order_id = 7`).Scan(&amounts); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"85.30", "84.00", "1.00", "0.30"}, amounts); diff != "" {
		t.Errorf("total and line totals in SQL (-want +got):\n%s", diff)
	}

	if _, err := s.Invoice(ctx, 8); !errors.Is(err, ErrNotFound) {
		t.Errorf("invoice 8: err = %v, want ErrNotFound", err)
	}
}

func TestPostgresPlacedNewestFirst(t *testing.T) {
	s := NewStore(testPool(t))
	var want []Invoice
	for _, id := range []int64{3, 1, 2} {
		o := testOrder(t)
		o.ID = id
		wantOutcome(t, sink.Stored)(s.Placed(t.Context(), placedRef(fmt.Sprint("e", id)), o))
		inv := testInvoice()
		inv.ID = id
		want = append([]Invoice{inv}, want...)
	}
	wantInvoices(t, s, want...)
}

func TestPostgresDuplicateEvent(t *testing.T) {
	s := NewStore(testPool(t))
	wantOutcome(t, sink.Stored)(s.Placed(t.Context(), placedRef("e1"), testOrder(t)))

	// A redelivery changes nothing, even if its content were different.
	again := testOrder(t)
	again.BillingAddress.City = "Hamburg"
	again.OrderLine = again.OrderLine[:1]
	wantOutcome(t, sink.Duplicate)(s.Placed(t.Context(), placedRef("e1"), again))
	wantInvoices(t, s, testInvoice())
}

func TestPostgresSameOrderOtherEvent(t *testing.T) {
	s := NewStore(testPool(t))
	wantOutcome(t, sink.Stored)(s.Placed(t.Context(), placedRef("e1"), testOrder(t)))

	// The original's plain record of the same order: recorded, not doubled.
	record := sink.Ref{Source: "/apis/v1/namespaces/default/kafkasources/invoicing#order", ID: "partition:2/offset:17", Type: events.TypeKafkaRecord}
	wantOutcome(t, sink.Duplicate)(s.Placed(t.Context(), record, testOrder(t)))
	wantOutcome(t, sink.Duplicate)(s.Placed(t.Context(), record, testOrder(t)))
	wantInvoices(t, s, testInvoice())
}

func TestPostgresCancelledAfterOrder(t *testing.T) {
	s := NewStore(testPool(t))
	ctx := t.Context()
	wantOutcome(t, sink.Stored)(s.Placed(ctx, placedRef("e1"), testOrder(t)))
	at := time.Date(2026, 11, 25, 11, 0, 0, 0, time.UTC)
	wantOutcome(t, sink.Stored)(s.Cancelled(ctx, cancelledRef("c1"), events.Cancelled{ID: 7, Updated: events.Time{Time: at}}))
	wantOutcome(t, sink.Duplicate)(s.Cancelled(ctx, cancelledRef("c1"), events.Cancelled{ID: 7}))
	// The same cancellation under another event id changes nothing either.
	wantOutcome(t, sink.Duplicate)(s.Cancelled(ctx, cancelledRef("c2"), events.Cancelled{ID: 7}))

	want := testInvoice()
	want.Cancelled = true
	want.Updated = &at
	wantInvoices(t, s, want)
}

func TestPostgresCancelledBeforeOrder(t *testing.T) {
	s := NewStore(testPool(t))
	ctx := t.Context()
	at := time.Date(2026, 11, 25, 11, 0, 0, 0, time.UTC)
	wantOutcome(t, sink.Stored)(s.Cancelled(ctx, cancelledRef("c1"), events.Cancelled{ID: 7, Updated: events.Time{Time: at}}))
	wantInvoices(t, s)

	wantOutcome(t, sink.Stored)(s.Placed(ctx, placedRef("e1"), testOrder(t)))
	want := testInvoice()
	want.Cancelled = true
	want.Updated = &at
	wantInvoices(t, s, want)
}

func TestPostgresInvalidOrder(t *testing.T) {
	pool := testPool(t)
	s := NewStore(pool)
	o := testOrder(t)
	o.BillingAddress.City = ""
	if _, err := s.Placed(t.Context(), placedRef("e1"), o); !errors.Is(err, events.ErrInvalid) {
		t.Fatalf("err = %v, want ErrInvalid", err)
	}
	wantInvoices(t, s)
	var handled int
	if err := pool.QueryRow(t.Context(), `SELECT count(*) FROM handled_event`).Scan(&handled); err != nil {
		t.Fatal(err)
	}
	if handled != 0 {
		t.Errorf("%d events recorded, want none", handled)
	}
}

func TestPostgresConcurrentDelivery(t *testing.T) {
	s := NewStore(testPool(t))
	const deliveries = 10
	o := testOrder(t)
	outcomes := make(chan sink.Outcome, deliveries)
	var wg sync.WaitGroup
	for range deliveries {
		wg.Go(func() {
			got, err := s.Placed(t.Context(), placedRef("e1"), o)
			if err != nil {
				t.Errorf("Placed: %v", err)
			}
			outcomes <- got
		})
	}
	wg.Wait()
	close(outcomes)
	count := map[sink.Outcome]int{}
	for o := range outcomes {
		count[o]++
	}
	if diff := cmp.Diff(map[sink.Outcome]int{sink.Stored: 1, sink.Duplicate: deliveries - 1}, count); diff != "" {
		t.Errorf("outcomes (-want +got):\n%s", diff)
	}
	wantInvoices(t, s, testInvoice())
}

// A placement and a cancellation of one order applied at the same moment
// must end cancelled, whichever commits first.
func TestPostgresPlacedAndCancelledConcurrently(t *testing.T) {
	s := NewStore(testPool(t))
	const orders = 20
	var wg sync.WaitGroup
	for id := int64(1); id <= orders; id++ {
		o := testOrder(t)
		o.ID = id
		wg.Go(func() {
			if _, err := s.Placed(t.Context(), placedRef(fmt.Sprint("e", id)), o); err != nil {
				t.Errorf("Placed %d: %v", id, err)
			}
		})
		wg.Go(func() {
			if _, err := s.Cancelled(t.Context(), cancelledRef(fmt.Sprint("c", id)), events.Cancelled{ID: id}); err != nil {
				t.Errorf("Cancelled %d: %v", id, err)
			}
		})
	}
	wg.Wait()
	list, err := s.Invoices(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != orders {
		t.Fatalf("%d invoices, want %d", len(list), orders)
	}
	for _, inv := range list {
		if !inv.Cancelled {
			t.Errorf("invoice %d is not void", inv.ID)
		}
	}
}

// The whole path: a plain Kafka record from the original, with updated in
// epoch milliseconds, posted to the function and read back from its API.
func TestPostgresHTTP(t *testing.T) {
	pool := testPool(t)
	f, err := newFunction(slog.New(slog.DiscardHandler), NewStore(pool), pool)
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	f.ServeHTTP(w, binaryEvent(events.TypeKafkaRecord, "/apis/v1/namespaces/default/kafkasources/invoicing#order",
		"partition:2/offset:17", readTestdata(t, "original-order.json")))
	if w.Code != http.StatusOK {
		t.Fatalf("POST / = %d %s", w.Code, w.Body)
	}

	w = httptest.NewRecorder()
	f.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/api/invoices/7", nil))
	if w.Code != http.StatusOK {
		t.Fatalf("GET = %d %s", w.Code, w.Body)
	}
	got := decodeJSON(t, w.Body.String()).(map[string]any)
	want := decodeJSON(t, readTestdata(t, "invoice.json")).(map[string]any)
	delete(want, "created")
	delete(got, "created")
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("GET /api/invoices/7 (-want +got):\n%s", diff)
	}

	if ready, err := f.Ready(t.Context()); !ready || err != nil {
		t.Errorf("Ready = %v, %v", ready, err)
	}
}

// BenchmarkPostgresPlaced is a sink's work per order: record the event and
// store the invoice with its lines and totals, in one transaction.
func BenchmarkPostgresPlaced(b *testing.B) {
	s := NewStore(testPool(b))
	o := testOrder(b)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		o.ID = int64(i)
		if _, err := s.Placed(b.Context(), placedRef(fmt.Sprint("e", i)), o); err != nil {
			b.Fatal(err)
		}
	}
}
