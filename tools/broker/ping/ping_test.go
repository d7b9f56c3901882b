package ping

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mskafka/knative-functions/tools/broker/manifest"
)

// TestRunDeliversAndRetries: the ping arrives as a binary-mode CloudEvent
// at the sink; a 503 is retried with the same event id.
func TestRunDeliversAndRetries(t *testing.T) {
	type got struct{ method, path, typ, source, contentType, body, id string }
	var (
		mu    sync.Mutex
		calls []got
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, got{r.Method, r.URL.Path, r.Header.Get("Ce-Type"), r.Header.Get("Ce-Source"),
			r.Header.Get("Content-Type"), string(b), r.Header.Get("Ce-Id")})
		if len(calls) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()

	var seen []Delivery
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{
			Pings: []manifest.PingSource{{Name: "drain", Namespace: "ms-kafka", Schedule: "*/5 * * * *",
				ContentType: "application/json", Data: `{"drain":"outbox"}`,
				Sink: manifest.Destination{Ref: &manifest.Ref{APIVersion: manifest.ServiceAPIVersion, Kind: manifest.ServiceKind, Name: "order"}}}},
			Services: map[string]string{"order": srv.URL + "/"},
			Every:    100 * time.Millisecond,
			Logger:   slog.New(slog.DiscardHandler),
			Observe: func(d Delivery) {
				mu.Lock()
				defer mu.Unlock()
				seen = append(seen, d)
			},
		})
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		// Both calls made and both observed: a cancel between the retry's
		// answer and its observation would lose the delivery under load.
		mu.Lock()
		n, m := len(calls), len(seen)
		mu.Unlock()
		if n >= 2 && m >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d calls and %d deliveries observed, want 2 of each", n, m)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-done

	mu.Lock()
	defer mu.Unlock()
	want := got{"POST", "/", EventType, "/apis/v1/namespaces/ms-kafka/pingsources/drain", "application/json", `{"drain":"outbox"}`, calls[0].id}
	for i, c := range calls[:2] {
		if diff := cmp.Diff(want, c, cmp.AllowUnexported(got{})); diff != "" {
			t.Errorf("call %d (-want +got):\n%s", i, diff)
		}
	}
	// Observed: the first ping scheduled, then delivered on the second
	// attempt (after a 503) with the next one due.
	if len(seen) < 2 || seen[0].Source != "drain" || seen[0].Next.IsZero() || !seen[0].At.IsZero() {
		t.Fatalf("observed %+v, want the schedule first", seen)
	}
	d := seen[1]
	if d.Status != 200 || d.Attempts != 2 || d.Err != nil || d.At.IsZero() || !d.Next.After(d.At) {
		t.Errorf("observed delivery %+v, want 200 after 2 attempts, the next one after it", d)
	}
}
