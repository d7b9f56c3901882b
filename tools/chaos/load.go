package main

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/mskafka/knative-functions/tools/internal/loadgen"
	"github.com/mskafka/knative-functions/tools/internal/orderapi"
)

// answer is how a request ended. Its key is the Idempotency-Key and also
// the street of both addresses, so every stored order, shipment and
// invoice names the request it came from.
type answer struct {
	orderapi.Request
	orderapi.Placed        // the last answer; Status 0: none
	err             string // why there was no answer
	attempts        int
	cancelled       bool // a DELETE of it was answered 200
	picked          bool // chosen for cancelling
}

func (a answer) accepted() bool { return a.Status == http.StatusCreated }

// load places orders at a steady rate until stopped, each retried (5xx and
// transport errors, with the same Idempotency-Key) until it has a final
// answer.
type load struct {
	e      *env
	prefix string

	mu      sync.Mutex
	answers []*answer
	cancels sync.WaitGroup // cancellations
}

func (l *load) request(n int) orderapi.Request {
	return orderapi.NewRequest(n, l.prefix+"-"+strconv.Itoa(n))
}

// run places orders until ctx ends, then waits for every request's final
// answer (their retries outlive ctx).
func (l *load) run(ctx context.Context) {
	loadgen.Attack(ctx, loadgen.Options{Rate: l.e.cfg.Rate, InFlight: 128, Client: l.e.orders.HTTP},
		func(n int) vegeta.Target { return l.e.orders.Target(l.request(n)) },
		func(h loadgen.Hit) {
			a := &answer{Request: l.request(h.N), err: h.Err}
			if h.Status != 0 {
				a.attempts, _ = strconv.Atoi(h.Header.Get(orderapi.AttemptsHeader))
				var err error
				if a.Placed, err = orderapi.Answer(h.Status, h.Header, h.Body); err != nil {
					a.err = err.Error()
				}
			}
			l.mu.Lock()
			l.answers = append(l.answers, a)
			l.mu.Unlock()
		})
}

// snapshot copies the answers so far.
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
// each DELETE retried like a placement; l.cancels waits for them. It
// returns how many it picked.
func (l *load) cancelSome(ctx context.Context) int {
	var todo []*answer
	l.mu.Lock()
	for _, a := range l.answers {
		if a.accepted() && !a.picked && a.N%4 == 0 {
			a.picked = true
			todo = append(todo, a)
		}
	}
	l.mu.Unlock()
	slots := make(chan struct{}, 16)
	for _, a := range todo {
		l.cancels.Go(func() {
			slots <- struct{}{}
			defer func() { <-slots }()
			if status, err := l.e.orders.Cancel(ctx, a.ID); err == nil && status == http.StatusOK {
				l.mu.Lock()
				a.cancelled = true
				l.mu.Unlock()
			}
		})
	}
	return len(todo)
}

// describe says how a request that was not accepted ended.
func (a answer) describe() string {
	if a.Status != 0 {
		return fmt.Sprintf("%s: HTTP %d after %d attempts", a.Key, a.Status, a.attempts)
	}
	return fmt.Sprintf("%s: %s", a.Key, a.err)
}
