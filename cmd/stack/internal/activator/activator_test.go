package activator

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// fakeFunction is a function that takes startDelay to start.
type fakeFunction struct {
	srv        *httptest.Server
	startDelay time.Duration
	mu         sync.Mutex
	up         bool
	starts     int
	downs      int
}

func (f *fakeFunction) Name() string { return "fake" }

func (f *fakeFunction) Up(ctx context.Context) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.up {
		time.Sleep(f.startDelay)
		f.up = true
		f.starts++
	}
	return f.srv.URL + "/", nil
}

func (f *fakeFunction) Down() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.up = false
	f.downs++
}

func (f *fakeFunction) Ready() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.up
}

func (f *fakeFunction) counts() (int, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.starts, f.downs
}

// TestHoldsWhileStartingAndStopsWhenIdle: concurrent requests to a function
// at zero start it once and are all answered; after the idle period it is
// stopped; the next request starts it again.
func TestHoldsWhileStartingAndStopsWhenIdle(t *testing.T) {
	f := &fakeFunction{startDelay: 100 * time.Millisecond}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, r.URL.Path) }))
	defer f.srv.Close()
	var reports []string
	var mu sync.Mutex
	a := New(f, 200*time.Millisecond, func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		reports = append(reports, fmt.Sprintf(format, args...))
	})
	front := httptest.NewServer(a)
	defer front.Close()

	var wg sync.WaitGroup
	for i := range 5 {
		wg.Go(func() {
			resp, err := http.Get(fmt.Sprintf("%s/p%d", front.URL, i))
			if err != nil {
				t.Error(err)
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(b) != fmt.Sprintf("/p%d", i) {
				t.Errorf("request %d answered %q", i, b)
			}
		})
	}
	wg.Wait()
	if starts, _ := f.counts(); starts != 1 {
		t.Errorf("%d starts, want 1", starts)
	}
	deadline := time.Now().Add(5 * time.Second)
	for _, downs := f.counts(); downs == 0; _, downs = f.counts() {
		if time.Now().After(deadline) {
			t.Fatal("not stopped after the idle period")
		}
		time.Sleep(10 * time.Millisecond)
	}
	resp, err := http.Get(front.URL + "/again")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if starts, _ := f.counts(); starts != 2 {
		t.Errorf("%d starts after the stop, want 2", starts)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(reports) == 0 {
		t.Error("no cold start reported")
	}
}
