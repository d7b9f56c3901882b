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
// is sent, 503 (retried) while Kafka is unreachable. A ping that is not a
// valid CloudEvent, or not in binary mode, is refused and drains nothing.
func TestPing(t *testing.T) {
	sent := func(context.Context) (int, error) { return 3, nil }
	pruned := func(context.Context) (Pruned, error) { return Pruned{Keys: 2, Outbox: 1}, nil }
	ping := map[string]string{"Ce-Specversion": "1.0", "Ce-Type": typePing, "Ce-Id": "p-1",
		"Ce-Source": "/apis/v1/namespaces/ms-kafka/pingsources/order-outbox-drain", "Content-Type": "application/json"}
	structured := map[string]string{"Content-Type": "application/cloudevents+json"}
	tests := []struct {
		name     string
		drain    func(context.Context) (int, error)
		prune    func(context.Context) (Pruned, error)
		header   map[string]string
		body     string
		status   int
		contains string
		drained  bool
	}{
		{"backlog sent, old rows deleted", sent, pruned, ping, `{"drain":"outbox"}`, 200, `"keys": 2,`, true},
		{"kafka unreachable", func(context.Context) (int, error) { return 0, errors.New("connect to kafka: no brokers") }, pruned, ping, `{}`, 503, "no brokers", true},
		{"retention failed", sent, func(context.Context) (Pruned, error) { return Pruned{}, errors.New("delete: timeout") }, ping, `{}`, 503, "retention: delete: timeout", true},
		{"only a ce-type header", sent, pruned, map[string]string{"Ce-Type": typePing}, ``, 400, "the ce-specversion header is missing", false},
		{"no id", sent, pruned, withHeader(ping, "Ce-Id", ""), `{}`, 400, "the ce-id header is missing", false},
		{"no source", sent, pruned, withHeader(ping, "Ce-Source", ""), `{}`, 400, "the ce-source header is missing", false},
		{"specversion 2.0", sent, pruned, withHeader(ping, "Ce-Specversion", "2.0"), `{}`, 400, `specversion \"2.0\" is not supported`, false},
		{"structured", sent, pruned, structured, `{"specversion":"1.0","type":"` + typePing + `","source":"/p","id":"p-1","data":{}}`, 415, "binary mode only", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			drained := false
			drain := func(ctx context.Context) (int, error) {
				drained = true
				return tt.drain(ctx)
			}
			s := &server{store: &fakeOrders{}, wakeRelay: func() {}, drain: drain, prune: tt.prune, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
			req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tt.body))
			for k, v := range tt.header {
				if v != "" {
					req.Header.Set(k, v)
				}
			}
			rec := httptest.NewRecorder()
			s.routes().ServeHTTP(rec, req)
			if rec.Code != tt.status || !strings.Contains(rec.Body.String(), tt.contains) {
				t.Errorf("got %d %s, want %d with %q", rec.Code, rec.Body, tt.status, tt.contains)
			}
			if drained != tt.drained {
				t.Errorf("drained = %v, want %v", drained, tt.drained)
			}
		})
	}
}
