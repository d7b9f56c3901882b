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
// status, so a value that cannot be encoded is answered 500 with a JSON
// error, never a success with an empty body.
func JSON(w http.ResponseWriter, status int, v any) {
	body, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		status = http.StatusInternalServerError
		body, _ = json.Marshal(Problem{Error: "could not encode the answer"})
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
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

// The kinds of error a client can cause, each answered with its own status
// by StatusOf. Errors of other packages wrap one of them (see Kind) to be
// mapped here, in the one table of statuses.
var (
	// ErrBadRequest: the request can never succeed as it is (400).
	ErrBadRequest = errors.New("bad request")
	// ErrNotFound: what the request names is not there (404).
	ErrNotFound = errors.New("not found")
	// ErrUnsupportedMedia: the body is not of a type the route takes (415).
	ErrUnsupportedMedia = errors.New("unsupported media type")
	// ErrTooLarge: the body is over the route's limit (413).
	ErrTooLarge = errors.New("request body too large")
	// ErrUnprocessable: the request reuses a key with other content (422;
	// not 409, which a CloudEvents sender retries for ever).
	ErrUnprocessable = errors.New("unprocessable request")
)

// Kind returns an error that reads msg and is of kind (one of the errors
// above), for packages that declare their own sentinels.
func Kind(msg string, kind error) error { return &kindError{msg: msg, kind: kind} }

// Mark returns err, with its message and its chain, as of kind too.
func Mark(err, kind error) error { return &kindError{msg: err.Error(), kind: kind, cause: err} }

type kindError struct {
	msg         string
	kind, cause error
}

func (e *kindError) Error() string { return e.msg }

func (e *kindError) Unwrap() []error {
	if e.cause == nil {
		return []error{e.kind}
	}
	return []error{e.kind, e.cause}
}

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
			return fmt.Errorf("%w: limit is %d bytes", ErrTooLarge, MaxJSONBody)
		}
		return Mark(fmt.Errorf("read request body: %w", err), ErrBadRequest)
	}
	return UnmarshalJSON(body, v)
}

// UnmarshalJSON reads exactly one JSON value from data into v. Unlike
// json.Unmarshal it refuses invalid UTF-8 instead of turning it into U+FFFD:
// what is stored must be what was sent.
func UnmarshalJSON(data []byte, v any) error {
	if i := invalidUTF8(data); i >= 0 {
		return Kind(fmt.Sprintf("malformed JSON: invalid UTF-8 at byte %d", i), ErrBadRequest)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(v); err != nil {
		return Mark(fmt.Errorf("malformed JSON: %w", err), ErrBadRequest)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Kind("malformed JSON: more than one value in the body", ErrBadRequest)
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

// StatusOf is the one table from errors to HTTP statuses: the kinds above
// (and a body over an http.MaxBytesReader's limit) to their 4xx, anything
// else to 500.
func StatusOf(err error) int {
	var tooLarge *http.MaxBytesError
	switch {
	case errors.Is(err, ErrTooLarge), errors.As(err, &tooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, ErrUnsupportedMedia):
		return http.StatusUnsupportedMediaType
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrBadRequest):
		return http.StatusBadRequest
	case errors.Is(err, ErrUnprocessable):
		return http.StatusUnprocessableEntity
	default:
		return http.StatusInternalServerError
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
