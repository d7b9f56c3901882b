// Package web holds what the functions' HTTP surfaces share: JSON answers,
// error answers, the page layout and its stylesheet.
package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
)

// MaxJSONBody caps JSON request bodies; an order with the maximum number of
// lines stays well below it.
const MaxJSONBody = 64 << 10

// JSON writes v with the given status.
func JSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// Problem is the body of every JSON error answer.
type Problem struct {
	Error  string       `json:"error"`
	Fields []FieldError `json:"fields,omitempty"`
}

// FieldError says what is wrong with one field of a request.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Error writes a JSON error answer.
func Error(w http.ResponseWriter, status int, msg string, fields ...FieldError) {
	JSON(w, status, Problem{Error: msg, Fields: fields})
}

// ErrUnsupportedMedia is returned by DecodeJSON for a body that is not JSON.
var ErrUnsupportedMedia = errors.New("unsupported media type")

// DecodeJSON reads a JSON request body of at most MaxJSONBody bytes into v.
// The error it returns is fit to show to the client; StatusOf maps it.
func DecodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		return fmt.Errorf("%w: want Content-Type application/json", ErrUnsupportedMedia)
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxJSONBody))
	if err := dec.Decode(v); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return fmt.Errorf("request body too large: limit is %d bytes: %w", MaxJSONBody, err)
		}
		return fmt.Errorf("malformed JSON: %w", err)
	}
	if dec.More() {
		return errors.New("malformed JSON: more than one value in the body")
	}
	return nil
}

// StatusOf maps a DecodeJSON error to its HTTP status.
func StatusOf(err error) int {
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, ErrUnsupportedMedia):
		return http.StatusUnsupportedMediaType
	default:
		return http.StatusBadRequest
	}
}

// SeeOther redirects a form post to the page that shows its result
// (post/redirect/get). Unlike http.Redirect it keeps a relative location
// relative, so the browser resolves it against the URL it sees — with the
// gateway's prefix — not against the path the function received.
func SeeOther(w http.ResponseWriter, location string) {
	w.Header().Set("Location", location)
	w.WriteHeader(http.StatusSeeOther)
}
