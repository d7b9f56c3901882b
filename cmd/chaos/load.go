package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/mskafka/knative-functions/shared/money"
)

// retryFor is how long a client keeps retrying one request (5xx and
// transport errors, with the same Idempotency-Key) before it gives up.
const retryFor = 90 * time.Second

// prices of the items functions/order/migrations/001_init.sql seeds, to know
// each invoice's total.
var prices = map[int]money.Cents{1: 4200, 2: 2100, 3: 100, 4: 10000}

// request is one order the client places: its key is the Idempotency-Key
// and also the street of both addresses, so every stored order, shipment
// and invoice names the request it came from.
type request struct {
	n     int
	key   string
	body  []byte
	total money.Cents
}

func newRequest(prefix string, n int) request {
	key := fmt.Sprintf("%s-%d", prefix, n)
	count, item := 1+n%3, 1+n%4
	address := map[string]string{"street": key, "zip": "10999", "city": "Berlin"}
	body, _ := json.Marshal(map[string]any{
		"customer":        map[string]int{"customerId": 1 + n%2},
		"shippingAddress": address,
		"billingAddress":  address,
		"orderLine":       []map[string]any{{"count": count, "item": map[string]int{"itemId": item}}},
	})
	return request{n: n, key: key, body: body, total: prices[item].Times(count)}
}

// answer is how a request ended.
type answer struct {
	request
	id        int64  // from the 201
	status    int    // the last status; 0: no answer
	err       string // the last transport error
	attempts  int
	replayed  bool // the 201 carried Idempotent-Replayed: true
	cancelled bool // a DELETE of it was answered 200
	picked    bool // chosen for cancelling
}

func (a answer) accepted() bool { return a.status == http.StatusCreated }

// load places orders at a steady rate until stopped, each retried until it
// has a final answer.
type load struct {
	e      *env
	prefix string
	rate   float64

	mu      sync.Mutex
	answers []*answer
	wg      sync.WaitGroup // placements
	cancels sync.WaitGroup // cancellations
}

// run places orders until ctx ends, then waits for every request's final
// answer (their retries outlive ctx).
func (l *load) run(ctx context.Context, retries context.Context) {
	interval := time.Duration(float64(time.Second) / l.rate)
	slots := make(chan struct{}, 128)
	start := time.Now()
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			l.wg.Wait()
			return
		case <-time.After(time.Until(start.Add(time.Duration(n) * interval))):
		}
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			continue
		}
		a := &answer{request: newRequest(l.prefix, n)}
		l.mu.Lock()
		l.answers = append(l.answers, a)
		l.mu.Unlock()
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			defer func() { <-slots }()
			l.place(retries, a)
		}()
	}
}

// place posts a's order until it has a final answer: 201, another 4xx, or
// retryFor passed.
func (l *load) place(ctx context.Context, a *answer) {
	deadline := time.Now().Add(retryFor)
	for wait := 200 * time.Millisecond; ; wait = min(2*wait, 2*time.Second) {
		a.attempts++
		status, id, replayed, err := l.post(ctx, a)
		l.mu.Lock()
		a.status, a.id, a.replayed = status, id, replayed
		if err != nil {
			a.err = err.Error()
		}
		l.mu.Unlock()
		if (status != 0 && status < 500) || time.Now().After(deadline) || ctx.Err() != nil {
			return
		}
		time.Sleep(wait)
	}
}

func (l *load) post(ctx context.Context, a *answer) (status int, id int64, replayed bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.e.gateway+"/order/api/orders", bytes.NewReader(a.body))
	if err != nil {
		return 0, 0, false, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", a.key)
	resp, err := l.e.http.Do(req)
	if err != nil {
		return 0, 0, false, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, 0, false, err // the answer was cut off: as good as none
	}
	if resp.StatusCode != http.StatusCreated {
		return resp.StatusCode, 0, false, nil
	}
	var o struct {
		ID int64 `json:"id"`
	}
	if err := json.Unmarshal(body, &o); err != nil || o.ID == 0 {
		return 0, 0, false, fmt.Errorf("201 without an order id: %.100s", body)
	}
	return resp.StatusCode, o.ID, resp.Header.Get("Idempotent-Replayed") == "true", nil
}

// snapshot returns the answers so far.
func (l *load) snapshot() []answer {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]answer, len(l.answers))
	for i, a := range l.answers {
		out[i] = *a
	}
	return out
}

// cancelSome starts cancelling every fourth accepted order not picked yet,
// each DELETE retried like a placement; waitCancels waits for them. It
// returns how many it picked.
func (l *load) cancelSome(ctx context.Context) int {
	var todo []*answer
	l.mu.Lock()
	for _, a := range l.answers {
		if a.accepted() && !a.picked && a.n%4 == 0 {
			a.picked = true
			todo = append(todo, a)
		}
	}
	l.mu.Unlock()
	slots := make(chan struct{}, 16)
	for _, a := range todo {
		l.cancels.Add(1)
		go func() {
			defer l.cancels.Done()
			slots <- struct{}{}
			defer func() { <-slots }()
			if l.cancel(ctx, a.id) {
				l.mu.Lock()
				a.cancelled = true
				l.mu.Unlock()
			}
		}()
	}
	return len(todo)
}

func (l *load) waitCancels() { l.cancels.Wait() }

func (l *load) cancel(ctx context.Context, id int64) bool {
	deadline := time.Now().Add(retryFor)
	for wait := 200 * time.Millisecond; time.Now().Before(deadline) && ctx.Err() == nil; wait = min(2*wait, 2*time.Second) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodDelete, fmt.Sprintf("%s/order/api/orders/%d", l.e.gateway, id), nil)
		resp, err := l.e.http.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return true
			}
			if resp.StatusCode < 500 {
				return false
			}
		}
		time.Sleep(wait)
	}
	return false
}
