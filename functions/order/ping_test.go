package order

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestPing: the PingSource's event drains the outbox; 200 once the backlog
// is sent, 503 (retried) while Kafka is unreachable.
func TestPing(t *testing.T) {
	tests := []struct {
		name     string
		drain    func(context.Context) (int, error)
		status   int
		contains string
	}{
		{"backlog sent", func(context.Context) (int, error) { return 3, nil }, 200, `"published": 3`},
		{"kafka unreachable", func(context.Context) (int, error) { return 0, errors.New("connect to kafka: no brokers") }, 503, "no brokers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &server{store: &fakeOrders{}, wakeRelay: func() {}, drain: tt.drain, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
			req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{"drain":"outbox"}`))
			req.Header.Set("Ce-Specversion", "1.0")
			req.Header.Set("Ce-Type", typePing)
			req.Header.Set("Ce-Source", "/apis/v1/namespaces/ms-kafka/pingsources/order-outbox-drain")
			req.Header.Set("Ce-Id", "p-1")
			req.Header.Set("Content-Type", "application/json")
			rec := httptest.NewRecorder()
			s.routes().ServeHTTP(rec, req)
			if rec.Code != tt.status || !strings.Contains(rec.Body.String(), tt.contains) {
				t.Errorf("got %d %s, want %d with %q", rec.Code, rec.Body, tt.status, tt.contains)
			}
		})
	}
}
