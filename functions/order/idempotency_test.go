package order

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/mskafka/knative-functions/shared/events"
	"github.com/mskafka/knative-functions/shared/telemetry"
	"github.com/mskafka/knative-functions/shared/testenv"
)

// send runs one request through h.
func send(h http.Handler, method, path string, header map[string]string, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func orderIDOf(t *testing.T, rec *httptest.ResponseRecorder) int64 {
	t.Helper()
	var o struct{ ID int64 }
	if err := json.Unmarshal(rec.Body.Bytes(), &o); err != nil {
		t.Fatalf("answer %d is no order: %v\n%s", rec.Code, err, rec.Body)
	}
	return o.ID
}

// otherOrder asks for something else than goodOrder: two of the item.
var otherOrder = strings.Replace(goodOrder, `"count":1`, `"count":2`, 1)

// TestPostgresIdempotencyKey: a retry with the same key and request answers
// the first order and places nothing; the same key with another request is
// refused. Each step says what the schema holds after it.
func TestPostgresIdempotencyKey(t *testing.T) {
	pool := testPool(t)
	h := testServer(NewStore(pool))
	key := withHeader(jsonHeader, "Idempotency-Key", "k-1")
	var first int64
	steps := []struct {
		name         string
		header       map[string]string
		body         string
		wantStatus   int
		wantReplayed string
		wantMsg      string
		wantRows     rows
	}{
		{"first", key, goodOrder, 201, "", "", rows{1, 1, 1}},
		{"retry, same request", key, goodOrder, 201, "true", "", rows{1, 1, 1}},
		// Same order in other JSON layout and with spaces the check trims.
		{"retry, same request laid out differently", key,
			strings.Replace(strings.ReplaceAll(goodOrder, ",", " ,\n"), `"city":"c"`, `"city":" c "`, 1), 201, "true", "", rows{1, 1, 1}},
		{"retry, quoted key", withHeader(jsonHeader, "Idempotency-Key", `"k-1"`), goodOrder, 201, "true", "", rows{1, 1, 1}},
		{"same key, other request", key, otherOrder, 422, "",
			`Idempotency-Key \"k-1\" was used before, for order 1, with a different request: nothing was placed`, rows{1, 1, 1}},
		{"same key, invalid request", key, withStreet(" "), 400, "", "street is required", rows{1, 1, 1}},
		{"other key", withHeader(jsonHeader, "Idempotency-Key", "k-2"), otherOrder, 201, "", "", rows{2, 2, 2}},
		{"no key", jsonHeader, goodOrder, 201, "", "", rows{3, 2, 3}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			rec := send(h, "POST", "/api/orders", st.header, st.body)
			if rec.Code != st.wantStatus {
				t.Fatalf("status = %d, want %d: %s", rec.Code, st.wantStatus, rec.Body)
			}
			if got := rec.Header().Get("Idempotent-Replayed"); got != st.wantReplayed {
				t.Errorf("Idempotent-Replayed = %q, want %q", got, st.wantReplayed)
			}
			if !strings.Contains(rec.Body.String(), st.wantMsg) {
				t.Errorf("answer does not say %q: %s", st.wantMsg, rec.Body)
			}
			if st.wantReplayed != "" {
				if id := orderIDOf(t, rec); id != first {
					t.Errorf("replay answered order %d, want the first, %d", id, first)
				}
				if loc := rec.Header().Get("Location"); loc != "api/orders/1" {
					t.Errorf("Location = %q", loc)
				}
			}
			if st.name == "first" {
				first = orderIDOf(t, rec)
			}
			if diff := cmp.Diff(st.wantRows, countRows(t, pool)); diff != "" {
				t.Errorf("rows (-want +got):\n%s", diff)
			}
		})
	}
}

