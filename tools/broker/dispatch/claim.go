package dispatch

import (
	"context"

	"github.com/IBM/sarama"

	"github.com/mskafka/knative-functions/tools/broker/manifest"
)

// unorderedInFlight bounds the events of one partition in flight at once
// for an unordered source; an ordered one has one at a time.
const unorderedInFlight = 16

// The processor is the sarama.ConsumerGroupHandler of its KafkaSource. It
// works on the records itself rather than through the CloudEvents SDK's
// receiver, which delivers concurrently and marks each offset on its own
// ACK, so a later success would commit past an earlier failure.

// Setup is called when a session starts; there is nothing to prepare.
func (p *processor) Setup(sarama.ConsumerGroupSession) error { return nil }

// Cleanup is called when a session ends, after every ConsumeClaim returned.
func (p *processor) Cleanup(sarama.ConsumerGroupSession) error { return nil }

// ConsumeClaim delivers the records of one partition until the claim is
// released. The session's context ends at a rebalance or shutdown; deliveries
// in flight are abandoned then and their offsets left unmarked.
func (p *processor) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	limit := 1
	if p.src.Ordering == manifest.Unordered {
		limit = unorderedInFlight
	}
	consume(sess.Context(), claim.Messages(), func(m *sarama.ConsumerMessage) { sess.MarkMessage(m, "") }, p.process, limit)
	return nil
}

// consume delivers up to limit records at once (one: in offset order) and
// marks offsets only for the contiguous prefix of finished records, so a
// crash or rebalance never skips a record that is still in flight. process
// reports whether a record's offset may be marked. With a limit of one the
// record is processed right here, without a goroutine of its own: every
// event of an ordered source goes this way.
func consume(ctx context.Context, msgs <-chan *sarama.ConsumerMessage, mark func(*sarama.ConsumerMessage),
	process func(context.Context, *sarama.ConsumerMessage) bool, limit int) {
	type result struct {
		msg  *sarama.ConsumerMessage
		done bool
	}
	var (
		results  = make(chan result, limit)
		pending  window
		inFlight int
		stop     = ctx.Done()
		stopped  bool
	)
	finished := func(r result) {
		inFlight--
		if !r.done {
			// Left pending for good: nothing after it is marked in
			// this claim, so take no more.
			stopped = true
			return
		}
		if m := pending.finish(r.msg); m != nil {
			mark(m)
		}
	}
	for {
		in := msgs
		if stopped || inFlight >= limit {
			in = nil
		}
		if in == nil && inFlight == 0 && (stopped || msgs == nil) {
			return
		}
		select {
		case <-stop:
			stopped, stop = true, nil
		case msg, ok := <-in:
			if !ok {
				msgs = nil
				continue
			}
			pending.add(msg)
			inFlight++
			if limit == 1 {
				finished(result{msg, process(ctx, msg)})
				continue
			}
			go func() { results <- result{msg, process(ctx, msg)} }()
		case r := <-results:
			finished(r)
		}
	}
}

// window tracks the records of one partition in flight, in offset order.
type window struct {
	recs []windowRec
}

type windowRec struct {
	msg  *sarama.ConsumerMessage
	done bool
}

func (w *window) add(msg *sarama.ConsumerMessage) {
	w.recs = append(w.recs, windowRec{msg: msg})
}

// finish records that msg is done and returns the last record of the finished
// prefix that became markable, or nil when the oldest record is still open.
// Marking that one record covers all before it.
func (w *window) finish(msg *sarama.ConsumerMessage) *sarama.ConsumerMessage {
	for i := range w.recs {
		if w.recs[i].msg == msg {
			w.recs[i].done = true
			break
		}
	}
	var last *sarama.ConsumerMessage
	n := 0
	for n < len(w.recs) && w.recs[n].done {
		last = w.recs[n].msg
		n++
	}
	if n > 0 {
		// Shift rather than reslice, so the backing array is reused.
		w.recs = w.recs[:copy(w.recs, w.recs[n:])]
	}
	return last
}
