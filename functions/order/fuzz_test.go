package order

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// checkedText fails t when an address field that Check let through could
// be altered on the way or mismeasured.
func checkedText(t *testing.T, field, v string) {
	t.Helper()
	switch {
	case v != strings.TrimSpace(v):
		t.Fatalf("%s %q is not trimmed", field, v)
	case !utf8.ValidString(v) || strings.ContainsRune(v, utf8.RuneError):
		t.Fatalf("%s %q is not clean UTF-8", field, v)
	case strings.IndexFunc(v, unicode.IsControl) >= 0:
		t.Fatalf("%s %q holds a control character", field, v)
	case v == "" || utf8.RuneCountInString(v) > MaxFieldLength:
		t.Fatalf("%s %q: %d characters", field, v, utf8.RuneCountInString(v))
	}
}

// checkedRequest fails t when req, which Check accepted, breaks a limit.
func checkedRequest(t *testing.T, req Request) {
	t.Helper()
	for _, a := range []struct {
		name string
		v    string
	}{
		{"shippingAddress.street", req.ShippingAddress.Street}, {"shippingAddress.zip", req.ShippingAddress.Zip}, {"shippingAddress.city", req.ShippingAddress.City},
		{"billingAddress.street", req.BillingAddress.Street}, {"billingAddress.zip", req.BillingAddress.Zip}, {"billingAddress.city", req.BillingAddress.City},
	} {
		checkedText(t, a.name, a.v)
	}
	if req.CustomerID <= 0 || len(req.Lines) == 0 || len(req.Lines) > MaxLines {
		t.Fatalf("accepted customer %d with %d lines", req.CustomerID, len(req.Lines))
	}
	for i, l := range req.Lines {
		if l.ItemID <= 0 || l.Count < 1 || l.Count > MaxCount {
			t.Fatalf("accepted line %d: %+v", i, l)
		}
	}
}

var fuzzOrders = []string{
	goodOrder,
	withStreet(`\u0000`),
	withStreet(`\ud800`),
	withStreet("\xff"),
	withStreet(`\u200b`),
	withStreet(strings.Repeat("€", 200)),
	`{"customer":{"customerId":9223372036854775807},"orderLine":[{"count":2147483648,"item":{"itemId":-1}}]}`,
	`{"customer":{"customerId":1},"orderLine":null}`,
	`[]`, `null`, `{"customer":`, goodOrder + `{}`,
}

// FuzzDecodeOrder: the order request decoding and validation that the API
// and the command share. Whatever they accept is clean, bounded and has a
// stable digest.
func FuzzDecodeOrder(f *testing.F) {
	for _, s := range fuzzOrders {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := decodeOrder(data)
		if err != nil {
			return
		}
		if bad := req.Check(); bad.orNil() != nil {
			return
		}
		checkedRequest(t, req)
		again := req
		if bad := again.Check(); bad.orNil() != nil {
			t.Fatalf("a checked request fails a second check: %v", bad)
		}
		if string(again.Digest()) != string(req.Digest()) {
			t.Fatal("checking twice changed the digest")
		}
	})
}

// FuzzPlaceEvent: a com.example.order.place CloudEvent, in binary or
// structured mode, with any id, source, content type and data, is answered
// 2xx or 4xx, never 5xx, and what reaches the store is a checked request.
func FuzzPlaceEvent(f *testing.F) {
	for i, s := range fuzzOrders {
		f.Add("id-1", "/t", "application/json", []byte(s), i%2 == 0)
	}
	f.Add("\xff", "/t", "application/json", []byte(goodOrder), false)
	f.Add("a\x00b", "", "text/plain", []byte("x"), false)
	f.Add("", "/t", "application/cloudevents+json", []byte(`{"specversion":"1.0","type":"com.example.order.place","source":"/s","id":"1","data":`+goodOrder+`}`), true)
	f.Add("1", "/t", "application/cloudevents+json", []byte(`{"specversion":"1.0","type":"com.example.order.place","source":"/s","id":"1","data_base64":"AAAA"}`), true)
	f.Add("1", "/t", "Application/CloudEvents+JSON; charset=UTF-8", []byte(`{"specversion":"1.0","type":"com.example.order.place","source":"/s","id":"1",`+
		`"time":"2026-11-25t10:00:00.5z","datacontenttype":"application/vnd.example+json","data":`+goodOrder+`}`), true)
	f.Add("1", "/t", "application/cloudevents+json", []byte(`{"specversion":"2.0","type":"dev.knative.sources.ping","source":"/s","id":"1"}`), true)
	f.Add("1", "/t", "application/cloudevents-batch+json", []byte(`[{"specversion":"1.0","type":"com.example.order.place","source":"/s","id":"1"}]`), true)
	f.Add("1", "/t", "application/json; charset=latin1", []byte(goodOrder), false)
	store := &fakeOrders{}
	h := testServer(store)
	f.Fuzz(func(t *testing.T, id, source, contentType string, body []byte, structured bool) {
		store.placed = nil
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(string(body)))
		req.Header["Content-Type"] = []string{contentType}
		if !structured {
			req.Header["Ce-Specversion"] = []string{"1.0"}
			req.Header["Ce-Type"] = []string{"com.example.order.place"}
			req.Header["Ce-Source"] = []string{source}
			req.Header["Ce-Id"] = []string{id}
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		for _, r := range store.placed {
			checkedRequest(t, r)
		}
	})
}

// FuzzOrderForm: any form body is answered with a page or a redirect and a
// 2xx, 3xx or 4xx, never 5xx; an order it places is a checked request.
func FuzzOrderForm(f *testing.F) {
	for _, s := range []string{
		formBody(), formBody("action", "add-line"), formBody("action", "remove-line-0"), formBody("action", "remove-line-99"),
		formBody("shippingStreet", "Ohlauer\x00Str."), formBody("shippingCity", "Berlin\xff"), formBody("count", "1,x"),
		formBody("token", "t-1"), formBody("token", "a b"), formBody("billingSame", "", "billingZip", "\u200b"),
		"customer=%zz", "item=1&item=2&count=1", "", "&&&=",
	} {
		f.Add(s)
	}
	store := &fakeOrders{}
	h := testServer(store)
	f.Fuzz(func(t *testing.T, body string) {
		store.placed = nil
		req := httptest.NewRequest(http.MethodPost, "/new", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		for _, r := range store.placed {
			checkedRequest(t, r)
		}
	})
}
