package wait

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

func TestUntil(t *testing.T) {
	n := 0
	if err := Until(context.Background(), time.Second, time.Millisecond, func(context.Context) (bool, error) { n++; return n == 3, nil }); err != nil || n != 3 {
		t.Errorf("Until returned %v after %d calls, want nil after 3", err, n)
	}
	if err := Until(context.Background(), 20*time.Millisecond, time.Millisecond, func(context.Context) (bool, error) { return false, nil }); err == nil {
		t.Error("Until of a condition that never holds returned nil")
	}
	if err := Until(context.Background(), time.Second, time.Millisecond, func(context.Context) (bool, error) { return false, errors.New("gone") }); err == nil || err.Error() != "gone" {
		t.Errorf("Until returned %v, want the condition's error", err)
	}
	// The condition's requests are bounded by the limit too.
	if err := Until(context.Background(), time.Second, time.Millisecond, func(ctx context.Context) (bool, error) {
		d, ok := ctx.Deadline()
		if !ok || time.Until(d) > time.Second {
			t.Errorf("the condition's context: deadline %v, %v; want within the limit", d, ok)
		}
		return true, nil
	}); err != nil {
		t.Error(err)
	}
}

func TestEveryStops(t *testing.T) {
	var n atomic.Int32
	stop := Every(time.Millisecond, func() { n.Add(1) })
	time.Sleep(20 * time.Millisecond)
	stop()
	stopped := n.Load()
	time.Sleep(10 * time.Millisecond)
	if stopped == 0 || n.Load() != stopped {
		t.Errorf("%d calls before stop, %d after", stopped, n.Load())
	}
	stop() // again: no panic
}
