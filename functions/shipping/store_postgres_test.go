package shipping

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
func testSchema(t testing.TB) (url, schema string) { return dbtest.Schema(t, "shipping") }

// testPool returns a pool on a fresh, migrated schema.
func testPool(t testing.TB) *pgxpool.Pool { return dbtest.Pool(t, "shipping", migrations) }

// ignoreCreated leaves out the time the database chose.
func ignoreCreated() cmp.Option { return cmpopts.IgnoreFields(Shipment{}, "Created") }

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

// wantShipments fails the test unless the store holds exactly want.
func wantShipments(t *testing.T, s *Store, want ...Shipment) {
	t.Helper()
	got, err := s.Shipments(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got, ignoreCreated(), cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("shipments (-want +got):\n%s", diff)
	}
}

func TestPostgresPlaced(t *testing.T) {
	s := NewStore(testPool(t))
	ctx := t.Context()
	before := time.Now()
	wantOutcome(t, sink.Stored)(s.Placed(ctx, placedRef("e1"), testOrder(t)))

	got, err := s.Shipment(ctx, 7)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(testShipment(), got, ignoreCreated()); diff != "" {
		t.Errorf("shipment (-want +got):\n%s", diff)
	}
	if got.Created.Before(before.Add(-time.Minute)) || got.Created.After(time.Now().Add(time.Minute)) {
		t.Errorf("created = %v, want about %v", got.Created, before)
	}
	wantShipments(t, s, testShipment())

	if _, err := s.Shipment(ctx, 8); !errors.Is(err, ErrNotFound) {
		t.Errorf("shipment 8: err = %v, want ErrNotFound", err)
	}
}

func TestPostgresPlacedNewestFirst(t *testing.T) {
	s := NewStore(testPool(t))
	var want []Shipment
	for _, id := range []int64{3, 1, 2} {
		o := testOrder(t)
		o.ID = id
		wantOutcome(t, sink.Stored)(s.Placed(t.Context(), placedRef(fmt.Sprint("e", id)), o))
		sh := testShipment()
		sh.ID = id
		want = append([]Shipment{sh}, want...)
	}
	wantShipments(t, s, want...)
}

func TestPostgresDuplicateEvent(t *testing.T) {
	s := NewStore(testPool(t))
	wantOutcome(t, sink.Stored)(s.Placed(t.Context(), placedRef("e1"), testOrder(t)))

	// A redelivery changes nothing, even if its content were different.
	again := testOrder(t)
	again.ShippingAddress.City = "Hamburg"
	again.OrderLine = again.OrderLine[:1]
	wantOutcome(t, sink.Duplicate)(s.Placed(t.Context(), placedRef("e1"), again))
	wantShipments(t, s, testShipment())
}

func TestPostgresSameOrderOtherEvent(t *testing.T) {
	s := NewStore(testPool(t))
	wantOutcome(t, sink.Stored)(s.Placed(t.Context(), placedRef("e1"), testOrder(t)))

	// The original's plain record of the same order: recorded, not doubled.
	record := sink.Ref{Source: "/apis/v1/namespaces/default/kafkasources/shipping#order", ID: "partition:2/offset:17", Type: events.TypeKafkaRecord}
	wantOutcome(t, sink.Duplicate)(s.Placed(t.Context(), record, testOrder(t)))
	wantOutcome(t, sink.Duplicate)(s.Placed(t.Context(), record, testOrder(t)))
	wantShipments(t, s, testShipment())
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

	want := testShipment()
	want.Cancelled = true
	want.Updated = &at
	wantShipments(t, s, want)
}

func TestPostgresCancelledBeforeOrder(t *testing.T) {
	s := NewStore(testPool(t))
	ctx := t.Context()
	at := time.Date(2026, 11, 25, 11, 0, 0, 0, time.UTC)
	wantOutcome(t, sink.Stored)(s.Cancelled(ctx, cancelledRef("c1"), events.Cancelled{ID: 7, Updated: events.Time{Time: at}}))
	wantShipments(t, s)

	wantOutcome(t, sink.Stored)(s.Placed(ctx, placedRef("e1"), testOrder(t)))
	want := testShipment()
	want.Cancelled = true
	want.Updated = &at
	wantShipments(t, s, want)
}

func TestPostgresInvalidOrder(t *testing.T) {
	pool := testPool(t)
	s := NewStore(pool)
	o := testOrder(t)
	o.ShippingAddress.City = ""
	if _, err := s.Placed(t.Context(), placedRef("e1"), o); !errors.Is(err, events.ErrInvalid) {
		t.Fatalf("err = %v, want ErrInvalid", err)
	}
	wantShipments(t, s)
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
	wantShipments(t, s, testShipment())
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
	list, err := s.Shipments(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != orders {
		t.Fatalf("%d shipments, want %d", len(list), orders)
	}
	for _, sh := range list {
		if !sh.Cancelled {
			t.Errorf("shipment %d is not cancelled", sh.ID)
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
	f.ServeHTTP(w, binaryEvent(events.TypeKafkaRecord, "/apis/v1/namespaces/default/kafkasources/shipping#order",
		"partition:2/offset:17", readTestdata(t, "original-order.json")))
	if w.Code != http.StatusOK {
		t.Fatalf("POST / = %d %s", w.Code, w.Body)
	}

	w = httptest.NewRecorder()
	f.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/api/shipments/7", nil))
	if w.Code != http.StatusOK {
		t.Fatalf("GET = %d %s", w.Code, w.Body)
	}
	got := decodeJSON(t, w.Body.String()).(map[string]any)
	want := decodeJSON(t, readTestdata(t, "shipment.json")).(map[string]any)
	delete(want, "created")
	delete(got, "created")
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("GET /api/shipments/7 (-want +got):\n%s", diff)
	}

	if ready, err := f.Ready(t.Context()); !ready || err != nil {
		t.Errorf("Ready = %v, %v", ready, err)
	}
}

// BenchmarkPostgresPlaced is a sink's work per order: record the event and
// store the shipment with its lines, in one transaction.
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
