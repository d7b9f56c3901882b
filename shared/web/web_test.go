package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

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
