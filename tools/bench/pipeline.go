package main

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"slices"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/mskafka/knative-functions/tools/internal/loadgen"
	"github.com/mskafka/knative-functions/tools/internal/localstack"
	"github.com/mskafka/knative-functions/tools/internal/orderapi"
)

const (
	// Sustained is the highest step that lost nothing, failed nothing, and
	// kept the end-to-end p99 under this.
	sustainedP99 = 100 * time.Millisecond
	// maxInFlight bounds the open model where it stops being a load test and
	// becomes a fork bomb: a request beyond it starts late.
	maxInFlight = 4000
)

// rateSteps are the offered rates, as fractions of the bound: stepped up
// until the pipeline saturates. Finer below half the bound, where the
// pipeline on two cores saturates against the minimal SQL's bound.
var rateSteps = []float64{0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.4, 1.6}

// pipeline offers the stack stepped open-model load until it saturates, then
// once more half the sustained rate.
func (b *bench) pipeline(ctx context.Context) error {
	if err := b.statementsReady(ctx); err != nil {
		fmt.Fprintf(b.out, "  statements not counted: %v\n", err)
	}
	st, err := b.startStack(ctx, b.ownStack("stack.log", "WARM=1"))
	if err != nil {
		return err
	}
	defer stopStack(st)
	rates := b.rates()
	// A warm-up step, not reported: the broker's JVM compiles its hot paths
	// with C2 and the pools fill, which would otherwise land in the first
	// measured step's tail.
	warm := rates[min(2, len(rates)-1)]
	fmt.Fprintf(b.out, "  warm-up: %.0f/s for %s (not reported)\n", warm, b.cfg.Step)
	if _, err := b.step(ctx, st, warm, b.cfg.Step); err != nil {
		return err
	}
	for _, rate := range rates {
		s, err := b.step(ctx, st, rate, b.cfg.Step)
		if err != nil {
			return err
		}
		b.report.Steps = append(b.report.Steps, s)
		b.printStep(s)
		if s.saturated() {
			break
		}
	}
	sustained := b.report.sustained()
	if sustained == nil || len(b.cfg.Rates) > 0 {
		return nil
	}
	half, err := b.step(ctx, st, math.Round(sustained.Offered/2), b.cfg.Step)
	if err != nil {
		return err
	}
	half.Half = true
	b.report.Steps = append(b.report.Steps, half)
	b.printStep(half)
	return nil
}

func (b *bench) rates() []float64 {
	if len(b.cfg.Rates) > 0 {
		return b.cfg.Rates
	}
	bound := b.report.Bound.OrdersPerSec
	if bound <= 0 { // no bound measured: fixed steps
		return []float64{50, 100, 200, 300, 400, 500, 600, 800, 1000}
	}
	rates := make([]float64, len(rateSteps))
	for i, f := range rateSteps {
		rates[i] = math.Max(10, math.Round(f*bound/10)*10)
	}
	return rates
}

func (b *bench) printStep(s Step) {
	tag := ""
	if s.Half {
		tag = " (half the sustained rate)"
	}
	fmt.Fprintf(b.out, "  %5.0f/s offered%s: %5.0f/s accepted, e2e p50 %.1f p99 %.1f max %.1f ms (of which commit → sent mark p50 %.1f p99 %.1f), API p99 %.1f ms, errors %d, lost %d, drained in %.1f s\n",
		s.Offered, tag, s.AcceptedPerSec, s.E2E.P50, s.E2E.P99, s.E2E.Max, s.Relayed.P50, s.Relayed.P99, s.API.P99, s.Errors, s.Lost, s.DrainSec)
}

// step offers rate orders per second for d, waits until the sinks
// have caught up, and reads what happened from the database and /proc.
func (b *bench) step(ctx context.Context, st *localstack.Stack, rate float64, d time.Duration) (Step, error) {
	// Each part of the pipeline by its PID, as the stack tells them: the
	// functions, and the stack itself (dispatchers and gateway).
	pids := map[string]int{"stack": st.PID()}
	for _, name := range localstack.Roster() {
		if pid, err := st.FunctionPID(name); err == nil {
			pids[name] = pid
		}
	}
	before, err := b.snapshot(ctx, pids)
	if err != nil {
		return Step{}, err
	}
	peaks := sampleRSS(pids)
	started := time.Now()
	tally, ids := b.fire(ctx, st, rate, d)
	offered := time.Since(started)
	drain, lost, err := b.waitStored(ctx, ids)
	if err != nil {
		return Step{}, err
	}
	rss := peaks()
	after, err := b.snapshot(ctx, pids)
	if err != nil {
		return Step{}, err
	}
	delays, relayed, err := b.delays(ctx, ids)
	if err != nil {
		return Step{}, err
	}
	return Step{
		Offered: rate, Sent: tally.Sent, Accepted: len(ids),
		AcceptedPerSec: float64(len(ids)) / offered.Seconds(),
		Errors:         tally.Sent - len(ids), ErrorKinds: tally.Failures,
		Lost: lost, DrainSec: drain.Seconds(),
		API: percentiles(tally.Latencies), E2E: percentiles(delays), Relayed: percentiles(relayed),
		RSSMiB: rss, Cost: cost(before, after, len(ids)),
	}, nil
}

// fire sends orders at rate per second for d, each at its scheduled time
// whatever the earlier ones are doing (an open model, as users are), and
// returns their tally and the ids of the orders placed. With b.keys, each
// order has an Idempotency-Key.
func (b *bench) fire(ctx context.Context, st *localstack.Stack, rate float64, d time.Duration) (loadgen.Tally, []int64) {
	orders := orderapi.Client{Base: st.GatewayURL() + "/order", HTTP: b.client}
	var t loadgen.Tally
	var ids []int64
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
			if !t.Add(h, http.StatusCreated) {
				return
			}
			if p, err := orderapi.Answer(h.Status, h.Header, h.Body); err != nil {
				t.Fail("undecodable 201: " + err.Error())
			} else {
				ids = append(ids, p.ID)
			}
		})
	return t, ids
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
	s := slices.Sorted(slices.Values(ds))
	at := func(p int) float64 { return ms(loadgen.Percentile(s, p)) }
	return Percentiles{P50: at(50), P95: at(95), P99: at(99), Max: ms(s[len(s)-1]), N: len(s)}
}
