package activator

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"syscall"
	"time"
)

// maxRetryBody is the largest body kept for a retry; larger requests are
// forwarded once. It matches the gateway's limit, which is above what any
// function accepts.
const maxRetryBody = 256 << 10

// keepBody reads a small body into memory so that a refused connection can
// be retried with it, as Knative's activator does. A request that can give
// its body again already (GetBody: the dispatchers' in-process requests) is
// left as it is.
func keepBody(r *http.Request) error {
	if r.GetBody != nil || r.Body == nil || r.Body == http.NoBody || r.ContentLength < 0 || r.ContentLength > maxRetryBody {
		return nil
	}
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return err
	}
	r.Body.Close()
	r.Body = io.NopCloser(bytes.NewReader(b))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	return nil
}

// retrying is the proxy's transport: a request whose connection was refused
// never reached the function (its instance had just died), so it is sent
// again to the next instance once the supervisor has it ready.
type retrying struct {
	a    *Activator
	base http.RoundTripper
}

func (t retrying) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	deadline := time.Now().Add(30 * time.Second)
	for err != nil && errors.Is(err, syscall.ECONNREFUSED) && req.GetBody != nil && time.Now().Before(deadline) {
		next, uerr := t.nextInstance(req, deadline)
		if uerr != nil {
			return nil, errors.Join(err, uerr)
		}
		resp, err = t.base.RoundTrip(next)
	}
	return resp, err
}

// nextInstance waits until the function runs at another address than the
// one that refused req, and returns req aimed there.
func (t retrying) nextInstance(req *http.Request, deadline time.Time) (*http.Request, error) {
	for {
		base, err := t.a.fn.Up(req.Context())
		if err != nil {
			return nil, err
		}
		next, err := toInstance(req, base)
		if err != nil {
			return nil, err
		}
		if next.URL.Host != req.URL.Host {
			next.Body, err = req.GetBody()
			return next, err
		}
		// The supervisor has not yet seen the exit: wait a moment.
		// Still the instance that refused: wait for the next, but not for
		// ever (a client without a deadline would hang with us).
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%s: no new instance after the old one at %s went away", t.a.fn.Name(), req.URL.Host)
		}
		select {
		case <-req.Context().Done():
			return nil, req.Context().Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}
