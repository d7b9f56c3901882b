// Package kafkatest holds what the broker tests share beyond testenv's
// Kafka handles: a recording CloudEvents sink, and a dispatcher run bound to
// a test.
package kafkatest

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

// Request is an event a Sink received.
type Request struct {
	Header http.Header
	Body   string
}

// ID returns the event's id.
func (r Request) ID() string { return r.Header.Get("Ce-Id") }

// Reply is how a Sink answers.
type Reply struct {
	Status int
	Body   string
	Delay  time.Duration
}

// Sink is a recording CloudEvents sink.
type Sink struct {
	URL string

	respond func(r Request, attempt int) Reply

	mu       sync.Mutex
	requests []Request
	attempts map[string]int
	changed  chan struct{}
}

// NewSink starts a sink that answers each request with respond, told how
// many times (from 1) it has seen that event id. A nil respond accepts all.
func NewSink(t testing.TB, respond func(r Request, attempt int) Reply) *Sink {
	if respond == nil {
		respond = func(Request, int) Reply { return Reply{Status: http.StatusAccepted} }
	}
	s := &Sink{respond: respond, attempts: make(map[string]int), changed: make(chan struct{})}
	srv := httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(srv.Close)
	s.URL = srv.URL + "/"
	return s
}

func (s *Sink) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	req := Request{Header: r.Header.Clone(), Body: string(body)}
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
func (s *Sink) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Attempts returns how many times the sink saw an event id.
func (s *Sink) Attempts(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attempts[id]
}

// WaitFor waits until the sink answered n requests and returns them.
func (s *Sink) WaitFor(t testing.TB, n int, timeout time.Duration) []Request {
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

// Run runs a dispatcher until the returned stop is called or the test ends;
// stop waits for Run to return and fails the test when that takes long.
func Run(t testing.TB, cfg dispatch.Config) (d *dispatch.Dispatcher, stop func()) {
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
