package db

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// maxQueryText bounds the SQL text kept on a span; statements here are
// parameterised, so the text holds no values, only their placeholders.
const maxQueryText = 2048

// tracer makes a client span for every statement, COPY and batch a pool
// runs, through pgx's tracer interfaces. It starts spans only under a span
// that records: a request or an event being handled. Migrations at start,
// readiness pings and the outbox relay's polling make no traces of their own.
type tracer struct {
	t      trace.Tracer
	schema string
}

var (
	_ pgx.QueryTracer    = (*tracer)(nil)
	_ pgx.BatchTracer    = (*tracer)(nil)
	_ pgx.CopyFromTracer = (*tracer)(nil)
)

func newTracer(tp trace.TracerProvider, schema string) *tracer {
	return &tracer{t: tp.Tracer("github.com/mskafka/knative-functions/shared/db"), schema: schema}
}

func (t *tracer) start(ctx context.Context, conn *pgx.Conn, name string, attrs ...attribute.KeyValue) context.Context {
	return t.startAt(ctx, time.Time{}, conn, name, attrs...)
}

// startAt is start with the span's start time; the zero time is now.
func (t *tracer) startAt(ctx context.Context, at time.Time, conn *pgx.Conn, name string, attrs ...attribute.KeyValue) context.Context {
	if !trace.SpanFromContext(ctx).IsRecording() {
		return ctx
	}
	attrs = append(attrs, semconv.DBSystemNamePostgreSQL, semconv.DBNamespace(t.schema))
	if conn != nil {
		if cfg := conn.Config(); cfg != nil {
			attrs = append(attrs, semconv.ServerAddress(cfg.Host), semconv.ServerPort(int(cfg.Port)))
		}
	}
	opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...)}
	if !at.IsZero() {
		opts = append(opts, trace.WithTimestamp(at))
	}
	ctx, _ = t.t.Start(ctx, name, opts...)
	return ctx
}

func (t *tracer) end(ctx context.Context, rows int64, err error) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	if rows >= 0 {
		span.SetAttributes(attribute.Int64("db.response.affected_rows", rows))
	}
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// TraceQueryStart starts the span of an Exec, Query or QueryRow (BEGIN and
// COMMIT are Execs too).
func (t *tracer) TraceQueryStart(ctx context.Context, conn *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	if !trace.SpanFromContext(ctx).IsRecording() {
		return ctx
	}
	op, table := summarize(data.SQL)
	attrs := []attribute.KeyValue{semconv.DBOperationName(op), semconv.DBQueryText(truncate(data.SQL))}
	if table != "" {
		attrs = append(attrs, semconv.DBCollectionName(table))
	}
	return t.start(ctx, conn, spanName(op, table), attrs...)
}

// TraceQueryEnd ends it.
func (t *tracer) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryEndData) {
	t.end(ctx, data.CommandTag.RowsAffected(), data.Err)
}

// TraceCopyFromStart starts the span of a CopyFrom.
func (t *tracer) TraceCopyFromStart(ctx context.Context, conn *pgx.Conn, data pgx.TraceCopyFromStartData) context.Context {
	table := strings.Join(data.TableName, ".")
	return t.start(ctx, conn, spanName("COPY", table),
		semconv.DBOperationName("COPY"), semconv.DBCollectionName(table))
}

// TraceCopyFromEnd ends it.
func (t *tracer) TraceCopyFromEnd(ctx context.Context, _ *pgx.Conn, data pgx.TraceCopyFromEndData) {
	t.end(ctx, data.CommandTag.RowsAffected(), data.Err)
}

// TraceBatchStart starts the span of a SendBatch: one round trip. A batch
// shared by several callers (WithShares) gets a span in each caller's trace.
func (t *tracer) TraceBatchStart(ctx context.Context, conn *pgx.Conn, data pgx.TraceBatchStartData) context.Context {
	attrs := []attribute.KeyValue{semconv.DBOperationName("BATCH"), semconv.DBOperationBatchSize(data.Batch.Len())}
	if sh, ok := ctx.Value(sharesKey{}).(shares); ok {
		b := &batchState{conn: conn, last: time.Now(), owner: sh.owner}
		attrs = append(attrs, attribute.Int("db.batch.shared_by", len(sh.callers)))
		for _, c := range sh.callers {
			b.spans = append(b.spans, t.start(c, conn, "BATCH", attrs...))
		}
		if !slices.ContainsFunc(b.spans, recording) {
			// Nobody's trace records (tracing off, or not sampled): no
			// statement needs its text summarised into a span name.
			return ctx
		}
		return context.WithValue(ctx, batchKey{}, b)
	}
	ctx = t.start(ctx, conn, "BATCH", attrs...)
	if trace.SpanFromContext(ctx).IsRecording() {
		ctx = context.WithValue(ctx, batchKey{}, &batchState{conn: conn, last: time.Now(), spans: []context.Context{ctx}})
	}
	return ctx
}

// WithShares marks a batch sent with ctx as shared by callers (each
// caller's context, with its span): its statement i is callers[owner[i]]'s,
// or every caller's when owner[i] is negative (a BEGIN, a COMMIT). Each
// caller's trace gets a BATCH span with its own statements and the shared
// ones, so a group commit shows in the trace of every event it holds.
func WithShares(ctx context.Context, callers []context.Context, owner []int) context.Context {
	return context.WithValue(ctx, sharesKey{}, shares{callers: callers, owner: owner})
}

type sharesKey struct{}

