package activator

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
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

// seqFunction answers Up with the given base URLs in turn, the last one
// for good: an instance that died, then its successor.
type seqFunction struct {
	mu    sync.Mutex
	bases []string
}

func (f *seqFunction) Name() string { return "seq" }
func (f *seqFunction) Down()        {}
func (f *seqFunction) Ready() bool  { return true }

func (f *seqFunction) Up(context.Context) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b := f.bases[0]
	if len(f.bases) > 1 {
		f.bases = f.bases[1:]
	}
	return b, nil
}

// TestRefusedConnectionIsRetried: a request to an instance that died before
// accepting it goes, body and all, to the next instance.
func TestRefusedConnectionIsRetried(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close() // its port now refuses connections
	live := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s", r.URL.Path, b)
	}))
	defer live.Close()
	a := New(&seqFunction{bases: []string{dead.URL + "/", live.URL + "/"}}, 0, func(string, ...any) {})
	front := httptest.NewServer(a)
	defer front.Close()

	resp, err := http.Post(front.URL+"/api/orders", "application/json", strings.NewReader(`{"n":1}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(b) != `/api/orders {"n":1}` {
		t.Errorf("got %d %q, want 200 %q", resp.StatusCode, b, `/api/orders {"n":1}`)
	}
}

// TestRoundTripHoldsUntilBodyClosed: in the stack's own process the
// activator is a transport; the function counts as busy, and is not
// stopped, until the caller has closed the answer's body.
func TestRoundTripHoldsUntilBodyClosed(t *testing.T) {
	f := &fakeFunction{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s", r.Host, r.URL.Path)
	}))
	defer f.srv.Close()
	a := New(f, 50*time.Millisecond, func(string, ...any) {})
	client := &http.Client{Transport: a}

	resp, err := client.Get("http://order.local/api/items")
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // four idle periods, body still open
	if _, downs := f.counts(); downs != 0 {
		t.Fatalf("stopped %d times while an answer was being read", downs)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "order.local /api/items" {
		t.Errorf("answered %q, want the Host kept and the path", b)
	}
	deadline := time.Now().Add(5 * time.Second)
	for _, downs := f.counts(); downs == 0; _, downs = f.counts() {
		if time.Now().After(deadline) {
			t.Fatal("not stopped after the idle period once the answer was closed")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
