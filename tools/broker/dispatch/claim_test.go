package dispatch

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/google/go-cmp/cmp"
)

func TestWindow(t *testing.T) {
	tests := []struct {
		name   string
		finish []int64 // offsets 0..4 are in flight; finished in this order
		want   []int64 // what each finish makes markable; -1 for nothing
	}{
		{name: "in order", finish: []int64{0, 1, 2, 3, 4}, want: []int64{0, 1, 2, 3, 4}},
		{name: "reversed", finish: []int64{4, 3, 2, 1, 0}, want: []int64{-1, -1, -1, -1, 4}},
		{name: "gap closes", finish: []int64{0, 2, 3, 1, 4}, want: []int64{0, -1, -1, 3, 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var w window
			msgs := make([]*sarama.ConsumerMessage, 5)
			for i := range msgs {
				msgs[i] = &sarama.ConsumerMessage{Offset: int64(i)}
				w.add(msgs[i])
			}
			var got []int64
			for _, o := range tt.finish {
				m := w.finish(msgs[o])
				if m == nil {
					got = append(got, -1)
				} else {
					got = append(got, m.Offset)
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("markable offsets mismatch (-want +got):\n%s", diff)
			}
			if len(w.recs) != 0 {
				t.Errorf("window still holds %d records", len(w.recs))
			}
		})
	}
}

func TestConsumeInOrderStopsAtUnfinishedRecord(t *testing.T) {
	msgs := make(chan *sarama.ConsumerMessage, 3)
	for o := range int64(3) {
		msgs <- &sarama.ConsumerMessage{Offset: o}
	}
	close(msgs)
	var marked []int64
	process := func(_ context.Context, m *sarama.ConsumerMessage) bool { return m.Offset != 1 }
	consume(context.Background(), msgs, func(m *sarama.ConsumerMessage) { marked = append(marked, m.Offset) }, process, 1)
	if diff := cmp.Diff([]int64{0}, marked); diff != "" {
		t.Errorf("marked offsets mismatch (-want +got):\n%s", diff)
	}
}

func TestConsumeUnordered(t *testing.T) {
	const n, limit = 10, 4
	msgs := make(chan *sarama.ConsumerMessage, n)
	for o := range int64(n) {
		msgs <- &sarama.ConsumerMessage{Offset: o}
	}
	close(msgs)

	var (
		mu             sync.Mutex
		inFlight, peak int
		marked         []int64
		full           = make(chan struct{}) // closed once limit records are in flight
	)
	// The first records wait until the window is full, which proves records
	// run concurrently; record 0 then finishes last of them, so nothing may
	// be marked before it is done.
	process := func(_ context.Context, m *sarama.ConsumerMessage) bool {
		mu.Lock()
		inFlight++
		peak = max(peak, inFlight)
		if inFlight == limit && m.Offset < limit {
			close(full)
		}
		mu.Unlock()
		select {
		case <-full:
		case <-time.After(5 * time.Second):
		}
		if m.Offset == 0 {
			time.Sleep(30 * time.Millisecond)
		}
		mu.Lock()
		inFlight--
		mu.Unlock()
		return true
	}
	mark := func(m *sarama.ConsumerMessage) { marked = append(marked, m.Offset) }
	consume(context.Background(), msgs, mark, process, limit)

	if peak != limit {
		t.Errorf("peak in flight = %d, want %d", peak, limit)
	}
	if len(marked) == 0 || marked[len(marked)-1] != n-1 {
		t.Fatalf("marked %v, want it to end at %d", marked, n-1)
	}
	// Offsets 1..3 finish long before 0; the first mark must cover 0.
	if marked[0] < limit-1 {
		t.Errorf("first mark %d came before record 0 finished with its window", marked[0])
	}
	for i := 1; i < len(marked); i++ {
		if marked[i] <= marked[i-1] {
			t.Errorf("marks not increasing: %v", marked)
		}
	}
}

func TestConsumeUnorderedCancel(t *testing.T) {
	msgs := make(chan *sarama.ConsumerMessage, 3)
	for o := range int64(3) {
		msgs <- &sarama.ConsumerMessage{Offset: o}
	}
	ctx, cancel := context.WithCancel(context.Background())
	// Record 0 never finishes: it is abandoned when ctx ends. 1 and 2 finish,
	// but marking them would commit past 0.
	process := func(ctx context.Context, m *sarama.ConsumerMessage) bool {
		if m.Offset == 0 {
			<-ctx.Done()
			return false
		}
		return true
	}
	var marked []int64
	time.AfterFunc(50*time.Millisecond, cancel)
	consume(ctx, msgs, func(m *sarama.ConsumerMessage) { marked = append(marked, m.Offset) }, process, 4)
	if len(marked) != 0 {
		t.Errorf("marked %v past an unfinished record", marked)
	}
}
