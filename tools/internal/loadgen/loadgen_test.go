package loadgen

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// Every request is sent once, and each hit is matched to its request.
func TestAttackMatchesHitsToRequests(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200 + len(r.URL.Query().Get("n")))
		w.Write([]byte(r.URL.Query().Get("n")))
	}))
	defer srv.Close()
	var got []int
	Attack(context.Background(), Options{Rate: 200, Max: 20, InFlight: 4, Client: srv.Client()},
		func(n int) vegeta.Target {
			return vegeta.Target{Method: http.MethodGet, URL: srv.URL + "/?n=" + string(rune('a'+n))}
		},
		func(h Hit) {
			if h.Status != 201 || string(h.Body) != string(rune('a'+h.N)) {
				t.Errorf("hit %d: status %d, body %q", h.N, h.Status, h.Body)
			}
			got = append(got, h.N)
		})
	slices.Sort(got)
	if want := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19}; !slices.Equal(got, want) {
		t.Errorf("hits %v, want %v", got, want)
	}
}

// An ended context stops the requests, and a refused connection is a hit
// without an answer.
func TestAttackStopsWithTheContext(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	n := 0
	Attack(ctx, Options{Rate: 20, Client: http.DefaultClient},
		func(int) vegeta.Target { return vegeta.Target{Method: http.MethodGet, URL: "http://127.0.0.1:1/"} },
		func(h Hit) {
			n++
			if h.Status != 0 || h.Err == "" {
				t.Errorf("hit %+v: want an error", h)
			}
		})
	if n < 2 || n > 8 {
		t.Errorf("%d hits in 300 ms at 20/s", n)
	}
}

// A tally counts the hits answered as wanted, the latencies of every answer,
// and the others by what went wrong.
func TestTally(t *testing.T) {
	var got Tally
	for _, h := range []Hit{
		{Status: 201, Latency: time.Millisecond},
		{Status: 503, Latency: 2 * time.Millisecond},
		{Err: "timeout"},
		{},
		{Status: 201, Latency: 3 * time.Millisecond},
	} {
		got.Add(h, 201)
	}
	got.Fail("undecodable")
	want := Tally{Sent: 5, OK: 2, Latencies: []time.Duration{time.Millisecond, 2 * time.Millisecond, 3 * time.Millisecond},
		Failures: map[string]int{"HTTP 503 Service Unavailable": 1, "timeout": 1, "no answer": 1, "undecodable": 1}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("tally (-want +got):\n%s", diff)
	}
}
