// Package cloudevent reads CloudEvents from HTTP requests and writes them as
// replies, with the error messages a person posting with curl can act on.
package cloudevent

import (
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"github.com/mskafka/knative-functions/shared/web"
)

// The errors of Read, of the kinds web.StatusOf maps to HTTP statuses.
var (
	// ErrNotCloudEvent: the request carries no CloudEvent at all (415).
	ErrNotCloudEvent = web.Kind("not a CloudEvent", web.ErrUnsupportedMedia)
	// ErrMalformed: it tries to be one but breaks the spec, or has an
	// attribute no store can keep (400).
	ErrMalformed = web.Kind("malformed CloudEvent", web.ErrBadRequest)
	// ErrTooLarge: the body is over the limit (413).
	ErrTooLarge = web.Kind("request body too large", web.ErrTooLarge)
)

// MaxAttribute is the longest id, source, type or subject Read accepts, in
// bytes. Stores key events by (source, id): Postgres refuses an index row
// over about 2.7 kB, and the ids of real senders (UUIDs, Kafka offsets) are
// far shorter.
const MaxAttribute = 1024

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
	if err := CheckAttributes(ev); err != nil {
		return nil, err
	}
	return ev, nil
}

// CheckAttributes refuses an event whose id, source, type or subject a
// store could never keep: invalid UTF-8, a NUL, or longer than MaxAttribute.
// Such an event would fail in the database on every retry.
func CheckAttributes(ev *event.Event) error {
	for _, a := range []struct{ name, value string }{
		{"id", ev.ID()}, {"source", ev.Source()}, {"type", ev.Type()}, {"subject", ev.Subject()},
	} {
		switch {
		case len(a.value) > MaxAttribute:
			return fmt.Errorf("%w: %s is %d bytes long, at most %d are accepted", ErrMalformed, a.name, len(a.value), MaxAttribute)
		case !utf8.ValidString(a.value):
			return fmt.Errorf("%w: %s is not valid UTF-8", ErrMalformed, a.name)
		case strings.ContainsRune(a.value, 0):
			return fmt.Errorf("%w: %s contains a NUL character", ErrMalformed, a.name)
		}
	}
	return nil
}

// Reply writes ev as a binary-mode CloudEvent response with the given status.
func Reply(w http.ResponseWriter, r *http.Request, status int, ev event.Event) error {
	return cehttp.WriteResponseWriter(r.Context(), binding.ToMessage(&ev), status, w)
}
