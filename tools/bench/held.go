package main

import (
	"context"
	"fmt"
	"time"

	"github.com/mskafka/knative-functions/tools/internal/localstack"
)

// heldIdle is the stack's idle period for the held cold starts: short, so
// that twenty of them per function take seconds.
const heldIdle = 200 * time.Millisecond

// heldStarts measures cold start as a user meets it: a request sent to a
// function scaled to zero, held by the stack's activator while the
// function starts, then forwarded and answered. The sender times it, so it
// holds the hold, exec, readiness and the request's own work. The sinks go
// first: order's orders wake them through Kafka.
func (b *bench) heldStarts(ctx context.Context) error {
	st, err := b.startStack(ctx, b.ownStack("stack-cold.log", "SCALE_TO_ZERO_IDLE="+heldIdle.String()))
	if err != nil {
		return err
	}
	defer stopStack(st)
	for _, name := range localstack.StartOrder() {
		var held []time.Duration
		for i := range b.cfg.ColdRuns {
			if err := b.waitScaledToZero(ctx, st, name); err != nil {
				return err
			}
			// Ids far above any the pipeline reaches, and apart from firstEvent's.
			t0 := time.Now()
			if err := b.firstWork(ctx, "http://"+st.Activator(name), name, i, int64(950_000_000+i)); err != nil {
				return fmt.Errorf("%s: held request: %w", name, err)
			}
			held = append(held, time.Since(t0))
		}
		m := ms(median(held))
		for i := range b.report.ColdStarts {
			if c := &b.report.ColdStarts[i]; c.Function == name {
				c.HeldMs = m
			}
		}
		fmt.Fprintf(b.out, "  %-9s held request → answered %.1f ms (median of %d, through the activator)\n", name, m, len(held))
	}
	return nil
}

// waitScaledToZero waits until the stack has stopped the function's last
// instance.
func (b *bench) waitScaledToZero(ctx context.Context, st *localstack.Stack, name string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := st.FunctionPID(name); err != nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s still runs 30 s after its idle period began", name)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}
