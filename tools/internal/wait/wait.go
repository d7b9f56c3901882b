// Package wait is the tools' one way to wait: poll a condition until it
// holds, or run something at a steady pace until told to stop.
package wait

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Until calls done every interval until it reports true or an error, which
// it returns. It fails too when limit has passed or ctx has ended first.
// done gets a context that ends with limit, for the requests it makes.
func Until(ctx context.Context, limit, interval time.Duration, done func(context.Context) (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	for {
		if ok, err := done(ctx); ok || err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not within %s: %w", limit, ctx.Err())
		case <-time.After(interval):
		}
	}
}

// Every calls f every d until stop is called; stop returns once f has
// finished, and may be called again.
func Every(d time.Duration, f func()) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				f()
			}
		}
	})
	return sync.OnceFunc(func() { close(done); wg.Wait() })
}
