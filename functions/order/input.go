package order

import (
	"bytes"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/mskafka/knative-functions/shared/events"
	"github.com/mskafka/knative-functions/shared/web"
)

// maxKeyLength bounds an Idempotency-Key and a form token.
const maxKeyLength = 255

// maxCommandKeyLength bounds a command's CloudEvent source and id: they are
// one row of a unique index, which Postgres caps at about 2.7 kB.
const maxCommandKeyLength = 1024

// decodeOrder reads an order request from a command's data: exactly one
// JSON value, valid UTF-8.
func decodeOrder(data []byte) (Request, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return Request{}, badRequest("malformed order data: the event has no data")
	}
	var o events.Order
	if err := web.UnmarshalJSON(data, &o); err != nil {
		return Request{}, badRequest("malformed order data: %v", err)
	}
	return RequestFromOrder(o), nil
}

// idempotencyKey reads the Idempotency-Key header; nil when there is none.
// The value may be a plain token or, as the IETF draft writes it, a quoted
// string.
func idempotencyKey(r *http.Request) (*CommandKey, error) {
	values := r.Header.Values("Idempotency-Key")
	switch len(values) {
	case 0:
		return nil, nil
	case 1:
	default:
		return nil, badRequest("send one Idempotency-Key header, not %d", len(values))
	}
	key := values[0]
	if len(key) >= 2 && key[0] == '"' && key[len(key)-1] == '"' {
		key = key[1 : len(key)-1]
	}
	if err := checkToken("Idempotency-Key", key); err != nil {
		return nil, err
	}
	return IdempotencyKey(key), nil
}

// checkToken checks an Idempotency-Key or a form token: 1 to 255 visible
// ASCII characters, so that it is stored and logged as it was sent.
func checkToken(what, key string) error {
	if key == "" || len(key) > maxKeyLength {
		return badRequest("%s must be 1 to %d characters long, got %d", what, maxKeyLength, len(key))
	}
	for i := range len(key) {
		if c := key[i]; c < 0x21 || c > 0x7e {
			return badRequest("%s may hold only visible ASCII characters; byte %d is %#02x", what, i, c)
		}
	}
	return nil
}

// checkCommandKey checks what order stores of a command's source and id:
// valid UTF-8 without control characters (Postgres stores no NUL), and
// short enough for the command table's unique index.
func checkCommandKey(k CommandKey) error {
	for _, a := range []struct{ name, value string }{{"source", k.Source}, {"id", k.ID}} {
		switch {
		case len(a.value) > maxCommandKeyLength:
			return badRequest("the CloudEvent %s is %d bytes long; at most %d are taken", a.name, len(a.value), maxCommandKeyLength)
		case !utf8.ValidString(a.value):
			return badRequest("the CloudEvent %s is not valid UTF-8", a.name)
		case strings.IndexFunc(a.value, unicode.IsControl) >= 0:
			return badRequest("the CloudEvent %s contains a control character", a.name)
		}
	}
	return nil
}

// checkFormValues refuses a form with a name or value that is not valid
// UTF-8: a browser never sends one, and Go would store it as it is.
func checkFormValues(v url.Values) error {
	for name, values := range v {
		if !utf8.ValidString(name) {
			return badRequest("the form has a field name that is not valid UTF-8: %s", strconv.QuoteToASCII(name))
		}
		for _, value := range values {
			if !utf8.ValidString(value) {
				return badRequest("the form field %s is not valid UTF-8", strconv.Quote(name))
			}
		}
	}
	return nil
}
