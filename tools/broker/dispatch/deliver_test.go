package dispatch

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/google/go-cmp/cmp"

	"github.com/mskafka/knative-functions/shared/telemetry"
	"github.com/mskafka/knative-functions/tools/broker/manifest"
)

func TestBackoff(t *testing.T) {
	tests := []struct {
		policy manifest.BackoffPolicy
		delay  time.Duration
		n      int
		want   time.Duration
	}{
		{manifest.BackoffLinear, 200 * time.Millisecond, 1, 200 * time.Millisecond},
		{manifest.BackoffLinear, 200 * time.Millisecond, 2, 400 * time.Millisecond},
		{manifest.BackoffLinear, 200 * time.Millisecond, 5, time.Second},
		{manifest.BackoffExponential, 200 * time.Millisecond, 1, 400 * time.Millisecond},
		{manifest.BackoffExponential, 200 * time.Millisecond, 2, 800 * time.Millisecond},
		{manifest.BackoffExponential, 300 * time.Millisecond, 10, 307200 * time.Millisecond},
		{manifest.BackoffExponential, time.Second, 200, time.Duration(1<<63 - 1)},
		{manifest.BackoffExponential, 0, 3, 0},
	}
	for _, tt := range tests {
		if got := backoff(tt.policy, tt.delay, tt.n); got != tt.want {
			t.Errorf("backoff(%s, %v, %d) = %v, want %v", tt.policy, tt.delay, tt.n, got, tt.want)
		}
	}
}

func TestRetryable(t *testing.T) {
	tests := []struct {
		name string
		out  outcome
		want bool
	}{
		{"network error", outcome{err: errors.New("connection refused")}, true},
		{"500", outcome{status: 500}, true},
		{"503", outcome{status: 503}, true},
		{"404", outcome{status: 404}, true},
		{"408", outcome{status: 408}, true},
		{"409", outcome{status: 409}, true},
		{"429", outcome{status: 429}, true},
		{"400", outcome{status: 400}, false},
		{"401", outcome{status: 401}, false},
		{"403", outcome{status: 403}, false},
		{"410", outcome{status: 410}, false},
		{"422", outcome{status: 422}, false},
		{"302", outcome{status: 302}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := retryable(tt.out); got != tt.want {
				t.Errorf("retryable(%+v) = %v, want %v", tt.out, got, tt.want)
			}
		})
	}
}

// fakeDest answers attempts from a script, then with its last entry, and
// records what it was sent.
type fakeDest struct {
	name    string
	script  []outcome
	block   bool // wait for the context instead of answering
	mu      sync.Mutex
	got     []*event.Event
	gotKeys [][]byte
}

func (f *fakeDest) String() string { return f.name }

func (f *fakeDest) send(ctx context.Context, ev *event.Event, key []byte) outcome {
	f.mu.Lock()
	n := len(f.got)
	c := ev.Clone()
	f.got = append(f.got, &c)
	f.gotKeys = append(f.gotKeys, key)
	f.mu.Unlock()
	if f.block {
		<-ctx.Done()
		return outcome{err: ctx.Err()}
	}
	return f.script[min(n, len(f.script)-1)]
}

func (f *fakeDest) calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.got)
}

