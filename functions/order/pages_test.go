package order

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mskafka/knative-functions/shared/events"
	"github.com/mskafka/knative-functions/shared/money"
	"github.com/mskafka/knative-functions/shared/web"
)

// pageStore keeps orders in memory for the page tests, checking requests
// as the real store does.
type pageStore struct {
	mu     sync.Mutex
	orders []Order
}

func pageItems() []Item {
	return []Item{{ItemID: 1, Name: "iPod", Price: 4200}, {ItemID: 2, Name: "iPod touch", Price: 2100}}
}

func (s *pageStore) Place(_ context.Context, req Request, _ *CommandKey) (Placed, error) {
	if bad := req.Check(); bad.orNil() != nil {
		return Placed{}, bad
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o := Order{Status: StatusPlaced, Created: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)}
	o.ID = int64(len(s.orders) + 1)
	o.EventID = fmt.Sprintf("event-%d", o.ID)
	o.Customer = events.Customer{CustomerID: req.CustomerID, Name: "Wolff", Firstname: "Eberhard", Email: "eberhard.wolff@gmail.com"}
	o.ShippingAddress, o.BillingAddress = req.ShippingAddress, req.BillingAddress
	for _, l := range req.Lines {
		it := pageItems()[l.ItemID-1]
		o.OrderLine = append(o.OrderLine, events.Line{Count: l.Count, Item: it})
		o.Total += it.Price.Times(l.Count)
	}
	o.NumberOfLines = len(o.OrderLine)
	o.Updated = events.Time{Time: o.Created}
	s.orders = append(s.orders, o)
	return Placed{Order: o, Event: OutboxRecord{ID: "ev", OrderID: o.ID}}, nil
}

func (s *pageStore) Cancel(_ context.Context, id int64) (Order, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if id < 1 || int(id) > len(s.orders) {
		return Order{}, ErrNotFound
	}
	s.orders[id-1].Status = StatusCancelled
	return s.orders[id-1], nil
}

func (s *pageStore) Get(_ context.Context, id int64) (Order, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if id < 1 || int(id) > len(s.orders) {
		return Order{}, ErrNotFound
	}
	return s.orders[id-1], nil
}

func (s *pageStore) List(_ context.Context, limit, offset int) ([]Order, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Order
	for i := len(s.orders) - 1 - offset; i >= 0 && len(out) < limit; i-- {
		out = append(out, s.orders[i])
	}
	return out, nil
}

func (s *pageStore) Customers(context.Context) ([]Customer, error) {
	return []Customer{{CustomerID: 1, Name: "Wolff", Firstname: "Eberhard", Email: "eberhard.wolff@gmail.com"}}, nil
}

func (s *pageStore) Items(context.Context) ([]Item, error) { return pageItems(), nil }

