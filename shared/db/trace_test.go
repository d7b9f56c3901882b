package db

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

func TestSummarize(t *testing.T) {
	tests := []struct {
		sql, op, table string
	}{
		{"begin", "BEGIN", ""},
		{"commit", "COMMIT", ""},
		{`INSERT INTO outbox (id, order_id) VALUES ($1, $2) RETURNING seq`, "INSERT", "outbox"},
		{"WITH o AS (INSERT INTO orders (a) VALUES ($1) RETURNING id), l AS (SELECT 1)\n\tINSERT INTO outbox (order_id) SELECT o.id FROM o", "INSERT", "orders"},
		{"WITH held AS (SELECT 1), ev AS (INSERT INTO handled_event VALUES ($1) RETURNING 1) SELECT held.x FROM held", "INSERT", "handled_event"},
		{"WITH a AS (SELECT 1 FROM x) SELECT a.y FROM a", "SELECT", "a"},
		{"\n\t\t\tINSERT INTO handled_event (source, id, type) VALUES ($1, $2, $3)\n\t\t\tON CONFLICT (source, id) DO NOTHING", "INSERT", "handled_event"},
		{`UPDATE outbox SET sent_at = now() WHERE seq = ANY($1)`, "UPDATE", "outbox"},
		{`DELETE FROM command WHERE id = $1`, "DELETE", "command"},
		{`SELECT o.id, (SELECT sent_at FROM outbox b WHERE b.order_id = o.id AND b.type = 'a(b') AS published
			FROM orders o JOIN customer c ON c.id = o.customer_id WHERE o.id = $1`, "SELECT", "orders"},
		{`SELECT pg_advisory_xact_lock(hashtext(current_schema()), hashtext($1::bigint::text))`, "SELECT", ""},
		{`SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)`, "SELECT", ""},
		{"-- ping", "SQL", ""},
		{`select id from "item" where id = any($1)`, "SELECT", "item"},
	}
	for _, tt := range tests {
		op, table := summarize(tt.sql)
		if op != tt.op || table != tt.table {
			t.Errorf("summarize(%q) = %q, %q; want %q, %q", tt.sql, op, table, tt.op, tt.table)
		}
	}
}

