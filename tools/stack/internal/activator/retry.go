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

// send sends req to the instance at base. A request whose connection was
// refused never reached the function (its instance had just died), so it
// is sent again to the next instance once the supervisor has it ready, as
// Knative's activator does; a small body is kept in memory for that.
func (a *Activator) send(req *http.Request, base string) (*http.Response, error) {
	out, err := toInstance(req, base)
	if err != nil {
		return nil, err
	}
	// A request that can give its body again already (GetBody: the
	// dispatchers' in-process requests) is left as it is.
	if b := out.Body; out.GetBody == nil && b != nil && b != http.NoBody && out.ContentLength >= 0 && out.ContentLength <= maxRetryBody {
		body, err := io.ReadAll(b)
		if err != nil {
			return nil, err
		}
		b.Close()
		out.Body = io.NopCloser(bytes.NewReader(body))
		out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
	resp, err := instances.RoundTrip(out)
	deadline := time.Now().Add(30 * time.Second)
	for err != nil && errors.Is(err, syscall.ECONNREFUSED) && out.GetBody != nil && time.Now().Before(deadline) {
		next, uerr := a.nextInstance(out, deadline)
		if uerr != nil {
			return nil, errors.Join(err, uerr)
		}
		resp, err = instances.RoundTrip(next)
	}
	return resp, err
}

// nextInstance waits until the function runs at another address than the
// one that refused req, and returns req aimed there.
func (a *Activator) nextInstance(req *http.Request, deadline time.Time) (*http.Request, error) {
	for {
		base, err := a.fn.Up(req.Context())
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
		// The supervisor has not yet seen the exit: wait for the next
		// instance, but not for ever (a client without a deadline would
		// hang with us).
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%s: no new instance after the old one at %s went away", a.fn.Name(), req.URL.Host)
		}
		select {
		case <-req.Context().Done():
			return nil, req.Context().Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}
