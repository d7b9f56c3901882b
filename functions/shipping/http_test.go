package shipping

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/mskafka/knative-functions/shared/events"
	"github.com/mskafka/knative-functions/shared/sink"
)

// fakeStore keeps shipments in memory. It validates as the real store does,
// so that the HTTP tests see the same permanent errors.
type fakeStore struct {
	mu        sync.Mutex
	shipments map[int64]Shipment
	err       error // when set, every call fails with it
}

// fakeCreated is the time the fake records every shipment at.
func fakeCreated() time.Time { return time.Date(2026, 11, 25, 10, 0, 1, 0, time.UTC) }

func newFakeStore(list ...Shipment) *fakeStore {
	f := &fakeStore{shipments: map[int64]Shipment{}}
	for _, s := range list {
		f.shipments[s.ID] = s
	}
	return f
}

func (f *fakeStore) Placed(_ context.Context, _ sink.Ref, o events.Order) (sink.Outcome, error) {
	if f.err != nil {
		return "", f.err
	}
	s, err := newShipment(o)
	if err != nil {
		return "", err
	}
	s.Created = fakeCreated()
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.shipments[s.ID]; ok {
		return sink.Duplicate, nil
	}
	f.shipments[s.ID] = s
	return sink.Stored, nil
}

func (f *fakeStore) Cancelled(_ context.Context, _ sink.Ref, c events.Cancelled) (sink.Outcome, error) {
	if f.err != nil {
		return "", f.err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if s, ok := f.shipments[c.ID]; ok {
		s.Cancelled = true
		f.shipments[c.ID] = s
	}
	return sink.Stored, nil
}

func (f *fakeStore) Shipments(context.Context) ([]Shipment, error) {
	if f.err != nil {
		return nil, f.err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	list := make([]Shipment, 0, len(f.shipments))
	for _, s := range f.shipments {
		list = append(list, s)
	}
	slices.SortFunc(list, func(a, b Shipment) int { return int(b.ID - a.ID) })
	return list, nil
}

func (f *fakeStore) Shipment(_ context.Context, orderID int64) (Shipment, error) {
	if f.err != nil {
		return Shipment{}, f.err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.shipments[orderID]
	if !ok {
		return Shipment{}, fmt.Errorf("shipment %d: %w", orderID, ErrNotFound)
	}
	return s, nil
}

type fakeDB struct{ err error }

func (d fakeDB) Ping(context.Context) error { return d.err }
func (fakeDB) Close()                       {}

func newTestFunction(t *testing.T, store shipments) *Function {
	t.Helper()
	f, err := newFunction(slog.New(slog.DiscardHandler), store, fakeDB{})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func readTestdata(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// binaryEvent is a binary-mode CloudEvent request, as a KafkaSource sends it.
func binaryEvent(typ, source, id, data string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(data))
	r.Header.Set("Ce-Specversion", "1.0")
	r.Header.Set("Ce-Type", typ)
	r.Header.Set("Ce-Source", source)
	r.Header.Set("Ce-Id", id)
	r.Header.Set("Content-Type", "application/json")
	return r
}

func TestServeHTTPEvents(t *testing.T) {
	placed := testShipment()
	placed.Created = fakeCreated()

	tests := []struct {
		name       string
		request    func(t *testing.T) *http.Request
		storeErr   error
		wantStatus int
		want       []Shipment // what the store holds afterwards
	}{
		{
			name: "binary mode",
			request: func(t *testing.T) *http.Request {
				return binaryEvent(events.TypePlaced, events.SourceOrder, "e1", readTestdata(t, "order.json"))
			},
			wantStatus: http.StatusOK,
			want:       []Shipment{placed},
		},
		{
			name: "structured mode",
			request: func(t *testing.T) *http.Request {
				r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(readTestdata(t, "structured-event.json")))
				r.Header.Set("Content-Type", "application/cloudevents+json")
				return r
			},
			wantStatus: http.StatusOK,
			want:       []Shipment{placed},
		},
		{
			// The original's plain record: updated in epoch milliseconds, an
			// extra totalPrice field.
			name: "plain Kafka record",
			request: func(t *testing.T) *http.Request {
				return binaryEvent(events.TypeKafkaRecord, "/apis/v1/namespaces/default/kafkasources/shipping#order",
					"partition:2/offset:17", readTestdata(t, "original-order.json"))
			},
			wantStatus: http.StatusOK,
			want:       []Shipment{placed},
		},
		{
			name: "unknown type",
			request: func(t *testing.T) *http.Request {
				return binaryEvent("com.example.order.shipped", events.SourceOrder, "e1", readTestdata(t, "order.json"))
			},
			wantStatus: http.StatusBadRequest,
		},
		{
			name: "not a CloudEvent",
			request: func(t *testing.T) *http.Request {
				r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(readTestdata(t, "order.json")))
				r.Header.Set("Content-Type", "application/json")
				return r
			},
			wantStatus: http.StatusUnsupportedMediaType,
		},
		{
			name: "malformed JSON data",
			request: func(*testing.T) *http.Request {
				return binaryEvent(events.TypePlaced, events.SourceOrder, "e1", `{"id": 7, "customer":`)
			},
			wantStatus: http.StatusBadRequest,
		},
		{
			name: "no shipping address",
			request: func(t *testing.T) *http.Request {
				data := strings.Replace(readTestdata(t, "order.json"), `"city": "Berlin"`, `"city": ""`, 1)
				return binaryEvent(events.TypePlaced, events.SourceOrder, "e1", data)
			},
			wantStatus: http.StatusBadRequest,
		},
		{
			name: "database down",
			request: func(t *testing.T) *http.Request {
				return binaryEvent(events.TypePlaced, events.SourceOrder, "e1", readTestdata(t, "order.json"))
			},
			storeErr:   errors.New("connection refused"),
			wantStatus: http.StatusInternalServerError,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := newFakeStore()
			store.err = tt.storeErr
			f := newTestFunction(t, store)
			w := httptest.NewRecorder()
			f.ServeHTTP(w, tt.request(t))
			if w.Code != tt.wantStatus {
				t.Errorf("status = %d, want %d; body: %s", w.Code, tt.wantStatus, w.Body)
			}
			store.err = nil
			got, _ := store.Shipments(t.Context())
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("stored (-want +got):\n%s", diff)
			}
		})
	}
}

