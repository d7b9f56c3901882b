package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mskafka/knative-functions/shared/db"
	"github.com/mskafka/knative-functions/tools/broker/dispatch"
	"github.com/mskafka/knative-functions/tools/broker/manifest"
	"github.com/mskafka/knative-functions/tools/broker/ping"
	"github.com/mskafka/knative-functions/tools/internal/localstack"
	"github.com/mskafka/knative-functions/tools/stack/internal/supervise"
	"github.com/mskafka/knative-functions/tools/stack/internal/watch"
)

// watchRead bounds one reading of Kafka and Postgres for the platform page.
const watchRead = 2 * time.Second

// eventing is what startEventing runs, for the platform page to read;
// deliveries holds each PingSource's last ping.Delivery by name.
type eventing struct {
	dispatcher *dispatch.Dispatcher
	sources    []manifest.KafkaSource
	pings      []manifest.PingSource
	deliveries *sync.Map
}

// watcher reads the platform's state for the platform page: from the
// supervisors and activators, the dispatcher and the pings in this process,
// Kafka's committed offsets and order's outbox in Postgres. It asks no
// function anything, so that watching keeps none warm.
type watcher struct {
	fns     *functions
	ev      eventing
	brokers []string
	db      *pgxpool.Pool // connects on the page's first reading
	outboxQ string        // order's backlog

	mu    sync.Mutex
	kafka sarama.Client
	admin sarama.ClusterAdmin
}

func newWatcher(fns *functions, ev eventing, srv servers) (*watcher, error) {
	cfg, err := pgxpool.ParseConfig(srv.adminURL)
	if err != nil {
		return nil, fmt.Errorf("database URL: %w", err)
	}
	cfg.MaxConns = 1
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		return nil, err
	}
	return &watcher{fns: fns, ev: ev, brokers: srv.brokers, db: pool, outboxQ: fmt.Sprintf(
		`SELECT count(*), min(created) FROM %s.outbox WHERE sent_at IS NULL`, pgx.Identifier{db.Role("order")}.Sanitize())}, nil
}

func (w *watcher) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.admin != nil {
		w.admin.Close() // closes the client too
	}
	w.db.Close()
}

func (w *watcher) read(ctx context.Context) watch.State {
	ctx, cancel := context.WithTimeout(ctx, watchRead)
	defer cancel()
	st := watch.State{At: time.Now().UTC()}
	for _, name := range localstack.Roster() {
		if f, ok := w.fns.watch(name); ok {
			st.Functions = append(st.Functions, f)
		}
	}
	for i, s := range w.ev.dispatcher.Sources() { // in the order of ev.sources
		src := watch.Source{SourceStats: s, Sink: sinkName(w.ev.sources[i].Sink)}
		if f := s.LastFailure; f != nil {
			last := *f
			last.At, last.Reason = f.At.UTC(), reason(f.Reason)
			src.LastFailure = &last
		}
		parts, err := w.lag(s.ConsumerGroup, s.Topics)
		if err != nil {
			st.Problems = append(st.Problems, fmt.Sprintf("lag of %s: %v", s.Name, err))
		} else {
			var total int64
			for _, p := range parts {
				total += p.Lag
			}
			src.Partitions, src.Lag = parts, &total
		}
		st.Sources = append(st.Sources, src)
	}
	for _, p := range w.ev.pings {
		v, _ := w.ev.deliveries.Load(p.Name)
		d, _ := v.(ping.Delivery)
		pg := watch.Ping{Name: p.Name, Schedule: p.Schedule, Sink: sinkName(p.Sink), Status: d.Status, Attempts: d.Attempts,
			Last: utc(d.At), Next: utc(d.Next)}
		if d.Err != nil {
			pg.Error = d.Err.Error()
		}
		st.Pings = append(st.Pings, pg)
	}
	if o, err := w.outbox(ctx); err != nil {
		st.Problems = append(st.Problems, fmt.Sprintf("order's outbox: %v", err))
	} else {
		st.Outbox = &o
	}
	return st
}

