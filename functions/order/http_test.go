package order

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mskafka/knative-functions/shared/web"
)

// fakeOrders records whether anything reached the store.
type fakeOrders struct {
	placed []Request
}

func (f *fakeOrders) Place(_ context.Context, req Request, _ *CommandKey) (Placed, error) {
	if bad := req.Check(); bad.orNil() != nil {
		return Placed{}, bad
	}
	f.placed = append(f.placed, req)
	o := Order{Status: StatusPlaced}
	o.ID = int64(len(f.placed))
	return Placed{Order: o, Event: OutboxRecord{ID: "ev-1", OrderID: o.ID, Type: "com.example.order.placed", Payload: []byte(`{}`)}}, nil
}
func (f *fakeOrders) Cancel(context.Context, int64) (Order, error)    { return Order{}, ErrNotFound }
func (f *fakeOrders) Get(context.Context, int64) (Order, error)       { return Order{}, ErrNotFound }
func (f *fakeOrders) List(context.Context, int, int) ([]Order, error) { return nil, nil }
func (f *fakeOrders) Customers(context.Context) ([]Customer, error)   { return nil, nil }
func (f *fakeOrders) Items(context.Context) ([]Item, error)           { return nil, nil }

const goodOrder = `{"customer":{"customerId":1},"shippingAddress":{"street":"a","zip":"1","city":"c"},
	"billingAddress":{"street":"a","zip":"1","city":"c"},"orderLine":[{"count":1,"item":{"itemId":1}}]}`

func TestBadInputChangesNothing(t *testing.T) {
	ce := map[string]string{"Ce-Specversion": "1.0", "Ce-Type": "com.example.order.place", "Ce-Source": "/t", "Ce-Id": "1", "Content-Type": "application/json"}
	without := func(key string) map[string]string {
		h := map[string]string{}
		for k, v := range ce {
			if k != key {
				h[k] = v
			}
		}
		return h
	}
	with := func(key, value string) map[string]string {
		h := without(key)
		h[key] = value
		return h
	}
	tests := []struct {
		name       string
		method     string
		path       string
		header     map[string]string
		body       string
		wantStatus int
		wantError  string
	}{
		{"api malformed JSON", "POST", "/api/orders", map[string]string{"Content-Type": "application/json"}, `{"customer":`, 400, "malformed JSON"},
		{"api not JSON", "POST", "/api/orders", map[string]string{"Content-Type": "text/plain"}, goodOrder, 415, "want Content-Type application/json"},
		{"api too large", "POST", "/api/orders", map[string]string{"Content-Type": "application/json"}, `{"x":"` + strings.Repeat("a", 70<<10) + `"}`, 413, "too large"},
		{"api two values", "POST", "/api/orders", map[string]string{"Content-Type": "application/json"}, goodOrder + goodOrder, 400, "more than one value"},
		{"api empty street", "POST", "/api/orders", map[string]string{"Content-Type": "application/json"}, strings.Replace(goodOrder, `"street":"a"`, `"street":" "`, 1), 400, "shippingAddress.street: street is required"},
		{"api negative count", "POST", "/api/orders", map[string]string{"Content-Type": "application/json"}, strings.Replace(goodOrder, `"count":1`, `"count":-2`, 1), 400, "count must be between 1 and 1000"},
		{"event without id", "POST", "/", without("Ce-Id"), goodOrder, 400, "id"},
		{"event of unknown type", "POST", "/", with("Ce-Type", "com.example.order.shipped"), goodOrder, 400, "unknown event type"},
		{"event with bad data", "POST", "/", ce, `not json`, 400, "malformed order data"},
		{"event with XML data", "POST", "/", with("Content-Type", "application/xml"), `<order/>`, 415, "want application/json"},
		{"not an event", "POST", "/", map[string]string{"Content-Type": "application/json"}, goodOrder, 415, "ce-specversion"},
		{"bad structured event", "POST", "/", map[string]string{"Content-Type": "application/cloudevents+json"}, `{"specversion":"1.0"}`, 400, "malformed CloudEvent"},
		{"unknown order id", "GET", "/api/orders/abc", nil, "", 400, "positive number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := &fakeOrders{}
			h := testServer(store)
			req := httptest.NewRequest(tt.method, tt.path, strings.NewReader(tt.body))
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.wantStatus {
				t.Errorf("status = %d, want %d (body %s)", rec.Code, tt.wantStatus, rec.Body)
			}
			var p struct{ Error string }
			json.Unmarshal(rec.Body.Bytes(), &p)
			if !strings.Contains(p.Error, tt.wantError) {
				t.Errorf("error = %q, want it to mention %q", p.Error, tt.wantError)
			}
			if len(store.placed) != 0 {
				t.Errorf("bad input reached the store: %+v", store.placed)
			}
		})
	}
}

func TestPlaceEventReply(t *testing.T) {
	store := &fakeOrders{}
	req := httptest.NewRequest("POST", "/", strings.NewReader(goodOrder))
	for k, v := range map[string]string{"Ce-Specversion": "1.0", "Ce-Type": "com.example.order.place", "Ce-Source": "/t", "Ce-Id": "1", "Content-Type": "application/json"} {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	testServer(store).ServeHTTP(rec, req)
	got := map[string]string{}
	for _, k := range []string{"Ce-Id", "Ce-Type", "Ce-Source", "Ce-Subject"} {
		got[k] = rec.Header().Get(k)
	}
	want := map[string]string{"Ce-Id": "ev-1", "Ce-Type": "com.example.order.placed", "Ce-Source": "/order", "Ce-Subject": "1"}
	if rec.Code != http.StatusCreated {
		t.Errorf("status = %d, want 201", rec.Code)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("reply attributes (-want +got):\n%s", diff)
	}
}

func testServer(store orders) http.Handler {
	pages := web.LazyPages(pageFiles, "pages/*.html")
	s := &server{store: store, wakeRelay: func() {}, pages: pages, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	return s.routes()
}

// TestMenu: on a cluster the Istio route rewrites "/" to order's /menu.
func TestMenu(t *testing.T) {
	pages := web.LazyPages(pageFiles, "pages/*.html")
	menu := web.Menu()
	s := &server{store: &fakeOrders{}, wakeRelay: func() {}, pages: pages, menu: menu, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	rec := httptest.NewRecorder()
	s.routes().ServeHTTP(rec, httptest.NewRequest("GET", "/menu", nil))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `href="order/"`) {
		t.Errorf("GET /menu = %d, body without the link to order/:\n%s", rec.Code, rec.Body)
	}
}
