// Package sinktest is the contract every sink function keeps, as one test
// suite run against the function's projection on the real Postgres that
// `make test` starts (see testenv): what its store does with events, and
// what its routes answer.
package sinktest

import (
	"encoding/json"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mskafka/knative-functions/shared/events"
	"github.com/mskafka/knative-functions/shared/sink"
	"github.com/mskafka/knative-functions/shared/testenv"
)

// Subject is a sink function under test.
type Subject[R any] struct {
	Migrations fs.FS // holding the directory "migrations"
	Site       sink.Site
	Projection sink.Projection[R]
	// Order is a file holding the data of a placed order with id 7 that
	// the projection accepts, and Record one holding the JSON its API
	// answers for it (its "created" is not compared).
	Order, Record string
}

// fixture is one test's function on a fresh schema.
type fixture struct {
	t      *testing.T
	pool   *pgxpool.Pool
	store  sink.Store
	routes http.Handler
	order  []byte
	record map[string]any
	api    string
}

func (s Subject[R]) fixture(t *testing.T, opts ...sink.Option) *fixture {
	t.Helper()
	pool := testenv.Pool(t, s.Site.Section, s.Migrations)
	if err := sink.Migrate(t.Context(), pool, s.Migrations); err != nil { // the framework's tables
		t.Fatal(err)
	}
	store := sink.NewPostgres(pool, s.Projection, append(opts, sink.WithRetention(testRetention))...)
	routes, err := sink.Routes[R](s.Site, store, store, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	record := decode(t, readFile(t, s.Record)).(map[string]any)
	delete(record, "created")
	return &fixture{t: t, pool: pool, store: store, routes: routes, order: readFile(t, s.Order), record: record,
		api: "/api/" + s.Site.Plural}
}

// Run runs the contract, each part as a subtest on a schema of its own,
// with each placed event committed alone and with group commit.
func Run[R any](t *testing.T, s Subject[R]) {
	t.Run("alone", func(t *testing.T) { s.run(t) })
	t.Run("grouped", func(t *testing.T) { s.run(t, sink.WithGroupCommit(inFlight)) })
	t.Run("started twice on one schema", s.started)
}

func (s Subject[R]) run(t *testing.T, opts ...sink.Option) {
	for _, tc := range []struct {
		name string
		test func(*fixture)
	}{
		{"placed and read back", placedAndRead},
		{"newest first, paged", paged},
		{"redelivery", redelivery},
		{"same order under another event", sameOrderOtherEvent},
		{"cancelled after the order", cancelledAfter},
		{"cancelled before the order", cancelledBefore},
		{"invalid order records nothing", invalidOrder},
		{"concurrent deliveries", concurrentDelivery},
		{"placed and cancelled concurrently", placedAndCancelledConcurrently},
		{"bad events answered 400, nothing written", badEvents},
		{"bad queries answered 400", badQueries},
		{"ping deletes handled events past their retention", retention},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.test(s.fixture(t, opts...)) })
	}
}

// withOrder returns f's order with its id set and changed by change.
func (f *fixture) withOrder(id int64, change func(o map[string]any)) []byte {
	f.t.Helper()
	o := decode(f.t, f.order).(map[string]any)
	o["id"] = id
	if change != nil {
		change(o)
	}
	b, err := json.Marshal(o)
	if err != nil {
		f.t.Fatal(err)
	}
	return b
}

// placed applies a placed event with data under event id id.
func (f *fixture) placed(id string, data []byte) (sink.Outcome, error) {
	f.t.Helper()
	o, err := events.DecodeOrder(data)
	if err != nil {
		return "", err
	}
	return f.store.Placed(f.t.Context(), sink.Ref{Source: events.SourceOrder, ID: id, Type: events.TypePlaced}, o)
}

func (f *fixture) cancelled(id string, c events.Cancelled) (sink.Outcome, error) {
	return f.store.Cancelled(f.t.Context(), sink.Ref{Source: events.SourceOrder, ID: id, Type: events.TypeCancelled}, c)
}

// want fails the test unless the call it is applied to reported want.
func (f *fixture) want(want sink.Outcome) func(sink.Outcome, error) {
	return func(got sink.Outcome, err error) {
		f.t.Helper()
		if err != nil || got != want {
			f.t.Fatalf("outcome = %q, %v; want %q", got, err, want)
		}
	}
}

// get answers a GET of path.
func (f *fixture) get(path string) *httptest.ResponseRecorder {
	return newRecorder(f.routes, http.MethodGet, path)
}

func newRecorder(h http.Handler, method, path string) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(method, path, nil))
	return w
}

// records returns what the API lists on its first page, less "created".
func (f *fixture) records() []any {
	f.t.Helper()
	w := f.get(f.api)
	if w.Code != http.StatusOK {
		f.t.Fatalf("GET %s = %d %s", f.api, w.Code, w.Body)
	}
	list := decode(f.t, w.Body.Bytes()).([]any)
	for _, r := range list {
		delete(r.(map[string]any), "created")
	}
	return list
}

// wantRecords fails the test unless the API lists exactly want.
func (f *fixture) wantRecords(want ...map[string]any) {
	f.t.Helper()
	w := make([]any, len(want))
	for i, r := range want {
		w[i] = r
	}
	if diff := cmp.Diff(w, f.records()); diff != "" {
		f.t.Errorf("records (-want +got):\n%s", diff)
	}
}

// handled counts the events recorded.
func (f *fixture) handled() int {
	f.t.Helper()
	var n int
	if err := f.pool.QueryRow(f.t.Context(), `SELECT count(*) FROM handled_event`).Scan(&n); err != nil {
		f.t.Fatal(err)
	}
	return n
}

// post posts a binary-mode CloudEvent to the sink.
func (f *fixture) post(typ, id string, data []byte) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(string(data)))
	r.Header.Set("Ce-Specversion", "1.0")
	r.Header.Set("Ce-Type", typ)
	r.Header.Set("Ce-Source", "/apis/v1/namespaces/default/kafkasources/sink#order")
	r.Header.Set("Ce-Id", id)
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	f.routes.ServeHTTP(w, r)
	return w
}

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func decode(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return v
}

// clone copies a record for a changed expectation.
func clone(m map[string]any) map[string]any {
	c := make(map[string]any, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}