type shares struct {
	callers []context.Context
	owner   []int
}

// batchKey keys the batchState of a batch's span in its context.
type batchKey struct{}

// batchState is what the spans of a batch's statements need.
type batchState struct {
	conn  *pgx.Conn
	last  time.Time         // when the previous statement's result was read
	spans []context.Context // the batch's span, one per caller sharing it
	owner []int             // whose each statement is (WithShares); nil: the one caller's
	n     int               // statements traced so far
}

// TraceBatchQuery gives one statement of a batch a span of its own under
// the batch's, named as a statement outside a batch would be. The
// statements travel together, so a span runs from the reading of the
// previous statement's result to the reading of its own.
func (t *tracer) TraceBatchQuery(ctx context.Context, _ *pgx.Conn, data pgx.TraceBatchQueryData) {
	b, ok := ctx.Value(batchKey{}).(*batchState)
	if !ok {
		return
	}
	parents := b.spans
	if b.n < len(b.owner) && b.owner[b.n] >= 0 {
		parents = b.spans[b.owner[b.n] : b.owner[b.n]+1]
	}
	b.n++
	defer func() { b.last = time.Now() }()
	if !slices.ContainsFunc(parents, recording) {
		return
	}
	op, table := summarize(data.SQL)
	attrs := []attribute.KeyValue{semconv.DBOperationName(op), semconv.DBQueryText(truncate(data.SQL))}
	if table != "" {
		attrs = append(attrs, semconv.DBCollectionName(table))
	}
	for _, parent := range parents {
		qctx := t.startAt(parent, b.last, b.conn, spanName(op, table), attrs...)
		t.end(qctx, data.CommandTag.RowsAffected(), data.Err)
	}
}

// recording reports whether ctx holds a span that records.
func recording(ctx context.Context) bool { return trace.SpanFromContext(ctx).IsRecording() }

// TraceBatchEnd ends the batch's span (each caller's).
func (t *tracer) TraceBatchEnd(ctx context.Context, _ *pgx.Conn, data pgx.TraceBatchEndData) {
	b, ok := ctx.Value(batchKey{}).(*batchState)
	if !ok {
		t.end(ctx, -1, data.Err)
		return
	}
	for _, span := range b.spans {
		t.end(span, -1, data.Err)
	}
}

func spanName(op, table string) string {
	if table == "" {
		return op
	}
	return op + " " + table
}

func truncate(sql string) string {
	sql = strings.TrimSpace(sql)
	if len(sql) > maxQueryText {
		return sql[:maxQueryText] + "…"
	}
	return sql
}

// summarize returns a statement's operation (its first keyword) and the
// table it works on, when that is plain to see: the table after INSERT
// INTO, UPDATE, DELETE FROM, or the first FROM outside parentheses of a
// SELECT. It only names spans, so a statement it cannot read gets the
// operation alone.
func summarize(sql string) (op, table string) {
	words := strings.Fields(topLevel(sql))
	if len(words) == 0 {
		return "SQL", ""
	}
	op = strings.ToUpper(words[0])
	if op == "WITH" {
		// A statement with data-modifying CTEs is named by the first thing it
		// changes (the order, the event record), else by its main part.
		words = withBody(sql, words)
		op = strings.ToUpper(words[0])
	}
	next := func(after string) string {
		for i, w := range words[:len(words)-1] {
			if strings.EqualFold(w, after) {
				return tableName(words[i+1])
			}
		}
		return ""
	}
	switch op {
	case "INSERT":
		table = next("INTO")
	case "UPDATE":
		if len(words) > 1 {
			table = tableName(words[1])
		}
	case "DELETE", "SELECT":
		table = next("FROM")
	}
	return op, table
}

// withBody returns the words of a WITH statement from its first INSERT,
// UPDATE or DELETE, inside a CTE or not; without one, from its main
// statement (top, the words of its top level).
func withBody(sql string, top []string) []string {
	all := strings.Fields(strings.NewReplacer("(", " ", ")", " ").Replace(text(sql, true)))
	for i, w := range all {
		switch strings.ToUpper(w) {
		case "INSERT", "UPDATE", "DELETE":
			return all[i:]
		}
	}
	for i, w := range top {
		if strings.EqualFold(w, "SELECT") {
			return top[i:]
		}
	}
	return top
}

// topLevel returns sql without comments, string literals and whatever
// stands inside parentheses.
func topLevel(sql string) string { return text(sql, false) }

// text returns sql without comments and string literals, and without what
// stands inside parentheses unless nested.
func text(sql string, nested bool) string {
	var b strings.Builder
	depth := 0
	for i := 0; i < len(sql); i++ {
		c := sql[i]
		switch {
		case c == '-' && i+1 < len(sql) && sql[i+1] == '-':
			for i < len(sql) && sql[i] != '\n' {
				i++
			}
			b.WriteByte(' ')
		case c == '\'':
			for i++; i < len(sql) && sql[i] != '\''; i++ {
			}
			b.WriteString(" '' ")
		case c == '(':
			depth++
			b.WriteByte(' ')
		case c == ')':
			depth = max(depth-1, 0)
			b.WriteByte(' ')
		case depth == 0 || nested:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// tableName keeps a plain identifier (or schema.identifier) and refuses
// anything else, such as a function call or a placeholder.
func tableName(w string) string {
	w = strings.Trim(w, `",;`)
	for _, r := range w {
		if !(r == '_' || r == '.' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return ""
		}
	}
	return w
}
