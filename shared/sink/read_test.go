package sink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
)

type record struct {
	ID int64 `json:"id"`
}

// fakeRecords holds ids n down to 1, newest first, or fails every read.
type fakeRecords struct {
	n   int
	err error
}

func (f fakeRecords) List(_ context.Context, limit, offset int) ([]record, error) {
	var list []record
	for id := f.n - offset; id >= 1 && len(list) < limit; id-- {
		list = append(list, record{int64(id)})
	}
	return list, f.err
}

func (f fakeRecords) Get(_ context.Context, id int64) (record, error) {
	if f.err != nil {
		return record{}, f.err
	}
	if id < 1 || id > int64(f.n) {
		return record{}, fmt.Errorf("record %d: %w", id, ErrNotFound)
	}
	return record{id}, nil
}

func testRoutes(t *testing.T, records Records[record]) http.Handler {
	t.Helper()
	pages := fstest.MapFS{
		"templates/list.html": {Data: []byte(`{{define "title"}}Things{{end}}{{define "content"}}` +
			`{{range .List}}<p>#{{.ID}}</p>{{end}}{{with .Next}}<a href="./?page={{.}}">next</a>{{end}}{{end}}`)},
		"templates/detail.html": {Data: []byte(`{{define "title"}}Thing{{end}}{{define "content"}}#{{.Record.ID}}{{end}}`)},
	}
	h, err := Routes[record](Site{Section: "shipping", Plural: "things", Noun: "thing", Pages: pages},
		&fakeStore{seen: map[string]bool{}}, records, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// Each surface answers its errors one way: the API as JSON, the pages as
// pages, with the status from web.StatusOf.
func TestRoutesErrors(t *testing.T) {
	broken := testRoutes(t, fakeRecords{err: errors.New("conn closed")})
	five := testRoutes(t, fakeRecords{n: 5})
	tests := []struct {
		h          http.Handler
		path       string
		wantStatus int
		wantType   string
		wantBody   string
	}{
		{broken, "/api/things", 500, "application/json", `"error": "could not read the things"`},
		{broken, "/api/things/1", 500, "application/json", `"error": "could not read the thing"`},
		{broken, "/", 500, "text/html; charset=utf-8", "could not read the things"},
		{broken, "/1", 500, "text/html; charset=utf-8", "could not read the thing"},
		{five, "/api/things/6", 404, "application/json", `"error": "no thing for order 6"`},
		{five, "/6", 404, "text/html; charset=utf-8", "Shipping has no thing for order #6 (yet)."},
		{five, "/api/things?page=-1", 400, "application/json", `page \"-1\": want a whole number from 1 to 1000000`},
		{five, "/?page=1000001", 400, "text/html; charset=utf-8", "want a whole number from 1 to 1000000"},
		{five, "/api/things?page=2", 200, "application/json", "[]"},
		{five, "/?page=1", 200, "text/html; charset=utf-8", "<p>#5</p>"},
	}
	for _, tt := range tests {
		w := httptest.NewRecorder()
		tt.h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, tt.path, nil))
		if w.Code != tt.wantStatus || w.Header().Get("Content-Type") != tt.wantType || !strings.Contains(w.Body.String(), tt.wantBody) {
			t.Errorf("GET %s = %d %s %q, want %d %s with %q", tt.path, w.Code, w.Header().Get("Content-Type"), w.Body,
				tt.wantStatus, tt.wantType, tt.wantBody)
		}
	}
}
