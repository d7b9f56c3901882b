package main

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/mskafka/knative-functions/tools/internal/loadgen"
	"github.com/mskafka/knative-functions/tools/internal/orderapi"
)

// maxInFlight bounds the open model where it stops being a load test and
// becomes a fork bomb: a request beyond it starts late.
const maxInFlight = 4000

// shot is one order request and its answer.
type shot struct {
	status  int   // 0: no answer
	id      int64 // the order's id, from a 201
	latency time.Duration
	err     string // what went wrong; empty when the order was placed
}

// fire sends orders at rate per second for d, each at its scheduled time
// whatever the earlier ones are doing (an open model, as users are), and
// returns every answer. With b.keys, each order has an Idempotency-Key.
func (b *bench) fire(ctx context.Context, orders orderapi.Client, rate float64, d time.Duration) []shot {
	var shots []shot
	b.fired++
	round := b.fired
	loadgen.Attack(ctx, loadgen.Options{Rate: rate, Duration: d, InFlight: maxInFlight, Client: orders.HTTP},
		func(n int) vegeta.Target {
			key := ""
			if b.keys {
				key = fmt.Sprintf("bench-%d-%d", round, n)
			}
			return orders.Target(orderapi.NewRequest(n, key))
		},
		func(h loadgen.Hit) {
			s := shot{status: h.Status, latency: h.Latency, err: h.Failure(http.StatusCreated)}
			if p, err := orderapi.Answer(h.Status, h.Header, h.Body); err != nil {
				s.err = "undecodable 201: " + err.Error()
			} else {
				s.id = p.ID
			}
			shots = append(shots, s)
		})
	return shots
}

func acceptedIDs(shots []shot) []int64 {
	var ids []int64
	for _, s := range shots {
		if s.status == http.StatusCreated && s.id > 0 {
			ids = append(ids, s.id)
		}
	}
	return ids
}

func latencies(shots []shot) []time.Duration {
	var l []time.Duration
	for _, s := range shots {
		if s.status != 0 {
			l = append(l, s.latency)
		}
	}
	return l
}

// errorKinds counts the failed requests by what went wrong.
func errorKinds(shots []shot) map[string]int {
	kinds := map[string]int{}
	for _, s := range shots {
		if s.err != "" {
			kinds[s.err]++
		}
	}
	if len(kinds) == 0 {
		return nil
	}
	return kinds
}

// Percentiles of a latency, in milliseconds.
type Percentiles struct {
	P50, P95, P99, Max float64
	N                  int
}

func percentiles(ds []time.Duration) Percentiles {
	if len(ds) == 0 {
		return Percentiles{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	at := func(p int) float64 { return ms(loadgen.Percentile(s, p)) }
	return Percentiles{P50: at(50), P95: at(95), P99: at(99), Max: ms(s[len(s)-1]), N: len(s)}
}
