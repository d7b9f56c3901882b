package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestStaticServesOnlyItsFiles(t *testing.T) {
	tests := []struct {
		path       string
		wantStatus int
		wantType   string
	}{
		{"/static/style.css", http.StatusOK, "text/css; charset=utf-8"},
		{"/static/favicon.svg", http.StatusOK, "image/svg+xml"},
		{"/static/", http.StatusNotFound, ""},            // no directory listing
		{"/static/layout.html", http.StatusNotFound, ""}, // no template source
		{"/static/menu.html", http.StatusNotFound, ""},
		{"/static/%ff", http.StatusNotFound, ""},
		{"/static/..%2flayout.html", http.StatusNotFound, ""},
		{"/static/style.css/", http.StatusNotFound, ""},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			rec := httptest.NewRecorder()
			Static().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tt.path, nil))
			if rec.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body %q", rec.Code, tt.wantStatus, rec.Body)
			}
			if tt.wantType != "" && rec.Header().Get("Content-Type") != tt.wantType {
				t.Errorf("Content-Type = %q, want %q", rec.Header().Get("Content-Type"), tt.wantType)
			}
			if rec.Header().Get("X-Content-Type-Options") != "nosniff" {
				t.Error("no X-Content-Type-Options: nosniff")
			}
			if body := rec.Body.String(); strings.Contains(body, "{{") || strings.Contains(body, "<a href=") {
				t.Errorf("body shows template source or a listing:\n%s", body)
			}
		})
	}
}

func TestJSONHeadersAndEncodingFailure(t *testing.T) {
	rec := httptest.NewRecorder()
	JSON(rec, http.StatusCreated, map[string]string{"street": "<script>"})
	if rec.Code != http.StatusCreated || rec.Header().Get("X-Content-Type-Options") != "nosniff" || rec.Header().Get("Content-Type") != "application/json" {
		t.Errorf("status %d, headers %v", rec.Code, rec.Header())
	}
	// A value that cannot be encoded is a 500 with a body, not a 2xx without one.
	rec = httptest.NewRecorder()
	JSON(rec, http.StatusOK, map[string]any{"bad": make(chan int)})
	if rec.Code != http.StatusInternalServerError || !strings.Contains(rec.Body.String(), "could not encode") {
		t.Errorf("unencodable value: %d %q", rec.Code, rec.Body)
	}
}

func TestUnmarshalJSON(t *testing.T) {
	type v struct{ Street string }
	tests := []struct {
		name    string
		data    string
		want    v
		wantErr string
	}{
		{"valid", `{"Street":"Höchst €"}`, v{"Höchst €"}, ""},
		{"trailing space", "{\"Street\":\"a\"}\n ", v{"a"}, ""},
		{"invalid UTF-8", "{\"Street\":\"a\xffb\"}", v{}, "invalid UTF-8 at byte 12"},
		{"two values", `{"Street":"a"}{"Street":"b"}`, v{"a"}, "more than one value"},
		{"truncated", `{"Street":`, v{}, "malformed JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got v
			err := UnmarshalJSON([]byte(tt.data), &got)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" && tt.wantErr == "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if err != nil && StatusOf(err) != http.StatusBadRequest {
				t.Errorf("StatusOf = %d, want 400", StatusOf(err))
			}
			_ = errors.Unwrap(err)
		})
	}
}

// A value that cannot be encoded is a 500 with a JSON error, never a 200
// with an empty body.
func TestJSONEncodesBeforeTheStatus(t *testing.T) {
	w := httptest.NewRecorder()
	JSON(w, http.StatusOK, map[string]any{"updated": time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)})
	if w.Code != http.StatusInternalServerError || !strings.Contains(w.Body.String(), `"error"`) {
		t.Errorf("JSON = %d %q, want 500 with an error", w.Code, w.Body)
	}
	if got := w.Header().Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("X-Content-Type-Options = %q", got)
	}
}

func TestStatusOf(t *testing.T) {
	tests := []struct {
		err  error
		want int
	}{
		{fmt.Errorf("%w: page", ErrBadRequest), 400},
		{Mark(errors.New("conflict"), ErrBadRequest), 400},
		{Kind("no such order", ErrNotFound), 404},
		{fmt.Errorf("x: %w", ErrUnsupportedMedia), 415},
		{fmt.Errorf("x: %w", ErrTooLarge), 413},
		{&http.MaxBytesError{Limit: 1}, 413},
		{errors.New("conn closed"), 500},
	}
	for _, tt := range tests {
		if got := StatusOf(tt.err); got != tt.want {
			t.Errorf("StatusOf(%v) = %d, want %d", tt.err, got, tt.want)
		}
	}
}
