package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		want    config
		wantErr string
	}{
		{name: "defaults", want: config{URL: "http://127.0.0.1:8080", N: 1000, Rate: 50, Concurrency: 50, Timeout: 30 * time.Second}},
		{
			name: "variables",
			env:  map[string]string{"URL": "http://gw", "N": "10", "RATE": "2.5", "CONCURRENCY": "3", "TIMEOUT": "1s"},
			want: config{URL: "http://gw", N: 10, Rate: 2.5, Concurrency: 3, Timeout: time.Second},
		},
		{
			name: "flags win over variables",
			args: []string{"-n", "7", "-url", "http://flag"},
			env:  map[string]string{"URL": "http://gw", "N": "10"},
			want: config{URL: "http://flag", N: 7, Rate: 50, Concurrency: 50, Timeout: 30 * time.Second},
		},
		{name: "bad variable", env: map[string]string{"RATE": "fast"}, wantErr: `RATE="fast"`},
		{name: "no orders", args: []string{"-n", "0"}, wantErr: "n 0: want at least 1"},
		{name: "no rate", args: []string{"-rate", "0"}, wantErr: "rate 0: want more than 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parse(tt.args, func(k string) string { return tt.env[k] }, io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parse() error = %v, want one saying %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("parse() (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	got := []time.Duration{percentile(d, 50), percentile(d, 90), percentile(d, 99), percentile(d[:1], 99)}
	want := []time.Duration{50 * time.Millisecond, 90 * time.Millisecond, 99 * time.Millisecond, time.Millisecond}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("percentiles (-want +got):\n%s", diff)
	}
}

// TestRun places orders against a stand-in for the gateway that refuses
// every fifth one, and checks what was sent and what is reported.
func TestRun(t *testing.T) {
	var n atomic.Int32
	var bad atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var order struct {
			Customer struct {
				CustomerID int `json:"customerId"`
			} `json:"customer"`
			OrderLine []struct {
				Count int `json:"count"`
				Item  struct {
					ItemID int `json:"itemId"`
				} `json:"item"`
			} `json:"orderLine"`
		}
		err := json.NewDecoder(r.Body).Decode(&order)
		if r.Method != http.MethodPost || r.URL.Path != "/order/api/orders" || r.Header.Get("Content-Type") != "application/json" ||
			err != nil || order.Customer.CustomerID < 1 || len(order.OrderLine) != 1 {
			bad.Store(r.Method + " " + r.URL.Path)
		}
		if n.Add(1)%5 == 0 {
			http.Error(w, "no", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusCreated)
	}))
	defer srv.Close()

	var out bytes.Buffer
	err := run(context.Background(), []string{"-url", srv.URL + "/", "-n", "20", "-rate", "400", "-concurrency", "4"}, &out)
	if err == nil || err.Error() != "4 of 20 orders failed" {
		t.Errorf("run() error = %v, want 4 of 20 orders failed", err)
	}
	if v := bad.Load(); v != nil {
		t.Errorf("the gateway got a request that is no valid order: %v", v)
	}
	for _, want := range []string{
		"load: 20 orders to " + srv.URL + "/order/api/orders at 400/s, at most 4 in flight",
		"sent        20 of 20 in ",
		"16 created (201)",
		"latency     p50 ",
		"errors\n         4  HTTP 503 Service Unavailable\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the report does not say %q:\n%s", want, out.String())
		}
	}
}
