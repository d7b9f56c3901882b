package order

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/mskafka/knative-functions/shared/db"
	"github.com/mskafka/knative-functions/shared/web"
)

// badRequest is a request refused before it reaches the domain (a bad
// header, query or form field).
func badRequest(format string, args ...any) error {
	return web.Kind(fmt.Sprintf(format, args...), web.ErrBadRequest)
}

// What a 5xx says about retrying, by what was asked. A 5xx while placing an
// order may come after the commit (the connection broke before its answer
// arrived), so it must not invite a blind retry.
const (
	retryLater      = "internal error, try again later"
	retryWithKey    = "internal error: the order may or may not have been placed. Retrying with the same Idempotency-Key header is safe: the order is placed at most once"
	retryWithoutKey = "internal error: the order may or may not have been placed, and a retry may place it twice. Send an Idempotency-Key header (any unique string, the same on every retry) to make retrying safe"
	retryEvent      = "internal error: retrying this event with the same source and id is safe: the order is placed at most once"
	retryForm       = "Something went wrong, and the order may or may not have been placed. Sending the form again is safe " +
		"(go back and press Place order again): the form carries a one-time token, so the order is placed at most once."
)

// answer is how a failure is told to a client.
type answer struct {
	status int
	msg    string
	fields []web.FieldError
}

// classify tells how err is answered. Which status a kind of error gets is
// web.StatusOf's one table, shared with the sinks; this maps order's own
// errors to those kinds and says what each answer reads. internal is the
// message of a 5xx.
func classify(err error, internal string) answer {
	var (
		bad    *InvalidError
		reused *ReusedError
	)
	switch {
	case errors.As(err, &bad):
		fields := make([]web.FieldError, len(bad.Problems))
		for i, p := range bad.Problems {
			fields[i] = web.FieldError{Field: p.Field, Message: p.Message}
		}
		return answer{status: web.StatusOf(web.ErrBadRequest), msg: bad.Error(), fields: fields}
	case errors.As(err, &reused):
		return answer{status: web.StatusOf(web.ErrUnprocessable), msg: reusedMessage(reused)}
	case errors.Is(err, ErrNotFound):
		return answer{status: web.StatusOf(web.ErrNotFound), msg: err.Error()}
	case db.Permanent(err):
		// A value Postgres will never store. Validation should have caught
		// it; a retry cannot help.
		pg, _ := errors.AsType[*pgconn.PgError](err)
		return answer{status: web.StatusOf(web.ErrBadRequest), msg: "a value cannot be stored: " + pg.Message}
	}
	if status := web.StatusOf(err); status < http.StatusInternalServerError {
		return answer{status: status, msg: err.Error()} // a request refused before the domain
	}
	return answer{status: http.StatusInternalServerError, msg: internal}
}

func reusedMessage(e *ReusedError) string {
	if e.Key.Source == "" {
		return fmt.Sprintf("Idempotency-Key %s was used before, for order %d, with a different request: nothing was placed. "+
			"Send the same request to get order %d again, or a new key to place another order", strconv.Quote(e.Key.ID), e.OrderID, e.OrderID)
	}
	return fmt.Sprintf("source %s and id %s were used before, for order %d, with different data: nothing was placed. "+
		"Give a new order a new id", strconv.Quote(e.Key.Source), strconv.Quote(e.Key.ID), e.OrderID)
}

// fail answers a JSON API request or a command that failed with err.
func (s *server) fail(w http.ResponseWriter, r *http.Request, err error, internal string) {
	a := classify(err, internal)
	s.logFailure(r, err, a)
	web.Error(w, a.status, a.msg, a.fields...)
}

// failPage answers a page request or a form that failed with err, with a
// page in the layout.
func (s *server) failPage(w http.ResponseWriter, r *http.Request, err error, internal string) {
	a := classify(err, internal)
	s.logFailure(r, err, a)
	msg := a.msg
	if reused, ok := errors.AsType[*ReusedError](err); ok && reused.Key.Source == "" {
		msg = fmt.Sprintf("This form was sent before and placed order #%d; what it holds now is different, so nothing was placed. "+
			"To place another order, open a new form.", reused.OrderID)
	}
	web.ErrorPage(w, r, section, a.status, msg)
}

func (s *server) logFailure(r *http.Request, err error, a answer) {
	if reused, ok := errors.AsType[*ReusedError](err); ok {
		s.log.WarnContext(r.Context(), "key reused with a different request", "key_source", reused.Key.Source, "key_id", reused.Key.ID,
			"order_id", reused.OrderID, "digest_stored", hex.EncodeToString(reused.Stored), "digest_got", hex.EncodeToString(reused.Got))
		return
	}
	if a.status >= 500 {
		s.log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "error", err)
	} else if _, ok := errors.AsType[*pgconn.PgError](err); ok {
		s.log.WarnContext(r.Context(), "value refused by Postgres", "method", r.Method, "path", r.URL.Path, "error", err)
	}
}
