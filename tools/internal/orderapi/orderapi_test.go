package orderapi

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/mskafka/knative-functions/shared/money"
)

// A request names its key in both addresses (that is how the chaos checks
// find the orders it made) and knows its total.
func TestNewRequest(t *testing.T) {
	tests := []struct {
		n     int
		total money.Cents
	}{
		{0, 4200},  // 1 × iPod
		{1, 4200},  // 2 × iPod touch
		{2, 300},   // 3 × iPod nano
		{3, 10000}, // 1 × Apple TV
		{5, 6300},  // 3 × iPod touch
	}
	for _, tt := range tests {
		key := "chaos-1-2-" + strconv.Itoa(tt.n)
		r := NewRequest(tt.n, key)
		var body struct {
			Shipping struct{ Street string } `json:"shippingAddress"`
			Billing  struct{ Street string } `json:"billingAddress"`
		}
		if err := json.Unmarshal(r.Body, &body); err != nil {
			t.Fatal(err)
		}
		if r.Key != key || body.Shipping.Street != key || body.Billing.Street != key {
			t.Errorf("request %d: key %q, streets %q and %q", tt.n, r.Key, body.Shipping.Street, body.Billing.Street)
		}
		if r.Total != tt.total {
			t.Errorf("request %d: total %v, want %v", tt.n, r.Total, tt.total)
		}
	}
	if r := NewRequest(0, ""); !json.Valid(r.Body) || r.Key != "" {
		t.Errorf("a request without a key: %+v", r)
	}
}

// A placement refused with 5xx is sent again with the same key and body
// until it is answered otherwise; the answer says after how many attempts.
func TestRetryingPlacement(t *testing.T) {
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n++
		var body struct{ Customer struct{ CustomerID int } }
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || r.Header.Get("Idempotency-Key") != "k-1" || body.Customer.CustomerID != 2 {
			t.Errorf("attempt %d: key %q, body %+v, %v", n, r.Header.Get("Idempotency-Key"), body, err)
		}
		if n < 3 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Idempotent-Replayed", "true")
		w.WriteHeader(http.StatusCreated)
		w.Write([]byte(`{"id":7}`))
	}))
	defer srv.Close()
	// One connection: a refused answer held open would block the retry.
	c := Client{Base: srv.URL, HTTP: &http.Client{Timeout: 5 * time.Second, Transport: Retrying(&http.Transport{MaxConnsPerHost: 1}, 10*time.Second)}}
	target := c.Target(NewRequest(1, "k-1"))
	req, err := target.Request()
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Answer(resp.StatusCode, resp.Header, body)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Placed{Status: http.StatusCreated, ID: 7, Replayed: true}); got != want || n != 3 {
		t.Errorf("placed %+v after %d attempts, want %+v after 3", got, n, want)
	}
}
