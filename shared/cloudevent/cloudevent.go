// Package cloudevent reads CloudEvents from HTTP requests and writes them as
// replies, with the error messages a person posting with curl can act on.
package cloudevent

import (
	"errors"
	"fmt"
	"mime"
	"net/http"

	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
)

// Errors a caller maps to HTTP statuses.
var (
	// ErrNotCloudEvent: the request carries no CloudEvent at all.
	ErrNotCloudEvent = errors.New("not a CloudEvent")
	// ErrMalformed: it tries to be one but breaks the spec.
	ErrMalformed = errors.New("malformed CloudEvent")
	// ErrTooLarge: the body is over the limit.
	ErrTooLarge = errors.New("request body too large")
)

// IsCloudEvent tells whether a request claims to carry a CloudEvent, in
// binary mode (a ce-specversion header) or structured mode.
func IsCloudEvent(r *http.Request) bool {
	if r.Header.Get("Ce-Specversion") != "" {
		return true
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return mt == "application/cloudevents+json"
}

// Read decodes the CloudEvent of a request in binary or structured mode and
// checks its required attributes. Bodies over maxBytes are refused.
func Read(w http.ResponseWriter, r *http.Request, maxBytes int64) (*event.Event, error) {
	if !IsCloudEvent(r) {
		return nil, fmt.Errorf("%w: want a ce-specversion header (binary mode) or Content-Type application/cloudevents+json (structured mode)", ErrNotCloudEvent)
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBytes)
	msg := cehttp.NewMessageFromHttpRequest(r)
	defer msg.Finish(nil)
	ev, err := binding.ToEvent(r.Context(), msg)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, fmt.Errorf("%w: limit is %d bytes", ErrTooLarge, maxBytes)
		}
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if err := ev.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return ev, nil
}

// Status maps the errors of Read to an HTTP status.
func Status(err error) int {
	switch {
	case errors.Is(err, ErrTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, ErrNotCloudEvent):
		return http.StatusUnsupportedMediaType
	default:
		return http.StatusBadRequest
	}
}

// Reply writes ev as a binary-mode CloudEvent response with the given status.
func Reply(w http.ResponseWriter, r *http.Request, status int, ev event.Event) error {
	return cehttp.WriteResponseWriter(r.Context(), binding.ToMessage(&ev), status, w)
}