func TestProcess(t *testing.T) {
	ok := outcome{status: 202}
	unavailable := outcome{status: 503}
	bad := outcome{status: 400, body: []byte(`{"error":"unknown customer"}`), header: http.Header{"Kne-Reason": {"validation"}}}
	down := outcome{err: errors.New("dial tcp: connection refused")}

	tests := []struct {
		name        string
		retry       int
		sink        []outcome
		deadLetter  []outcome // nil: no dead letter sink
		wantCommit  bool
		wantCalls   int
		wantDLCalls int
		wantStats   Stats
		wantDLExt   map[string]any
	}{
		{
			name: "delivered at once", retry: 3, sink: []outcome{ok},
			wantCommit: true, wantCalls: 1, wantStats: Stats{Delivered: 1},
		},
		{
			name: "retried then delivered", retry: 3, sink: []outcome{unavailable, unavailable, ok},
			wantCommit: true, wantCalls: 3, wantStats: Stats{Delivered: 1, Retried: 2},
		},
		{
			name: "refused goes to the dead letter sink at once", retry: 3, sink: []outcome{bad}, deadLetter: []outcome{ok},
			wantCommit: true, wantCalls: 1, wantDLCalls: 1, wantStats: Stats{DeadLettered: 1},
			wantDLExt: map[string]any{
				"key":              "1",
				"knativeerrordest": "http://sink.invalid/",
				"knativeerrorcode": "400",
				"knativeerrordata": "eyJlcnJvciI6InVua25vd24gY3VzdG9tZXIifQ==",
				"reason":           "validation",
			},
		},
		{
			name: "retries exhausted", retry: 2, sink: []outcome{down}, deadLetter: []outcome{ok},
			wantCommit: true, wantCalls: 3, wantDLCalls: 1, wantStats: Stats{Retried: 2, DeadLettered: 1},
			wantDLExt: map[string]any{"key": "1", "knativeerrordest": "http://sink.invalid/"},
		},
		{
			name: "dropped without a dead letter sink", retry: 1, sink: []outcome{bad},
			wantCommit: true, wantCalls: 1, wantStats: Stats{Dropped: 1},
		},
		{
			name: "dead lettering retried until it works", retry: 0, sink: []outcome{bad},
			deadLetter: []outcome{unavailable, {status: 400}, ok},
			wantCommit: true, wantCalls: 1, wantDLCalls: 3, wantStats: Stats{DeadLettered: 1},
			wantDLExt: map[string]any{
				"key": "1", "knativeerrordest": "http://sink.invalid/", "knativeerrorcode": "400",
				"knativeerrordata": "eyJlcnJvciI6InVua25vd24gY3VzdG9tZXIifQ==", "reason": "validation",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sink := &fakeDest{name: "http://sink.invalid/", script: tt.sink}
			p := testProcessor(sink, tt.retry)
			var dl *fakeDest
			if tt.deadLetter != nil {
				dl = &fakeDest{name: "kafka:dl", script: tt.deadLetter}
				p.deadLetter = dl
			}
			commit := p.process(context.Background(), plainRecord())
			if commit != tt.wantCommit {
				t.Errorf("process() = %v, want %v", commit, tt.wantCommit)
			}
			if got := sink.calls(); got != tt.wantCalls {
				t.Errorf("sink called %d times, want %d", got, tt.wantCalls)
			}
			if diff := cmp.Diff(tt.wantStats, statsOf(p)); diff != "" {
				t.Errorf("stats mismatch (-want +got):\n%s", diff)
			}
			if dl == nil {
				return
			}
			if got := dl.calls(); got != tt.wantDLCalls {
				t.Fatalf("dead letter sink called %d times, want %d", got, tt.wantDLCalls)
			}
			last := dl.got[len(dl.got)-1]
			if diff := cmp.Diff(tt.wantDLExt, last.Extensions()); diff != "" {
				t.Errorf("dead letter extensions mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(sink.got[0].ID(), last.ID()); diff != "" {
				t.Errorf("dead letter id mismatch (-want +got):\n%s", diff)
			}
			if got := string(dl.gotKeys[len(dl.gotKeys)-1]); got != "1" {
				t.Errorf("dead letter key = %q, want the record's key %q", got, "1")
			}
			if _, ok := sink.got[0].Extensions()["knativeerrorcode"]; ok {
				t.Error("dead-lettering changed the event the sink was sent")
			}
		})
	}
}

func TestProcessStopsOnCancel(t *testing.T) {
	tests := []struct {
		name string
		sink *fakeDest
		dl   *fakeDest
	}{
		{name: "during an attempt", sink: &fakeDest{block: true}},
		{name: "during backoff", sink: &fakeDest{script: []outcome{{status: 503}}}},
		{name: "while dead-lettering", sink: &fakeDest{script: []outcome{{status: 400}}}, dl: &fakeDest{script: []outcome{{status: 503}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := testProcessor(tt.sink, 10)
			p.src.Delivery.BackoffDelay = time.Hour
			if tt.dl != nil {
				p.deadLetter = tt.dl
			}
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(50*time.Millisecond, cancel)
			start := time.Now()
			if p.process(ctx, plainRecord()) {
				t.Error("process() = true after cancel, want false: the offset must not be marked")
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("process() took %v after cancel", d)
			}
		})
	}
}

func TestProcessAttemptTimeout(t *testing.T) {
	sink := &fakeDest{block: true}
	p := testProcessor(sink, 2)
	p.src.Delivery.Timeout = 20 * time.Millisecond
	p.deadLetter = &fakeDest{script: []outcome{{status: 202}}}
	if !p.process(context.Background(), plainRecord()) {
		t.Fatal("process() = false, want true")
	}
	if got := sink.calls(); got != 3 {
		t.Errorf("sink called %d times, want 3 (timeouts are retried)", got)
	}
	if diff := cmp.Diff(Stats{Retried: 2, DeadLettered: 1}, statsOf(p)); diff != "" {
		t.Errorf("stats mismatch (-want +got):\n%s", diff)
	}
}

func TestProcessDiscardsInvalidEvent(t *testing.T) {
	sink := &fakeDest{script: []outcome{{status: 202}}}
	p := testProcessor(sink, 2)
	msg := &sarama.ConsumerMessage{
		Topic:   "order",
		Headers: []*sarama.RecordHeader{{Key: []byte("content-type"), Value: []byte("application/cloudevents+json")}},
		Value:   []byte("{"),
	}
	if !p.process(context.Background(), msg) {
		t.Error("process() = false, want true: an invalid record must not block its partition")
	}
	if sink.calls() != 0 {
		t.Errorf("sink called %d times, want 0", sink.calls())
	}
	if diff := cmp.Diff(Stats{Dropped: 1}, statsOf(p)); diff != "" {
		t.Errorf("stats mismatch (-want +got):\n%s", diff)
	}
}

func testProcessor(sink destination, retry int) *processor {
	return &processor{
		src: manifest.KafkaSource{Name: "order-to-shipping", Namespace: "ms-kafka",
			Delivery: manifest.Delivery{Retry: retry, BackoffPolicy: manifest.BackoffLinear, BackoffDelay: time.Millisecond}},
		sink:  sink,
		log:   slog.New(slog.DiscardHandler),
		stats: new(counters),
		tel:   telemetry.Noop(),
	}
}

func statsOf(p *processor) Stats { return p.stats.snapshot() }

func plainRecord() *sarama.ConsumerMessage {
	return &sarama.ConsumerMessage{
		Topic: "order", Partition: 2, Offset: 9, Key: []byte("1"), Value: []byte(`{"id":1}`),
		Timestamp: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC),
	}
}

// TestProcessLastFailure: a refused event is counted for its source and in
// the total, and its refusal (status and the sink's reason) is the source's
// last failure.
func TestProcessLastFailure(t *testing.T) {
	sink := &fakeDest{script: []outcome{{status: 400, body: []byte("  not an order: no id\n")}}}
	p := testProcessor(sink, 2)
	total := new(counters)
	p.stats.total = total
	p.deadLetter = &fakeDest{script: []outcome{{status: 202}}}
	if !p.process(context.Background(), plainRecord()) {
		t.Fatal("process() = false, want true")
	}
	for what, c := range map[string]*counters{"source": p.stats, "total": total} {
		if diff := cmp.Diff(Stats{DeadLettered: 1}, c.snapshot()); diff != "" {
			t.Errorf("%s stats (-want +got):\n%s", what, diff)
		}
	}
	f := p.stats.lastFailure.Load()
	if f == nil {
		t.Fatal("no last failure")
	}
	got := *f
	got.At = time.Time{}
	if diff := cmp.Diff(Failure{EventID: "partition:2/offset:9", Attempt: 1, Status: 400, Reason: "not an order: no id"}, got); diff != "" {
		t.Errorf("last failure (-want +got):\n%s", diff)
	}
	if total.lastFailure.Load() != nil {
		t.Error("the total keeps a last failure; only sources do")
	}
}