// Statements get client spans under a recording span, and none elsewhere:
// start-up, probes and polling make no traces.
func TestTracer(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	tr := newTracer(tp, "orders")

	// Outside any span: nothing.
	ctx := tr.TraceQueryStart(context.Background(), nil, pgx.TraceQueryStartData{SQL: "select 1"})
	tr.TraceQueryEnd(ctx, nil, pgx.TraceQueryEndData{})
	if n := len(rec.Ended()); n != 0 {
		t.Fatalf("%d spans without a parent, want none", n)
	}

	parentCtx, parent := tp.Tracer("test").Start(context.Background(), "POST /new")
	ctx = tr.TraceQueryStart(parentCtx, nil, pgx.TraceQueryStartData{SQL: "INSERT INTO orders (a) VALUES ($1)", Args: []any{"secret"}})
	tr.TraceQueryEnd(ctx, nil, pgx.TraceQueryEndData{CommandTag: pgconn.NewCommandTag("INSERT 0 1")})
	ctx = tr.TraceCopyFromStart(parentCtx, nil, pgx.TraceCopyFromStartData{TableName: pgx.Identifier{"order_line"}})
	tr.TraceCopyFromEnd(ctx, nil, pgx.TraceCopyFromEndData{Err: errors.New("boom")})
	parent.End()

	type span struct {
		Name   string
		Kind   trace.SpanKind
		Parent trace.SpanID
		Status codes.Code
		Attrs  map[attribute.Key]string
	}
	var got []span
	for _, s := range rec.Ended() {
		if s.Name() == "POST /new" {
			continue
		}
		attrs := map[attribute.Key]string{}
		for _, a := range s.Attributes() {
			attrs[a.Key] = a.Value.String()
		}
		got = append(got, span{s.Name(), s.SpanKind(), s.Parent().SpanID(), s.Status().Code, attrs})
	}
	want := []span{
		{"INSERT orders", trace.SpanKindClient, parent.SpanContext().SpanID(), codes.Unset, map[attribute.Key]string{
			"db.system.name": "postgresql", "db.namespace": "orders", "db.operation.name": "INSERT",
			"db.collection.name": "orders", "db.query.text": "INSERT INTO orders (a) VALUES ($1)",
			"db.response.affected_rows": "1",
		}},
		{"COPY order_line", trace.SpanKindClient, parent.SpanContext().SpanID(), codes.Error, map[attribute.Key]string{
			"db.system.name": "postgresql", "db.namespace": "orders", "db.operation.name": "COPY",
			"db.collection.name": "order_line", "db.response.affected_rows": "0",
		}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("spans (-want +got):\n%s", diff)
	}
}

// A batch is one span, and each of its statements a span under it, named
// as outside a batch; a failed statement marks its own span.
func TestTracerBatch(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	tr := newTracer(tp, "shipping")

	parentCtx, parent := tp.Tracer("test").Start(context.Background(), "POST /")
	b := &pgx.Batch{}
	b.Queue("SELECT pg_advisory_xact_lock($1)", 1)
	b.Queue("WITH ev AS (INSERT INTO handled_event VALUES ($1) RETURNING 1) SELECT EXISTS (SELECT FROM ev)", "e")
	ctx := tr.TraceBatchStart(parentCtx, nil, pgx.TraceBatchStartData{Batch: b})
	tr.TraceBatchQuery(ctx, nil, pgx.TraceBatchQueryData{SQL: b.QueuedQueries[0].SQL, CommandTag: pgconn.NewCommandTag("SELECT 1")})
	tr.TraceBatchQuery(ctx, nil, pgx.TraceBatchQueryData{SQL: b.QueuedQueries[1].SQL, Err: errors.New("boom")})
	tr.TraceBatchEnd(ctx, nil, pgx.TraceBatchEndData{Err: errors.New("boom")})
	parent.End()

	type span struct {
		Name   string
		Parent string
		Status codes.Code
	}
	names := map[trace.SpanID]string{}
	for _, s := range rec.Ended() {
		names[s.SpanContext().SpanID()] = s.Name()
	}
	var got []span
	for _, s := range rec.Ended() {
		if s.Name() != "POST /" {
			got = append(got, span{s.Name(), names[s.Parent().SpanID()], s.Status().Code})
		}
	}
	want := []span{
		{"SELECT", "BATCH", codes.Unset},
		{"INSERT handled_event", "BATCH", codes.Error},
		{"BATCH", "POST /", codes.Error},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("spans (-want +got):\n%s", diff)
	}
}

// A batch shared by two callers (a group commit) shows in each caller's
// trace: a BATCH span under its own span, with its own statements and the
// shared BEGIN and COMMIT.
func TestTracerSharedBatch(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	tr := newTracer(tp, "shipping")

	ctxA, a := tp.Tracer("test").Start(context.Background(), "process A")
	ctxB, bSpan := tp.Tracer("test").Start(context.Background(), "process B")
	b := &pgx.Batch{}
	for _, sql := range []string{"BEGIN", "SELECT pg_advisory_xact_lock(1)", "INSERT INTO handled_event VALUES ('a')",
		"SELECT pg_advisory_xact_lock(2)", "INSERT INTO handled_event VALUES ('b')", "COMMIT"} {
		b.Queue(sql)
	}
	ctx := WithShares(context.Background(), []context.Context{ctxA, ctxB}, []int{-1, 0, 0, 1, 1, -1})
	ctx = tr.TraceBatchStart(ctx, nil, pgx.TraceBatchStartData{Batch: b})
	for _, q := range b.QueuedQueries {
		tr.TraceBatchQuery(ctx, nil, pgx.TraceBatchQueryData{SQL: q.SQL})
	}
	tr.TraceBatchEnd(ctx, nil, pgx.TraceBatchEndData{})
	a.End()
	bSpan.End()

	spans := map[trace.SpanID]sdktrace.ReadOnlySpan{}
	for _, s := range rec.Ended() {
		spans[s.SpanContext().SpanID()] = s
	}
	got := map[string][]string{} // the root's name: the path of each span under it
	for _, s := range rec.Ended() {
		path := s.Name()
		for p := s.Parent(); p.IsValid(); p = spans[p.SpanID()].Parent() {
			path = spans[p.SpanID()].Name() + " > " + path
		}
		root, _, _ := strings.Cut(path, " > ")
		if path != root {
			got[root] = append(got[root], path)
		}
	}
	want := map[string][]string{
		"process A": {"process A > BATCH > BEGIN", "process A > BATCH > SELECT", "process A > BATCH > INSERT handled_event",
			"process A > BATCH > COMMIT", "process A > BATCH"},
		"process B": {"process B > BATCH > BEGIN", "process B > BATCH > SELECT", "process B > BATCH > INSERT handled_event",
			"process B > BATCH > COMMIT", "process B > BATCH"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("spans (-want +got):\n%s", diff)
	}
}

// A shared batch makes spans only in the traces that record: a caller
// without a recording span gets none, and when no caller records the
// statements are not even summarised (the tracer keeps no batch state).
func TestTracerSharedBatchOnlyWhereRecording(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	tr := newTracer(tp, "shipping")
	b := &pgx.Batch{}
	for _, sql := range []string{"BEGIN", "INSERT INTO handled_event VALUES ('a')", "INSERT INTO shipment VALUES ('b')", "COMMIT"} {
		b.Queue(sql)
	}
	run := func(callers ...context.Context) context.Context {
		ctx := tr.TraceBatchStart(WithShares(context.Background(), callers, []int{-1, 0, 1, -1}), nil, pgx.TraceBatchStartData{Batch: b})
		for _, q := range b.QueuedQueries {
			tr.TraceBatchQuery(ctx, nil, pgx.TraceBatchQueryData{SQL: q.SQL})
		}
		tr.TraceBatchEnd(ctx, nil, pgx.TraceBatchEndData{})
		return ctx
	}

	ctxA, a := tp.Tracer("test").Start(context.Background(), "process A")
	run(ctxA, context.Background())
	a.End()
	var got []string
	for _, s := range rec.Ended() {
		got = append(got, s.Name())
	}
	if want := []string{"BEGIN", "INSERT handled_event", "COMMIT", "BATCH", "process A"}; !slices.Equal(got, want) {
		t.Errorf("spans %q, want %q (none of the untraced caller's INSERT shipment)", got, want)
	}

	if ctx := run(context.Background(), context.Background()); ctx.Value(batchKey{}) != nil {
		t.Error("a batch nobody traces keeps batch state")
	}
	if n := len(rec.Ended()); n != len(got) {
		t.Errorf("%d spans after a batch nobody traces, want still %d", n, len(got))
	}
}
