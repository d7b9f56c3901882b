package order

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
)

// ceHeaders are the headers of a binary-mode place command.
func ceHeaders(id string) map[string]string {
	return map[string]string{"Ce-Specversion": "1.0", "Ce-Type": "com.example.order.place", "Ce-Source": "/t", "Ce-Id": id, "Content-Type": "application/json"}
}

var (
	jsonHeader = map[string]string{"Content-Type": "application/json"}
	formHeader = map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Sec-Fetch-Site": "same-origin"}
)

func withHeader(h map[string]string, key, value string) map[string]string {
	out := map[string]string{key: value}
	for k, v := range h {
		if k != key {
			out[k] = v
		}
	}
	return out
}

// withStreet is goodOrder with another shipping street, given as JSON
// string content (escapes allowed).
func withStreet(street string) string {
	return strings.Replace(goodOrder, `"street":"a"`, `"street":"`+street+`"`, 1)
}

func formBody(changes ...string) string {
	return orderForm(changes...).Encode()
}

// TestPostgresBadInputWritesNothing sends each class of bad input that
// was once answered 5xx, or silently altered, through the handlers to the
// real store: each is a 4xx saying what is wrong, and no row is written.
func TestPostgresBadInputWritesNothing(t *testing.T) {
	pool := testPool(t)
	h := testServer(NewStore(pool))
	tests := []struct {
		name       string
		method     string
		path       string
		header     map[string]string
		body       string
		wantStatus int
		wantMsg    string
	}{
		{"api NUL in an address", "POST", "/api/orders", jsonHeader, withStreet(`Ohlauer\u0000Str.`), 400, "shippingAddress.street: street contains the control character U+0000"},
		{"api terminal escape in an address", "POST", "/api/orders", jsonHeader, withStreet(`\u001b[2JOhlauer`), 400, "control character U+001B"},
		{"api only a zero-width space", "POST", "/api/orders", jsonHeader, withStreet(`\u200b`), 400, "street has nothing visible in it"},
		{"api lone surrogate", "POST", "/api/orders", jsonHeader, withStreet(`\ud800`), 400, "replacement character U+FFFD"},
		{"api invalid UTF-8", "POST", "/api/orders", jsonHeader, withStreet("Ohlauer \xff"), 400, "invalid UTF-8 at byte"},
		{"api 201 characters", "POST", "/api/orders", jsonHeader, withStreet(strings.Repeat("€", 201)), 400, "longer than 200 characters"},
		{"api Idempotency-Key with a space", "POST", "/api/orders", withHeader(jsonHeader, "Idempotency-Key", "a b"), goodOrder, 400, "Idempotency-Key may hold only visible ASCII"},
		{"api Idempotency-Key too long", "POST", "/api/orders", withHeader(jsonHeader, "Idempotency-Key", strings.Repeat("k", 256)), goodOrder, 400, "Idempotency-Key must be 1 to 255 characters"},
		{"api page past the end of int64", "GET", "/api/orders?page=9223372036854775807", nil, "", 400, "page must be a whole number from 1 to 1000000"},
		{"api page not a number", "GET", "/api/orders?page=two", nil, "", 400, "page must be a whole number"},
		{"event NUL in an address", "POST", "/", ceHeaders("nul"), withStreet(`\u0000`), 400, "control character U+0000"},
		{"event invalid UTF-8 in its data", "POST", "/", ceHeaders("utf8"), withStreet("\xc3("), 400, "malformed order data: malformed JSON: invalid UTF-8"},
		{"event id of 900 KB", "POST", "/", map[string]string{"Content-Type": "application/cloudevents+json"},
			`{"specversion":"1.0","type":"com.example.order.place","source":"/t","id":"` + strings.Repeat("x", 60<<10) + `","data":` + goodOrder + `}`, 400, "at most 1024 are accepted"},
		{"event id not UTF-8", "POST", "/", ceHeaders("order-\xff"), goodOrder, 400, "id is not valid UTF-8"},
		{"event source with a control character", "POST", "/", withHeader(ceHeaders("1"), "Ce-Source", "/t\x01"), goodOrder, 400, "invalid control character"},
		{"event id with a control character", "POST", "/", ceHeaders("a\x01b"), goodOrder, 400, "id contains a control character"},
		{"event id of 2 kB", "POST", "/", ceHeaders(strings.Repeat("x", 2048)), goodOrder, 400, "id is 2048 bytes long"},
		{"form NUL in an address", "POST", "/new", formHeader, formBody("shippingStreet", "Ohlauer\x00Str."), 422, "Street contains the control character U&#43;0000"},
		{"form invalid UTF-8", "POST", "/new", formHeader, formBody("shippingCity", "Berlin\xff"), 400, "form field"},
		{"form bad percent encoding", "POST", "/new", formHeader, "customer=%zz", 400, "The form could not be read"},
		{"form too large", "POST", "/new", formHeader, formBody("shippingStreet", strings.Repeat("a", 70<<10)), 413, "The form is larger than 65536 bytes."},
		{"form bad token", "POST", "/new", formHeader, formBody("token", "a\tb"), 400, "the form&#39;s token may hold only visible ASCII"},
		{"list page past the end of int64", "GET", "/?page=9223372036854775807", nil, "", 400, "page must be a whole number from 1 to 1000000"},
		{"static invalid UTF-8", "GET", "/static/%ff", nil, "", 404, "no such file"},
		{"static directory", "GET", "/static/", nil, "", 404, "no such file"},
		{"static template source", "GET", "/static/layout.html", nil, "", 404, "no such file"},
		{"scripts directory", "GET", "/scripts/", nil, "", 404, "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, tt.path, strings.NewReader(tt.body))
			for k, v := range tt.header {
				req.Header[http.CanonicalHeaderKey(k)] = []string{v}
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.wantStatus {
				t.Errorf("status = %d, want %d (body %.300s)", rec.Code, tt.wantStatus, rec.Body)
			}
			if body := rec.Body.String(); !strings.Contains(body, tt.wantMsg) {
				t.Errorf("answer does not say %q:\n%s", tt.wantMsg, body)
			}
			if got := rec.Header().Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options = %q, want nosniff", got)
			}
			assertNothingWritten(t, pool)
		})
	}
}

// rows counts what the order schema holds.
type rows struct{ Orders, Commands, Outbox int }

func countRows(t *testing.T, pool *pgxpool.Pool) rows {
	t.Helper()
	var r rows
	err := pool.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM orders), (SELECT count(*) FROM command), (SELECT count(*) FROM outbox)`).
		Scan(&r.Orders, &r.Commands, &r.Outbox)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func assertNothingWritten(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	if got := countRows(t, pool); got != (rows{}) {
		t.Errorf("bad input wrote rows: %+v", got)
	}
}
