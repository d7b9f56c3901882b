// Package loadgen is the tools' one load generator: an open model, as
// users are, on vegeta's attacker. Each request is sent at its scheduled
// time whatever the earlier ones are doing, up to a bound of requests in
// flight, beyond which a request starts late and says so.
package loadgen

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// Options say how much load to offer.
type Options struct {
	Rate     float64       // requests per second
	Duration time.Duration // how long; zero: until Max requests or ctx ends
	Max      int           // how many at most; zero: no limit
	InFlight uint64        // requests in flight at most; zero: no bound
	Client   *http.Client
}

// Hit is one request and how it ended.
type Hit struct {
	N       int // the request's number, from 0
	Status  int // 0: no answer
	Header  http.Header
	Body    []byte
	Err     string // why there was no answer
	Latency time.Duration
	Late    time.Duration // how much later than scheduled it was sent
}

// Attack sends the requests target makes, target(0) first, at o.Rate until
// o.Duration has passed, o.Max were sent or ctx ends, and hands each hit to
// hit as it ends (from one goroutine). It returns when every request has
// ended: requests in flight are not cut off when ctx ends.
func Attack(ctx context.Context, o Options, target func(n int) vegeta.Target, hit func(Hit)) {
	interval := time.Duration(float64(time.Second) / o.Rate)
	opts := []func(*vegeta.Attacker){vegeta.Client(o.Client)}
	if o.InFlight > 0 {
		opts = append(opts, vegeta.MaxWorkers(o.InFlight), vegeta.Workers(min(o.InFlight, 10)))
	}
	n := 0
	var mu sync.Mutex // vegeta's workers call the targeter at once
	// vegeta records each result's target URL: the fragment, which is
	// never sent, carries the request's number back to it.
	targeter := func(t *vegeta.Target) error {
		mu.Lock()
		defer mu.Unlock()
		*t = target(n)
		t.URL += "#" + strconv.Itoa(n)
		n++
		return nil
	}
	pacer := stopping{ConstantPacer: vegeta.ConstantPacer{Freq: 1, Per: interval}, ctx: ctx, max: uint64(o.Max)}
	attacker := vegeta.NewAttacker(opts...)
	stop := context.AfterFunc(ctx, func() { attacker.Stop() }) // no new requests; those in flight go on
	defer stop()
	began := time.Now()
	for r := range attacker.Attack(targeter, pacer, o.Duration, "") {
		h := Hit{Status: int(r.Code), Header: r.Headers, Body: r.Body, Latency: r.Latency}
		if u, err := url.Parse(r.URL); err == nil {
			h.N, _ = strconv.Atoi(u.Fragment)
		}
		// The pacer's schedule sends request k at (k+1) intervals.
		h.Late = max(r.Timestamp.Sub(began.Add(time.Duration(r.Seq+1)*interval)), 0)
		if h.Status == 0 {
			h.Err = shortError(r.Error)
		}
		hit(h)
	}
}

// Tally is what a load test reports of its hits.
type Tally struct {
	Sent, OK  int             // OK: answered with the status wanted
	Latencies []time.Duration // of the hits answered
	Failures  map[string]int  // the others, by what went wrong
}

// Add counts h, whose wanted status is want, and reports whether it was OK.
func (t *Tally) Add(h Hit, want int) bool {
	t.Sent++
	switch {
	case h.Status == want:
		t.OK++
	case h.Status != 0:
		t.Fail(fmt.Sprintf("HTTP %d %s", h.Status, http.StatusText(h.Status)))
	default:
		t.Fail(cmp.Or(h.Err, "no answer"))
	}
	if h.Status != 0 {
		t.Latencies = append(t.Latencies, h.Latency)
	}
	return h.Status == want
}

// Fail counts a failure that the status alone does not show.
func (t *Tally) Fail(what string) {
	if t.Failures == nil {
		t.Failures = map[string]int{}
	}
	t.Failures[what]++
}

// stopping paces at a constant rate and stops after max hits or when ctx ends.
type stopping struct {
	vegeta.ConstantPacer
	ctx context.Context
	max uint64
}

func (p stopping) Pace(elapsed time.Duration, hits uint64) (time.Duration, bool) {
	if p.ctx.Err() != nil || (p.max > 0 && hits >= p.max) {
		return 0, true
	}
	return p.ConstantPacer.Pace(elapsed, hits)
}

// shortError keeps what distinguishes transport errors, not the URL.
func shortError(msg string) string {
	if strings.Contains(msg, "Client.Timeout exceeded") || strings.Contains(msg, "context deadline exceeded") {
		return "timeout"
	}
	// A *url.Error prints as `Post "http://…": reason`.
	if _, reason, ok := strings.Cut(msg, "\": "); ok {
		return reason
	}
	return msg
}

// Percentile is the p-th percentile of sorted latencies, by nearest rank.
func Percentile(sorted []time.Duration, p int) time.Duration {
	return sorted[max((p*len(sorted)+99)/100, 1)-1]
}