func TestServeHTTPQueries(t *testing.T) {
	stored := testShipment()
	stored.Created = fakeCreated()
	golden := readTestdata(t, "shipment.json")

	tests := []struct {
		method, path string
		wantStatus   int
		wantType     string
		wantJSON     string   // the whole body, when JSON
		wantParts    []string // parts the body must contain
	}{
		{method: "GET", path: "/api/shipments/7", wantStatus: 200, wantType: "application/json", wantJSON: golden},
		{method: "GET", path: "/api/shipments", wantStatus: 200, wantType: "application/json", wantJSON: "[" + golden + "]"},
		{method: "GET", path: "/api/shipments/8", wantStatus: 404, wantType: "application/json", wantJSON: `{"error": "no shipment for order 8"}`},
		{method: "GET", path: "/api/shipments/seven", wantStatus: 400, wantType: "application/json", wantJSON: `{"error": "order id \"seven\" is not a number"}`},
		{method: "GET", path: "/", wantStatus: 200, wantType: "text/html; charset=utf-8",
			wantParts: []string{`<a href="./7">#7</a>`, `href="static/style.css"`, "Eberhard Wolff", "10999 Berlin", "to ship"}},
		{method: "GET", path: "/7", wantStatus: 200, wantType: "text/html; charset=utf-8",
			wantParts: []string{`<a href="./">`, "Ohlauer Str. 43", "<td>iPod nano</td>", "2026-11-25 10:00:00 UTC", `href="./api/shipments/7"`}},
		{method: "GET", path: "/static/style.css", wantStatus: 200, wantType: "text/css; charset=utf-8"},
		{method: "GET", path: "/8", wantStatus: 404},
		{method: "GET", path: "/seven", wantStatus: 400},
		{method: "DELETE", path: "/", wantStatus: 405},
	}
	f := newTestFunction(t, newFakeStore(stored))
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			w := httptest.NewRecorder()
			f.ServeHTTP(w, httptest.NewRequest(tt.method, tt.path, nil))
			if w.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body: %s", w.Code, tt.wantStatus, w.Body)
			}
			if tt.wantType != "" {
				if got := w.Header().Get("Content-Type"); got != tt.wantType {
					t.Errorf("Content-Type = %q, want %q", got, tt.wantType)
				}
			}
			if tt.wantJSON != "" {
				if diff := cmp.Diff(decodeJSON(t, tt.wantJSON), decodeJSON(t, w.Body.String())); diff != "" {
					t.Errorf("body (-want +got):\n%s", diff)
				}
			}
			for _, part := range tt.wantParts {
				if !strings.Contains(w.Body.String(), part) {
					t.Errorf("body lacks %q:\n%s", part, w.Body)
				}
			}
		})
	}
}

func TestServeHTTPEmptyList(t *testing.T) {
	f := newTestFunction(t, newFakeStore())
	for path, want := range map[string]string{"/api/shipments": "[]", "/": "No shipments yet."} {
		w := httptest.NewRecorder()
		f.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		body, _ := io.ReadAll(w.Body)
		if w.Code != http.StatusOK || !strings.Contains(string(body), want) {
			t.Errorf("GET %s = %d %s, want 200 with %s", path, w.Code, body, want)
		}
	}
}

func TestReady(t *testing.T) {
	for _, pingErr := range []error{nil, errors.New("connection refused")} {
		f, err := newFunction(slog.New(slog.DiscardHandler), newFakeStore(), fakeDB{err: pingErr})
		if err != nil {
			t.Fatal(err)
		}
		ready, err := f.Ready(t.Context())
		if ready != (pingErr == nil) || (err == nil) != (pingErr == nil) {
			t.Errorf("ping error %v: Ready = %v, %v", pingErr, ready, err)
		}
	}
}

func decodeJSON(t *testing.T, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("decode %s: %v", s, err)
	}
	return v
}
