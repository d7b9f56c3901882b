package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// maxInFlight bounds the open model where it stops being a load test and
// becomes a fork bomb: a request beyond it counts as an error.
const maxInFlight = 4000

// shot is one order request and its answer.
type shot struct {
	status  int   // 0: no answer
	id      int64 // the order's id, from a 201
	latency time.Duration
	err     string
}

// fire sends orders at rate per second for d, each at its scheduled time
// whatever the earlier ones are doing (an open model, as users are), and
// returns every answer.
func (b *bench) fire(ctx context.Context, url string, rate float64, d time.Duration) []shot {
	n := int(rate * d.Seconds())
	interval := time.Duration(float64(time.Second) / rate)
	shots := make([]shot, n)
	var wg sync.WaitGroup
	var inFlight atomic.Int64
	start := time.Now()
	for i := range n {
		if wait := time.Until(start.Add(time.Duration(i) * interval)); wait > 0 {
			time.Sleep(wait)
		}
		if ctx.Err() != nil {
			shots = shots[:i]
			break
		}
		if inFlight.Load() >= maxInFlight {
			shots[i] = shot{err: "client: too many requests in flight"}
			continue
		}
		inFlight.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer inFlight.Add(-1)
			shots[i] = b.place(ctx, url, i)
		}()
	}
	wg.Wait()
	return shots
}

func (b *bench) place(ctx context.Context, url string, i int) shot {
	t := time.Now()
	resp, err := b.client.Do(orderPost(ctx, url, i))
	if err != nil {
		return shot{latency: time.Since(t), err: shortError(err)}
	}
	defer resp.Body.Close()
	s := shot{status: resp.StatusCode}
	if resp.StatusCode == http.StatusCreated {
		var o struct{ ID int64 }
		if err := json.NewDecoder(resp.Body).Decode(&o); err != nil {
			s.err = "undecodable 201: " + err.Error()
		}
		s.id = o.ID
	}
	io.Copy(io.Discard, resp.Body)
	s.latency = time.Since(t)
	return s
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
		switch {
		case s.status == http.StatusCreated && s.err == "":
		case s.status != 0:
			kinds[fmt.Sprintf("HTTP %d", s.status)]++
		default:
			kinds[s.err]++
		}
	}
	if len(kinds) == 0 {
		return nil
	}
	return kinds
}

func shortError(err error) string {
	if errors.Is(err, context.DeadlineExceeded) {
		return "timeout"
	}
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) && ue.Unwrap() != nil {
		return ue.Unwrap().Error()
	}
	return err.Error()
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
	at := func(p int) float64 { // nearest rank
		r := (p*len(s) + 99) / 100
		return ms(s[max(r, 1)-1])
	}
	return Percentiles{P50: at(50), P95: at(95), P99: at(99), Max: ms(s[len(s)-1]), N: len(s)}
}
