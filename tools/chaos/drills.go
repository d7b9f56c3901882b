package main

import (
	"context"
	"syscall"
	"time"

	"github.com/mskafka/knative-functions/shared/events"
	"github.com/mskafka/knative-functions/tools/internal/localstack"
)

// A drill is one fault: injected while orders are being placed, held for a
// while, then healed. The runner does the rest (load, cancellations,
// convergence, the exact-set check), so a new fault is one more entry in
// allDrills.
type drill struct {
	name string
	// inject starts the fault; heal ends it (nil: the fault ends by itself,
	// as a poison record does once it is dead-lettered).
	inject func(ctx context.Context, e *env) error
	heal   func(ctx context.Context, e *env) error
	hold   time.Duration // how long the fault lasts, load going on, before heal
	// cancel: cancel every fourth order accepted so far, once right after
	// the inject and once just before the heal, so the cancellations are
	// written while the fault holds.
	cancel bool
	// poison is a plain record produced onto topic order by inject; the
	// drill then expects it on the dead-letter topic, once per KafkaSource.
	poison []byte
	// converge is the longest wait, from the heal, for every accepted order
	// to be shipped and invoiced and the outbox to be empty. It must cover
	// the KafkaSource's backoff (infra/eventing/kafkasources.yaml: 0.5 s
	// doubling, so a 30 s outage can cost ~30 s more); for a poison record
	// it is the promptness asked of the orders behind it.
	converge time.Duration
}

// poisonNotAnOrder is JSON, but no order: the sinks refuse it with 400.
var poisonNotAnOrder = []byte(`{"chaos":"poison","note":"not an order"}`)

// poisonOutOfRange is an order in the original's shape whose "updated"
// (epoch milliseconds) is far beyond what Postgres can store (issue 12,
// item 1): it must be refused as permanent, not retried for 17 minutes.
var poisonOutOfRange = []byte(`{"id":990000001,` +
	`"customer":{"customerId":1,"name":"Wolff","firstname":"Eberhard","email":"eberhard.wolff@gmail.com"},` +
	`"updated":10000000000000000,` +
	`"shippingAddress":{"street":"Poison Str. 1","zip":"10999","city":"Berlin"},` +
	`"billingAddress":{"street":"Poison Str. 1","zip":"10999","city":"Berlin"},` +
	`"orderLine":[{"count":1,"item":{"itemId":1,"name":"iPod","price":42.0}}],"numberOfLines":1}`)

// allDrills is the drill table, in running order. The out-of-range poison
// record goes last: where the sinks still take it for a transient failure
// it blocks its partition for the whole backoff, and every later drill
// would wait behind it.
func allDrills() []drill {
	var ds []drill
	// kill -9 of each function: the stack's supervisor must start it again,
	// as Knative would a crashed pod; heal only waits until it answers.
	for _, name := range localstack.Roster() {
		ds = append(ds, drill{name: name + "-kill9", hold: 3 * time.Second, converge: 2 * time.Minute,
			inject: func(ctx context.Context, e *env) error { return e.killFunction(name) },
			heal:   func(ctx context.Context, e *env) error { return e.stack.WaitServing(ctx, 2*time.Minute) }})
	}
	kafka := func(name string, sig syscall.Signal, cancel bool) drill {
		return drill{name: name, hold: 10 * time.Second, cancel: cancel, converge: 3 * time.Minute,
			inject: func(ctx context.Context, e *env) error { return e.signalKafka(ctx, sig) },
			heal:   func(ctx context.Context, e *env) error { return e.script(ctx, "kafka", "start") }}
	}
	poison := func(name, key string, record []byte, converge time.Duration) drill {
		return drill{name: name, hold: 10 * time.Second, poison: record, converge: converge,
			inject: func(ctx context.Context, e *env) error { return e.produce(ctx, events.Topic, key, record) }}
	}
	return append(ds,
		// The stack itself: its functions must die with it, and a new stack
		// must start cleanly.
		drill{name: "stack-kill9", hold: 3 * time.Second, converge: 2 * time.Minute,
			inject: func(ctx context.Context, e *env) error { return e.stack.Kill(ctx) },
			heal:   func(ctx context.Context, e *env) error { return e.startStack(ctx) }},
		kafka("kafka-kill9", syscall.SIGKILL, false),
		kafka("kafka-sigterm", syscall.SIGTERM, false),
		kafka("kafka-down-cancel", syscall.SIGKILL, true),
		drill{name: "postgres-immediate", hold: 5 * time.Second, cancel: true, converge: 3 * time.Minute,
			inject: func(ctx context.Context, e *env) error { return e.script(ctx, "postgres", "crash") },
			heal:   func(ctx context.Context, e *env) error { return e.script(ctx, "postgres", "start") }},
		drill{name: "sink-failing-30s", hold: 30 * time.Second, cancel: true, converge: 3 * time.Minute,
			inject: func(ctx context.Context, e *env) error { return e.failSinks(ctx) },
			heal:   func(ctx context.Context, e *env) error { return e.healSinks(ctx) }},
		poison("poison-not-an-order", "poison", poisonNotAnOrder, time.Minute),
		poison("poison-out-of-range", "990000001", poisonOutOfRange, 60*time.Second),
	)
}