func pageServer(t *testing.T, store orders) http.Handler {
	t.Helper()
	pages := web.LazyPages(pageFiles, "pages/*.html")
	s := &server{store: store, wakeRelay: func() {}, pages: pages, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	return s.routes()
}

// post sends a form as a browser on the same site does.
func post(h http.Handler, path string, form url.Values, site string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", site)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func get(h http.Handler, path string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec
}

func orderForm(changes ...string) url.Values {
	v := url.Values{"customer": {"1"}, "shippingStreet": {"Ohlauer Str. 43"}, "shippingZip": {"10999"}, "shippingCity": {"Berlin"},
		"billingSame": {"1"}, "item": {"1", "2"}, "count": {"2", "3"}, "action": {"place"}}
	for i := 0; i+1 < len(changes); i += 2 {
		if changes[i+1] == "" {
			v.Del(changes[i])
		} else {
			v[changes[i]] = strings.Split(changes[i+1], ",")
		}
	}
	return v
}

func TestOrderForm(t *testing.T) {
	tests := []struct {
		name       string
		form       url.Values
		wantStatus int
		wantLines  int
		wantParts  []string // in the page shown again
		wantPlaced bool
	}{
		{name: "place", form: orderForm(), wantStatus: http.StatusSeeOther, wantPlaced: true},
		{name: "add a line", form: orderForm("action", "add-line"), wantStatus: 200, wantLines: 3,
			wantParts: []string{`value="Ohlauer Str. 43"`, `<option value="2" data-price="21.00" selected>`, `id="item2"`}},
		{name: "remove the first line", form: orderForm("action", "remove-line-0"), wantStatus: 200, wantLines: 1,
			wantParts: []string{`<option value="2" data-price="21.00" selected>`, `id="count0" name="count" inputmode="numeric" autocomplete="off" value="3"`}},
		{name: "the last line stays", form: orderForm("action", "remove-line-0", "item", "1", "count", "1"), wantStatus: 200, wantLines: 1},
		{name: "no ZIP code", form: orderForm("shippingZip", ""), wantStatus: 422, wantLines: 2,
			wantParts: []string{`aria-invalid="true" aria-describedby="shippingZip-error"`, `<p class="field-error" id="shippingZip-error">Enter the ZIP code.</p>`,
				`<a href="#shippingZip">Shipping address: Enter the ZIP code.</a>`, `value="Ohlauer Str. 43"`}},
		{name: "a count that is no number", form: orderForm("count", "2,three"), wantStatus: 422, wantLines: 2,
			wantParts: []string{`<p class="field-error" id="count1-error">Count must be a whole number.</p>`, `value="three"`}},
		{name: "no item", form: orderForm("item", "1,"), wantStatus: 422, wantLines: 2,
			wantParts: []string{`<p class="field-error" id="item1-error">Choose an item.</p>`, `<a href="#item1">Line 2: Choose an item.</a>`}},
		{name: "billing problems are not shown twice", form: orderForm("shippingCity", " "), wantStatus: 422,
			wantLines: 2, wantParts: []string{"1 field needs a correction", `id="shippingCity-error"`}},
		{name: "own billing address", form: orderForm("billingSame", "", "billingStreet", "Krischerstr. 100", "billingZip", "40789"), wantStatus: 422,
			wantLines: 2, wantParts: []string{`<p class="field-error" id="billingCity-error">Enter the city.</p>`, `value="Krischerstr. 100"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := &pageStore{}
			rec := post(pageServer(t, store), "/new", tt.form, "same-origin")
			if rec.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body:\n%s", rec.Code, tt.wantStatus, rec.Body)
			}
			if placed := len(store.orders) > 0; placed != tt.wantPlaced {
				t.Errorf("placed = %v, want %v", placed, tt.wantPlaced)
			}
			if tt.wantPlaced {
				// Relative, so that it works behind the gateway's prefix.
				if got := rec.Header().Get("Location"); got != "1" {
					t.Errorf("Location = %q, want %q", got, "1")
				}
				return
			}
			body := rec.Body.String()
			if got := strings.Count(body, `<div class="line">`); got != tt.wantLines {
				t.Errorf("the form shows %d lines, want %d", got, tt.wantLines)
			}
			for _, part := range tt.wantParts {
				if !strings.Contains(body, part) {
					t.Errorf("page lacks %s", part)
				}
			}
		})
	}
}

func TestCancel(t *testing.T) {
	store := &pageStore{}
	h := pageServer(t, store)
	post(h, "/new", orderForm(), "same-origin")

	// Without the confirmation, the form shows it and cancels nothing.
	rec := post(h, "/1/cancel", url.Values{}, "same-origin")
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "../1?cancel" || store.orders[0].Status != StatusPlaced {
		t.Fatalf("cancel without confirm: %d to %q, order %s", rec.Code, rec.Header().Get("Location"), store.orders[0].Status)
	}
	page := get(h, "/1?cancel").Body.String()
	for _, part := range []string{`<form method="post" action="1/cancel" class="actions">`, `<input type="hidden" name="confirm" value="yes">`, "Yes, cancel order #1"} {
		if !strings.Contains(page, part) {
			t.Errorf("confirmation page lacks %s", part)
		}
	}
	if strings.Contains(page, `id="cancel-order"`) {
		t.Error("the confirmation page also shows the cancel button")
	}

	rec = post(h, "/1/cancel", url.Values{"confirm": {"yes"}}, "same-origin")
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "../1" || store.orders[0].Status != StatusCancelled {
		t.Fatalf("confirmed cancel: %d to %q, order %s", rec.Code, rec.Header().Get("Location"), store.orders[0].Status)
	}
	page = get(h, "/1").Body.String()
	for _, part := range []string{`data-step="cancelled"`, `data-step="shipment-cancelled"`, `data-step="invoice-cancelled"`, `data-status="cancelled"`} {
		if !strings.Contains(page, part) {
			t.Errorf("the cancelled order's page lacks %s", part)
		}
	}
	if strings.Contains(page, `id="cancel-order"`) {
		t.Error("a cancelled order can be cancelled again")
	}
}

func TestCrossSiteFormsRefused(t *testing.T) {
	store := &pageStore{}
	h := pageServer(t, store)
	post(h, "/new", orderForm(), "same-origin")
	for _, path := range []string{"/new", "/1/cancel"} {
		rec := post(h, path, orderForm("confirm", "yes"), "cross-site")
		if rec.Code != http.StatusForbidden {
			t.Errorf("cross-site POST %s: status %d, want 403", path, rec.Code)
		}
	}
	if len(store.orders) != 1 || store.orders[0].Status != StatusPlaced {
		t.Errorf("cross-site posts changed the orders: %+v", store.orders)
	}
}

func TestJourney(t *testing.T) {
	published := time.Date(2026, 11, 25, 10, 0, 0, 84_000_000, time.UTC)
	store := &pageStore{}
	h := pageServer(t, store)
	post(h, "/new", orderForm(), "same-origin")

	// While the event waits in the outbox, the page says so and, without
	// JavaScript, reloads itself; shipping and invoicing are not guessed.
	page := get(h, "/1").Body.String()
	for _, part := range []string{
		`<li class="step pending" data-step="published">`,
		`<li class="step unknown" data-step="shipment">`,
		`<li class="step unknown" data-step="invoice">`,
		`<noscript><meta http-equiv="refresh" content="2"></noscript>`,
		`data-shipment="../shipping/api/shipments/1"`,
		`data-invoice="../invoicing/api/invoices/1"`,
		`data-order="api/orders/1"`,
		`<script src="scripts/journey.js" defer></script>`,
	} {
		if !strings.Contains(page, part) {
			t.Errorf("page of an unpublished order lacks %s", part)
		}
	}

	store.orders[0].Published = &published
	store.orders[0].EventID = "c0e49976"
	page = get(h, "/1").Body.String()
	for _, part := range []string{`<li class="step done" data-step="published">`, `<time datetime="2026-11-25T10:00:00.084Z">10:00:00.084</time>`, "0.084 s", "c0e49976"} {
		if !strings.Contains(page, part) {
			t.Errorf("page of a published order lacks %s", part)
		}
	}
	if strings.Contains(page, "http-equiv") {
		t.Error("a published order's page still reloads itself")
	}

	// Once retention deleted its sent outbox row, the order was published
	// long ago: no reload, and no event id to show.
	store.orders[0].Published, store.orders[0].EventID = nil, ""
	page = get(h, "/1").Body.String()
	for _, part := range []string{`<li class="step done" data-step="published">`, "OUTBOX_RETENTION"} {
		if !strings.Contains(page, part) {
			t.Errorf("page of an order whose outbox row is deleted lacks %s", part)
		}
	}
	if strings.Contains(page, "http-equiv") {
		t.Error("an order whose outbox row is deleted reloads itself")
	}
}

func TestPagesShowMarkupAsText(t *testing.T) {
	store := &pageStore{}
	h := pageServer(t, store)
	const street = `<script>alert(1)</script><img src=x onerror=alert(2)>`
	post(h, "/new", orderForm("shippingStreet", street), "same-origin")
	for _, path := range []string{"/1", "/"} {
		body := get(h, path).Body.String()
		if strings.Contains(body, "<script>alert") || strings.Contains(body, "<img src=x") {
			t.Errorf("GET %s: the street is markup on the page", path)
		}
	}
	if body := get(h, "/1").Body.String(); !strings.Contains(body, "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;") {
		t.Error("the street is not shown as text")
	}
	rec := post(h, "/new", orderForm("shippingStreet", street, "shippingZip", ""), "same-origin")
	if body := rec.Body.String(); !strings.Contains(body, `value="&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;"`) {
		t.Errorf("the form shown again does not keep the street as text:\n%s", body)
	}
}

// TestPagesRunNoInlineScript checks what the Content-Security-Policy
// forbids: no page may carry inline script, event handler or style.
func TestPagesRunNoInlineScript(t *testing.T) {
	store := &pageStore{}
	h := pageServer(t, store)
	post(h, "/new", orderForm(), "same-origin")
	inline := regexp.MustCompile(`<script>|<script [^>]*>[^<]|\son[a-z]+=|\sstyle=|<style`)
	for _, path := range []string{"/", "/new", "/1", "/1?cancel", "/nowhere/at/all"} {
		rec := get(h, path)
		if got := rec.Header().Get("Content-Security-Policy"); !strings.Contains(got, "script-src 'self'") || strings.Contains(got, "unsafe-inline") {
			t.Errorf("GET %s: Content-Security-Policy %q", path, got)
		}
		if m := inline.FindString(rec.Body.String()); m != "" {
			t.Errorf("GET %s: inline %q", path, m)
		}
	}
	for _, path := range []string{"/scripts/journey.js", "/scripts/form.js", "/static/style.css", "/static/favicon.svg"} {
		if rec := get(h, path); rec.Code != http.StatusOK {
			t.Errorf("GET %s: %d", path, rec.Code)
		}
	}
}

func TestOrderList(t *testing.T) {
	store := &pageStore{}
	h := pageServer(t, store)
	if body := get(h, "/").Body.String(); !strings.Contains(body, "No orders yet.") {
		t.Error("the empty list does not say so")
	}
	for range pageSize + 1 {
		post(h, "/new", orderForm(), "same-origin")
	}
	ids := regexp.MustCompile(`<td><a href="(\d+)">`)
	first := ids.FindAllStringSubmatch(get(h, "/").Body.String(), -1)
	second := get(h, "/?page=2").Body.String()
	if len(first) != pageSize || first[0][1] != "21" || first[pageSize-1][1] != "2" {
		t.Errorf("page 1 lists %d orders from %v: want the 20 newest", len(first), first[0])
	}
	if got := ids.FindAllStringSubmatch(second, -1); len(got) != 1 || got[0][1] != "1" {
		t.Errorf("page 2 lists %v, want only order 1", got)
	}
	if !strings.Contains(second, `<a href="?page=1" rel="prev">`) {
		t.Error("page 2 has no link back to page 1")
	}
	if total := money.Cents(2*4200 + 3*2100); !strings.Contains(second, "<td class=\"num\">"+total.String()+" €</td>") {
		t.Errorf("the list lacks the total %s", total)
	}
}

func TestNotFoundPages(t *testing.T) {
	h := pageServer(t, &pageStore{})
	for path, want := range map[string]string{
		"/7":              "There is no order #7.",
		"/shipping/api/x": "There is no page at this address.",
		"/seven":          "order pages have numbers",
		"/7/cancel/more":  "There is no page at this address.",
	} {
		rec := get(h, path)
		if rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), want) {
			t.Errorf("GET %s = %d, want 404 saying %q", path, rec.Code, want)
		}
	}
}

func TestSentence(t *testing.T) {
	for in, want := range map[string]string{"choose a customer": "Choose a customer.", "unknown item 9.": "Unknown item 9.", "": ""} {
		if diff := cmp.Diff(want, sentence(in)); diff != "" {
			t.Errorf("sentence(%q) (-want +got):\n%s", in, diff)
		}
	}
}