// utc is t in UTC, nil when t is zero.
func utc(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

// reason is the message of a sink's JSON error answer ({"error": "…"},
// as the functions answer), or the answer as it came.
func reason(body string) string {
	var e struct {
		Error, Message string
	}
	if json.Unmarshal([]byte(body), &e) == nil && (e.Error != "" || e.Message != "") {
		return cmp.Or(e.Error, e.Message)
	}
	return body
}

func sinkName(d manifest.Destination) string {
	if d.Ref != nil {
		return d.Ref.Name
	}
	return d.URI
}

// lag reads a consumer group's committed offsets and each partition's end
// offset from Kafka; a partition without a committed offset lags by all
// that it holds.
func (w *watcher) lag(group string, topics []string) ([]watch.Partition, error) {
	client, admin, err := w.kafkaClients()
	if err != nil {
		return nil, err
	}
	want := map[string][]int32{}
	for _, t := range topics {
		ps, err := client.Partitions(t)
		if err != nil {
			return nil, fmt.Errorf("partitions of %s: %w", t, err)
		}
		want[t] = ps
	}
	committed, err := admin.ListConsumerGroupOffsets(group, want)
	if err != nil {
		return nil, fmt.Errorf("committed offsets of %s: %w", group, err)
	}
	if committed.Err != sarama.ErrNoError {
		return nil, fmt.Errorf("committed offsets of %s: %w", group, committed.Err)
	}
	var out []watch.Partition
	for _, t := range slices.Sorted(maps.Keys(want)) {
		for _, p := range want[t] {
			end, err := client.GetOffset(t, p, sarama.OffsetNewest)
			if err != nil {
				return nil, fmt.Errorf("end offset of %s/%d: %w", t, p, err)
			}
			part := watch.Partition{Topic: t, Partition: p, Committed: -1, End: end}
			from := int64(0)
			if b := committed.GetBlock(t, p); b != nil && b.Offset >= 0 {
				part.Committed, from = b.Offset, b.Offset
			} else if first, err := client.GetOffset(t, p, sarama.OffsetOldest); err == nil {
				from = first
			}
			part.Lag = max(end-from, 0)
			out = append(out, part)
		}
	}
	return out, nil
}

// kafkaClients connects once, on the page's first reading.
func (w *watcher) kafkaClients() (sarama.Client, sarama.ClusterAdmin, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.admin != nil {
		return w.kafka, w.admin, nil
	}
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V4_0_0_0
	cfg.ClientID = "platform-page"
	cfg.Metadata.AllowAutoTopicCreation = false
	cfg.Net.DialTimeout, cfg.Net.ReadTimeout = watchRead, watchRead
	client, err := sarama.NewClient(w.brokers, cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("connect to kafka: %w", err)
	}
	admin, err := sarama.NewClusterAdminFromClient(client)
	if err != nil {
		client.Close()
		return nil, nil, fmt.Errorf("connect to kafka: %w", err)
	}
	w.kafka, w.admin = client, admin
	return client, admin, nil
}

// outbox reads order's outbox backlog from Postgres as the stack's admin
// role: order is not asked, so it stays at zero if it is.
func (w *watcher) outbox(ctx context.Context) (watch.Outbox, error) {
	var (
		o      watch.Outbox
		oldest *time.Time
	)
	if err := w.db.QueryRow(ctx, w.outboxQ).Scan(&o.Unsent, &oldest); err != nil {
		return watch.Outbox{}, fmt.Errorf("read backlog: %w", err)
	}
	if oldest != nil {
		o.OldestAgeMs = max(time.Since(*oldest).Milliseconds(), 0)
	}
	return o, nil
}

// watch reports one function as its supervisor and activator see it.
func (f *functions) watch(name string) (watch.Function, bool) {
	f.mu.Lock()
	s, ok := f.started[name]
	f.mu.Unlock()
	if !ok {
		return watch.Function{}, false
	}
	ps, a := s.proc.State(), s.act
	out := watch.Function{Name: name, State: ps.Phase, Instances: ps.Instances, Restarts: ps.Restarts, ColdStartsMs: []int64{}}
	if a != nil {
		as := a.State()
		out.InFlight, out.Held = as.InFlight, as.Held
		for _, c := range as.ColdStarts {
			out.ColdStartsMs = append(out.ColdStartsMs, c.Milliseconds())
		}
		if as.IdleLeft > 0 && ps.Phase == supervise.PhaseRunning {
			ms := as.IdleLeft.Milliseconds()
			out.IdleLeftMs = &ms
		}
	}
	return out, true
}