// TestPostgresIdempotencyKeyConcurrently: ten clients retry at once with
// one key; half of them send another request. Exactly one order is
// placed; every client with its request gets that order, every other a 422.
func TestPostgresIdempotencyKeyConcurrently(t *testing.T) {
	for _, mixed := range []bool{false, true} {
		name := map[bool]string{false: "same request", true: "two requests"}[mixed]
		t.Run(name, func(t *testing.T) {
			pool := testPool(t)
			h := testServer(NewStore(pool))
			const n = 10
			recs := make([]*httptest.ResponseRecorder, n)
			var wg sync.WaitGroup
			for i := range n {
				body := goodOrder
				if mixed && i%2 == 1 {
					body = otherOrder
				}
				wg.Go(func() {
					recs[i] = send(h, "POST", "/api/orders", withHeader(jsonHeader, "Idempotency-Key", "same"), body)
				})
			}
			wg.Wait()
			var winner int64
			placedBy := map[int]int{} // parity of the request that won → its 201s
			statuses := map[int]int{}
			for i, rec := range recs {
				statuses[rec.Code]++
				if rec.Code == http.StatusCreated {
					id := orderIDOf(t, rec)
					if winner != 0 && id != winner {
						t.Errorf("client %d got order %d, another got %d", i, id, winner)
					}
					winner = id
					placedBy[i%2]++
				}
			}
			want := map[int]int{201: n}
			if mixed {
				want = map[int]int{201: n / 2, 422: n / 2}
				if len(placedBy) != 1 {
					t.Errorf("both requests got 201s: %v", placedBy)
				}
			}
			if diff := cmp.Diff(want, statuses); diff != "" {
				t.Errorf("statuses (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(rows{1, 1, 1}, countRows(t, pool)); diff != "" {
				t.Errorf("rows (-want +got):\n%s", diff)
			}
		})
	}
}

// TestPostgresCommandReusedWithOtherData: a command's source and id name
// one request. Sent again with the same data it is answered as before;
// with other data it is refused with 422, which a KafkaSource does not
// retry, and nothing is placed.
func TestPostgresCommandReusedWithOtherData(t *testing.T) {
	pool := testPool(t)
	h := testServer(NewStore(pool))
	first := send(h, "POST", "/", ceHeaders("cmd-1"), goodOrder)
	if first.Code != http.StatusCreated {
		t.Fatalf("first: %d %s", first.Code, first.Body)
	}
	again := send(h, "POST", "/", ceHeaders("cmd-1"), strings.ReplaceAll(goodOrder, ",", ", "))
	if again.Code != http.StatusOK || again.Header().Get("Ce-Id") != first.Header().Get("Ce-Id") {
		t.Errorf("same data again: %d, ce-id %q, want 200 and %q", again.Code, again.Header().Get("Ce-Id"), first.Header().Get("Ce-Id"))
	}
	other := send(h, "POST", "/", ceHeaders("cmd-1"), otherOrder)
	want := `source \"/t\" and id \"cmd-1\" were used before, for order 1, with different data: nothing was placed`
	if other.Code != http.StatusUnprocessableEntity || !strings.Contains(other.Body.String(), want) {
		t.Errorf("other data: %d %s, want 422 saying %s", other.Code, other.Body, want)
	}
	if diff := cmp.Diff(rows{1, 1, 1}, countRows(t, pool)); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}

	// A command recorded before digests were kept is answered as before,
	// whatever its data: what it carried is unknown.
	if _, err := pool.Exec(context.Background(), `UPDATE command SET digest = NULL`); err != nil {
		t.Fatal(err)
	}
	if old := send(h, "POST", "/", ceHeaders("cmd-1"), otherOrder); old.Code != http.StatusOK {
		t.Errorf("command without digest: %d %s, want 200", old.Code, old.Body)
	}
}

