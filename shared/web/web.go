// Package web holds what the functions' HTTP surfaces share: JSON answers,
// error answers, the page layout and its stylesheet.
package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"unicode/utf8"
)

// MaxJSONBody caps JSON request bodies; an order with the maximum number of
// lines stays well below it.
const MaxJSONBody = 64 << 10

// JSON writes v with the given status. It encodes before it sends the
// status, so a value that cannot be encoded is a clean 500, not a 200 with
// an empty body. nosniff keeps a browser from reading the answer as
// anything but JSON (a stored "<script>" in a field stays text).
func JSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		buf.Reset()
		status = http.StatusInternalServerError
		_ = json.NewEncoder(&buf).Encode(Problem{Error: "internal error: the answer could not be encoded"})
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
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
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxJSONBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return fmt.Errorf("request body too large: limit is %d bytes: %w", MaxJSONBody, err)
		}
		return fmt.Errorf("read request body: %w", err)
	}
	return UnmarshalJSON(body, v)
}

// UnmarshalJSON reads exactly one JSON value from data into v. Unlike
// json.Unmarshal it refuses invalid UTF-8 instead of turning it into U+FFFD:
// what is stored must be what was sent.
func UnmarshalJSON(data []byte, v any) error {
	if i := invalidUTF8(data); i >= 0 {
		return fmt.Errorf("malformed JSON: invalid UTF-8 at byte %d", i)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("malformed JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("malformed JSON: more than one value in the body")
	}
	return nil
}

// invalidUTF8 returns the offset of the first byte of b that is not valid
// UTF-8, or -1.
func invalidUTF8(b []byte) int {
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			return i
		}
		i += size
	}
	return -1
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
