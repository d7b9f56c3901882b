// Package cloudevent reads CloudEvents from HTTP requests and writes them as
// replies, with the error messages a person posting with curl can act on.
// It is the one reading of the HTTP binding in the project: content modes,
// media types, specversion and the required attributes, the same for order
// and the sinks.
package cloudevent

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
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
	// ErrMediaType: a content mode, event format, data media type or
	// charset this project does not read (415).
	ErrMediaType = web.Kind("unsupported media type", web.ErrUnsupportedMedia)
	// ErrTooLarge: the body is over the limit (413).
	ErrTooLarge = web.Kind("request body too large", web.ErrTooLarge)
)

// MaxAttribute is the longest id, source, type or subject Read accepts, in
// bytes. Stores key events by (source, id): Postgres refuses an index row
// over about 2.7 kB, and the ids of real senders (UUIDs, Kafka offsets) are
// far shorter.
const MaxAttribute = 1024

// binaryPrefix starts the header of every attribute in binary mode, as Go
// canonicalizes it: header names are case-insensitive, so ce-id, CE-ID and
// Ce-Id all arrive as Ce-Id.
const binaryPrefix = "Ce-"

// Structured reports whether r carries its event in structured mode, which
// its Content-Type decides, in any letter case and with any parameters
// (HTTP binding, 3).
func Structured(r *http.Request) bool {
	return isFormat(r.Header.Get("Content-Type"))
}

// Read decodes the CloudEvent of a request in binary or structured mode and
// checks its required attributes. Bodies over maxBytes are refused. Every
// refusal is a 4xx whose message says what is wrong; no shape of request
// makes it fail otherwise.
func Read(w http.ResponseWriter, r *http.Request, maxBytes int64) (*event.Event, error) {
	structured := Structured(r)
	if err := checkMode(r, structured); err != nil {
		return nil, err
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBytes)
	var (
		ev  *event.Event
		err error
	)
	if structured {
		ev, err = readStructured(r)
	} else {
		ev, err = readBinary(r)
	}
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return nil, fmt.Errorf("%w: limit is %d bytes", ErrTooLarge, maxBytes)
	}
	if err != nil {
		return nil, err
	}
	if err := checkRequired(ev, structured); err != nil {
		return nil, err
	}
	if err := ev.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if err := CheckAttributes(ev); err != nil {
		return nil, err
	}
	return ev, nil
}

// checkMode refuses what Read cannot decode before it reads the body: an
// event format other than JSON, batched mode, a request without any
// CloudEvent attribute, a binary-mode request without a known specversion,
// and headers given twice, of which the SDK would silently take the first.
func checkMode(r *http.Request, structured bool) error {
	if n := len(r.Header.Values("Content-Type")); n > 1 {
		return fmt.Errorf("%w: Content-Type is given %d times", ErrMalformed, n)
	}
	if structured {
		mt, err := mediaType(r.Header.Get("Content-Type"))
		switch {
		case err != nil:
			return fmt.Errorf("%w: structured mode: Content-Type %w", ErrMediaType, err)
		case mt == formatBatch:
			return fmt.Errorf("%w: batched mode (%s) is not supported: send each event in a request of its own", ErrMediaType, formatBatch)
		case mt != formatJSON:
			return fmt.Errorf("%w: event format %s is not supported: want %s, or binary mode", ErrMediaType, mt, formatJSON)
		}
		return nil
	}
	attributes := 0
	for k, v := range r.Header {
		if !strings.HasPrefix(k, binaryPrefix) {
			continue
		}
		attributes++
		if len(v) > 1 {
			return fmt.Errorf("%w: header %s is given %d times", ErrMalformed, strings.ToLower(k), len(v))
		}
	}
	if attributes == 0 {
		return fmt.Errorf("%w: want a ce-specversion header (binary mode) or Content-Type %s (structured mode)", ErrNotCloudEvent, formatJSON)
	}
	v := r.Header.Get("Ce-Specversion")
	if v == "" {
		return fmt.Errorf("%w: binary mode: the ce-specversion header is missing", ErrMalformed)
	}
	return checkVersion(v)
}

// readBinary decodes a binary-mode event; checkMode has seen its specversion.
func readBinary(r *http.Request) (*event.Event, error) {
	if t := r.Header.Get("Ce-Time"); t != "" {
		t, err := rfc3339(t)
		if err != nil {
			return nil, err
		}
		r.Header.Set("Ce-Time", t)
	}
	msg := cehttp.NewMessageFromHttpRequest(r)
	defer msg.Finish(nil)
	ev, err := binding.ToEvent(r.Context(), msg)
	if err != nil {
		return nil, fmt.Errorf("%w: binary mode: %w", ErrMalformed, err)
	}
	return ev, nil
}

// rfc3339 returns the time attribute t in the letter case Go's parser (and
// so the SDK's) needs, RFC 3339 (5.6) allowing "t" and "z" in lower case,
// or an error that says what a time must look like.
func rfc3339(t string) (string, error) {
	upper := strings.ToUpper(t)
	if _, err := time.Parse(time.RFC3339Nano, upper); err != nil {
		return "", fmt.Errorf("%w: time %q is not an RFC 3339 timestamp such as 2026-11-25T10:00:00.5+01:00", ErrMalformed, t)
	}
	return upper, nil
}

// checkRequired names the first required attribute ev lacks, as the
// sender wrote it: a header in binary mode, a member in structured mode.
func checkRequired(ev *event.Event, structured bool) error {
	for _, a := range []struct{ name, value string }{{"id", ev.ID()}, {"source", ev.Source()}, {"type", ev.Type()}} {
		switch {
		case a.value != "":
		case structured:
			return fmt.Errorf("%w: structured mode: the required attribute %s is missing", ErrMalformed, a.name)
		default:
			return fmt.Errorf("%w: binary mode: the ce-%s header is missing", ErrMalformed, a.name)
		}
	}
	return nil
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

// BinaryOnly refuses an event of type typ that r carries in structured
// mode, with 415. A PingSource sends its ping in binary mode, where a route
// can see the type in the ce-type header and keep pings from outside away
// from a function; a structured one carries its type in the body, where no
// route can see it, so a function takes the ping in binary mode only.
func BinaryOnly(r *http.Request, typ string) error {
	if Structured(r) {
		return web.Kind(typ+" is taken in binary mode only, as a PingSource sends it", web.ErrUnsupportedMedia)
	}
	return nil
}