// TestPostgresFormToken: the form carries a one-time token; sending it again
// leads to the same order, and the same token with other content places
// nothing.
func TestPostgresFormToken(t *testing.T) {
	pool := testPool(t)
	h := testServer(NewStore(pool))
	page := send(h, "GET", "/new", nil, "").Body.String()
	m := regexp.MustCompile(`<input type="hidden" name="token" value="([0-9a-f-]{36})">`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("the form has no token:\n%s", page)
	}
	token := m[1]
	// A round trip (add a line) keeps the token.
	if again := send(h, "POST", "/new", formHeader, formBody("token", token, "action", "add-line")).Body.String(); !strings.Contains(again, `value="`+token+`"`) {
		t.Error("the form shown again lost its token")
	}
	steps := []struct {
		name         string
		body         string
		wantStatus   int
		wantLocation string
		wantMsg      string
	}{
		{"place", formBody("token", token), 303, "1", ""},
		{"send again", formBody("token", token), 303, "1", ""},
		{"send again, changed", formBody("token", token, "count", "5,3"), 422, "",
			"This form was sent before and placed order #1; what it holds now is different, so nothing was placed."},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			rec := send(h, "POST", "/new", formHeader, st.body)
			if rec.Code != st.wantStatus || rec.Header().Get("Location") != st.wantLocation {
				t.Fatalf("%d to %q, want %d to %q:\n%s", rec.Code, rec.Header().Get("Location"), st.wantStatus, st.wantLocation, rec.Body)
			}
			if !strings.Contains(rec.Body.String(), st.wantMsg) {
				t.Errorf("page does not say %q:\n%s", st.wantMsg, rec.Body)
			}
			if diff := cmp.Diff(rows{1, 1, 1}, countRows(t, pool)); diff != "" {
				t.Errorf("rows (-want +got):\n%s", diff)
			}
		})
	}
}

// failingOrders fails every Place as a lost connection during the commit does.
type failingOrders struct{ fakeOrders }

func (failingOrders) Place(context.Context, Request, *CommandKey) (Placed, error) {
	return Placed{}, errors.New("commit order: conn closed")
}

// TestOutcomeUnknown: a 5xx while placing must not invite a blind retry:
// it says whether retrying is safe, and how to make it so.
func TestOutcomeUnknown(t *testing.T) {
	h := testServer(&failingOrders{})
	tests := []struct {
		name    string
		path    string
		header  map[string]string
		body    string
		wantMsg string
	}{
		{"api with key", "/api/orders", withHeader(jsonHeader, "Idempotency-Key", "k"), goodOrder,
			"the order may or may not have been placed. Retrying with the same Idempotency-Key header is safe"},
		{"api without key", "/api/orders", jsonHeader, goodOrder,
			"a retry may place it twice. Send an Idempotency-Key header (any unique string, the same on every retry) to make retrying safe"},
		{"event", "/", ceHeaders("x"), goodOrder, "retrying this event with the same source and id is safe"},
		{"form", "/new", formHeader, formBody("token", "t-1"), "Sending the form again is safe"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := send(h, "POST", tt.path, tt.header, tt.body)
			if rec.Code != http.StatusInternalServerError || !strings.Contains(rec.Body.String(), tt.wantMsg) {
				t.Errorf("%d %s, want 500 saying %q", rec.Code, rec.Body, tt.wantMsg)
			}
		})
	}
}

// TestPostgresConflictCounted: a command refused for its reused source and
// id is counted as an event handled with result "conflict"; a plain repeat
// is not.
func TestPostgresConflictCounted(t *testing.T) {
	rec := testenv.Telemetry(t, "order")
	tel, metrics := rec.Telemetry, rec.Metrics
	store := counted{NewStore(testPool(t)), tel.Metrics}
	ctx := context.Background()
	other := validRequest()
	other.Lines[0].Count = 3
	for _, req := range []Request{validRequest(), validRequest(), other} {
		store.Place(ctx, req, &CommandKey{Source: "/t", ID: "1"})
	}
	store.Place(ctx, other, IdempotencyKey("k")) // first use of the key: placed
	store.Place(ctx, validRequest(), IdempotencyKey("k"))
	var rm metricdata.ResourceMetrics
	if err := metrics.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, m := range rm.ScopeMetrics[0].Metrics {
		if s, ok := m.Data.(metricdata.Sum[int64]); ok {
			for _, p := range s.DataPoints {
				typ, _ := p.Attributes.Value(telemetry.AttrType)
				result, _ := p.Attributes.Value(telemetry.AttrResult)
				got[m.Name+" "+typ.AsString()+" "+result.AsString()] += p.Value
			}
		}
	}
	want := map[string]int64{
		telemetry.MetricOrdersPlaced + "  ":                                  2,
		telemetry.MetricEventsHandled + " " + events.TypePlace + " conflict": 1,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("counters (-want +got):\n%s", diff)
	}
}
