package dispatch_test

// What the Kafka tests of the dispatcher share beyond testenv's Kafka
// handles: a recording CloudEvents sink, and a dispatcher run bound to a test.

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/mskafka/knative-functions/tools/broker/dispatch"
)

// sinkRequest is an event a testSink received.
type sinkRequest struct {
	Header http.Header
	Body   string
}

// ID returns the event's id.
func (r sinkRequest) ID() string { return r.Header.Get("Ce-Id") }

// sinkReply is how a testSink answers.
type sinkReply struct {
	Status int
	Body   string
	Delay  time.Duration
}

// testSink is a recording CloudEvents sink.
type testSink struct {
	URL string

	respond func(r sinkRequest, attempt int) sinkReply

	mu       sync.Mutex
	requests []sinkRequest
	attempts map[string]int
	changed  chan struct{}
}

// newTestSink starts a sink that answers each request with respond, told how
// many times (from 1) it has seen that event id. A nil respond accepts all.
func newTestSink(t testing.TB, respond func(r sinkRequest, attempt int) sinkReply) *testSink {
	if respond == nil {
		respond = func(sinkRequest, int) sinkReply { return sinkReply{Status: http.StatusAccepted} }
	}
	s := &testSink{respond: respond, attempts: make(map[string]int), changed: make(chan struct{})}
	srv := httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(srv.Close)
	s.URL = srv.URL + "/"
	return s
}

func (s *testSink) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	req := sinkRequest{Header: r.Header.Clone(), Body: string(body)}
	s.mu.Lock()
	s.attempts[req.ID()]++
	attempt := s.attempts[req.ID()]
	s.mu.Unlock()

	reply := s.respond(req, attempt)
	if reply.Delay > 0 {
		select {
		case <-time.After(reply.Delay):
		case <-r.Context().Done():
			return
		}
	}
	if reply.Status == 0 {
		// Hang until the client gives up, like a stuck function.
		<-r.Context().Done()
		return
	}
	s.mu.Lock()
	s.requests = append(s.requests, req)
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
	w.WriteHeader(reply.Status)
	_, _ = io.WriteString(w, reply.Body)
}

// Requests returns the requests answered so far, in order.
func (s *testSink) Requests() []sinkRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sinkRequest(nil), s.requests...)
}

// Attempts returns how many times the sink saw an event id.
func (s *testSink) Attempts(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attempts[id]
}

// WaitFor waits until the sink answered n requests and returns them.
func (s *testSink) WaitFor(t testing.TB, n int, timeout time.Duration) []sinkRequest {
	t.Helper()
	deadline := time.After(timeout)
	for {
		s.mu.Lock()
		got, changed := len(s.requests), s.changed
		s.mu.Unlock()
		if got >= n {
			return s.Requests()
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("sink answered %d requests within %v, want %d", got, timeout, n)
		}
	}
}

// runDispatcher runs a dispatcher until the returned stop is called or the test ends;
// stop waits for runDispatcher to return and fails the test when that takes long.
func runDispatcher(t testing.TB, cfg dispatch.Config) (d *dispatch.Dispatcher, stop func()) {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	d, err := dispatch.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("dispatcher: %v", err)
				}
			case <-time.After(20 * time.Second):
				t.Errorf("dispatcher did not stop within 20s of cancel")
			}
		})
	}
	t.Cleanup(stop)
	return d, stop
}
