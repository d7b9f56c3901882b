package orderapi

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/cenkalti/backoff/v5"
)

// AttemptsHeader is set on an answer of a Retrying transport: how many
// attempts it took.
const AttemptsHeader = "X-Attempts"

// Retrying returns a transport that sends a request again, with the same
// body and headers (and so the same Idempotency-Key), after a transport
// error or a 5xx, backing off from 200 ms to 2 s, until it has another
// answer or limit has passed: what a client that must not lose an order does.
func Retrying(base http.RoundTripper, limit time.Duration) http.RoundTripper {
	return retrying{base: base, limit: limit}
}

type retrying struct {
	base  http.RoundTripper
	limit time.Duration
}

func (t retrying) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		body = b
	}
	attempts := 0
	var last *http.Response
	resp, err := backoff.Retry(req.Context(), func() (*http.Response, error) {
		attempts++
		r := req.Clone(req.Context())
		r.Body = io.NopCloser(bytes.NewReader(body))
		resp, err := t.base.RoundTrip(r)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode >= 500 {
			// Read and closed at once: an answer held open would hold its
			// connection, and a bounded pool would run dry under retries.
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				return nil, err
			}
			resp.Body = io.NopCloser(bytes.NewReader(b))
			last = resp
			return nil, errors.New(resp.Status)
		}
		return resp, nil
	}, backoff.WithBackOff(&backoff.ExponentialBackOff{InitialInterval: 200 * time.Millisecond, Multiplier: 2, MaxInterval: 2 * time.Second}),
		backoff.WithMaxElapsedTime(t.limit))
	switch {
	case err == nil:
	case last != nil && req.Context().Err() == nil: // the last answer was a 5xx: that is the answer
		resp = last
	default:
		return nil, fmt.Errorf("after %d attempts: %w", attempts, err)
	}
	resp.Header.Set(AttemptsHeader, strconv.Itoa(attempts))
	return resp, nil
}
