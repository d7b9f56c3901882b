package systest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/google/go-cmp/cmp"

	"github.com/mskafka/knative-functions/shared/testenv"
)

// Ports of this test's own, so it runs beside the other tests and `make run`:
// the stack's from tracePorts up (see stackEnv), then Jaeger's.
const (
	tracePorts       = 23400
	traceFirstPort   = tracePorts + 1 // order's activator; shipping and invoicing on the next two
	traceJaegerOTLP  = 23440
	traceJaegerQuery = 23442 // its gRPC API on 23441
)

// startJaeger runs Jaeger in the foreground of infra/local/jaeger.sh on
// the ports given (its gRPC query API on queryPort-1); it dies with the
// test process.
func startJaeger(t *testing.T, bin string, otlpPort, queryPort int) string {
	t.Helper()
	cmd := exec.Command(repoRoot+"/infra/local/jaeger.sh", "run")
	cmd.Env = append(os.Environ(), "JAEGER_BIN="+bin, "JAEGER_DIR="+t.TempDir(),
		fmt.Sprintf("JAEGER_OTLP_PORT=%d", otlpPort), fmt.Sprintf("JAEGER_QUERY_PORT=%d", queryPort))
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("jaeger output:\n%s", out.String())
		}
	})
	query := fmt.Sprintf("http://127.0.0.1:%d", queryPort)
	testenv.Eventually(t, 60*time.Second, "jaeger's query API", func() bool {
		select {
		case <-exited:
			t.Fatalf("jaeger exited at start:\n%s", out.String())
		default:
		}
		resp, err := http.Get(query + "/api/services")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == 200
	})
	return query
}

// TestObservability places orders through the local stack pointed at a real
// Jaeger, then reads back from Jaeger's API the one trace of the order
// placed through the form, from its HTTP span over Postgres, the Kafka send
// and the dispatcher to shipping's and invoicing's Postgres spans; checks
// the log lines of that trace; and reads the numbers of the metrics
// endpoints.
func TestObservability(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	jaegerBin := testenv.JaegerBinary(t)
	query := startJaeger(t, jaegerBin, traceJaegerOTLP, traceJaegerQuery)
	dbURL := testenv.Database(t, "stack")
	freshTopics(t, brokers)
	// Only the standard variables: they reach every process the stack starts.
	st := startStack(t, dbURL, strings.Join(brokers, ","), tracePorts,
		fmt.Sprintf("OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:%d", traceJaegerOTLP),
		"OTEL_BSP_SCHEDULE_DELAY=100",
		"OTEL_SERVICE_NAME=ignored") // each function reports its own name
	gw, logs := st.gateway, st.logs

	// The order of the trace: through the HTML form. More for the metrics:
	// two through the API, one of them cancelled, and a poison record that
	// both sinks refuse. The other steps read what these left behind.
	var formID int64
	ok := t.Run("orders placed, shipped and invoiced", func(t *testing.T) {
		formID = postForm(t, gw+"/order/new", url.Values{
			"customer": {"1"}, "shippingStreet": {"Ohlauer Str. 43"}, "shippingZip": {"10999"}, "shippingCity": {"Berlin"},
			"billingSame": {"1"}, "item": {"1"}, "count": {"2"}, "action": {"place"},
		})
		order := func(customer int) orderReply {
			return postJSON(t, gw+"/order/api/orders", fmt.Sprintf(`{"customer":{"customerId":%d},
			"shippingAddress":{"street":"Ohlauer Str. 43","zip":"10999","city":"Berlin"},
			"billingAddress":{"street":"Ohlauer Str. 43","zip":"10999","city":"Berlin"},
			"orderLine":[{"count":1,"item":{"itemId":4}}]}`, customer))
		}
		second, third := order(2), order(1)
		req, _ := http.NewRequest(http.MethodDelete, fmt.Sprintf("%s/order/api/orders/%d", gw, third.ID), nil)
		if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
			t.Fatalf("cancel: %v %v", err, resp)
		} else {
			resp.Body.Close()
		}
		testenv.Produce(t, testenv.Producer(t, brokers), &sarama.ProducerMessage{Topic: "order", Key: sarama.StringEncoder("poison"),
			Value: sarama.StringEncoder("this is not an order")})

		var shipments []shipment
		var invoices []invoice
		testenv.Eventually(t, 30*time.Second, "shipments and invoices of all orders, one cancelled", func() bool {
			getJSON(t, gw+"/shipping/api/shipments", &shipments)
			getJSON(t, gw+"/invoicing/api/invoices", &invoices)
			s, i := byID(shipments), byID(invoices)
			return len(s) == 3 && len(i) == 3 && s[formID].ID == formID && i[formID].ID == formID &&
				s[second.ID].ID == second.ID && s[third.ID].Cancelled && i[third.ID].Cancelled
		})
	})
	if !ok {
		t.FailNow()
	}

	// The form's request logged the order with its trace id.
	var traceID string
	if !t.Run("form request logged with its trace id", func(t *testing.T) { traceID = logTraceID(t, logs, formID) }) {
		t.FailNow()
	}

	t.Run("one trace from the form to both sinks in jaeger", func(t *testing.T) {

		var tr jaegerTrace
		var problems []string
		testenv.Eventually(t, 30*time.Second, "the whole trace in jaeger", func() bool {
			tr = getTrace(t, query, traceID)
			problems = checkTrace(tr, formID)
			return len(problems) == 0
		})
		t.Logf("trace %s as Jaeger returned it:\n%s", traceID, tr.tree())
		for _, p := range problems {
			t.Error(p)
		}
	})
	t.Run("every log line of the order carries its trace", func(t *testing.T) {
		checkTraceLogs(t, logs.String(), traceID, formID)
	})

	// The metrics, read by the numbers. Three orders, one cancelled: four
	// events, all delivered to both sinks; the poison record rejected by
	// each and dead-lettered once per source.
	placed, cancelled := "com.example.order.placed", "com.example.order.cancelled"
	functionURL := func(i int) string { return fmt.Sprintf("http://127.0.0.1:%d/metrics", traceFirstPort+i) }
	t.Run("order metrics", func(t *testing.T) {
		testenv.Eventually(t, 10*time.Second, "the outbox to drain", func() bool {
			return scrape(t, functionURL(0)).value("outbox_backlog", nil) == 0
		})
		orderM := scrape(t, functionURL(0))
		t.Logf("order /metrics (project series):\n%s", orderM.project())
		want := []metricWant{
			{"orders_placed_total", nil, 3},
			{"outbox_published_total", map[string]string{"type": placed}, 3},
			{"outbox_published_total", map[string]string{"type": cancelled}, 1},
			{"outbox_backlog", nil, 0},
			{"outbox_oldest_age_seconds", nil, 0},
			{"http_server_request_duration_seconds_count", map[string]string{"http_route": "/new", "http_request_method": "POST", "http_response_status_code": "303"}, 1},
		}
		orderM.check(t, "order", "order", want)
	})
	for i, sink := range []string{"shipping", "invoicing"} {
		t.Run(sink+" metrics", func(t *testing.T) {
			m := scrape(t, functionURL(i+1))
			t.Logf("%s /metrics (project series):\n%s", sink, m.project())
			m.check(t, sink, sink, []metricWant{
				{"events_handled_total", map[string]string{"type": placed, "result": "stored"}, 3},
				{"events_handled_total", map[string]string{"type": cancelled, "result": "stored"}, 1},
				{"events_handled_total", map[string]string{"type": "dev.knative.kafka.event", "result": "rejected"}, 1},
				{"events_handled_total", map[string]string{"result": "duplicate"}, 0},
				{"events_handled_total", map[string]string{"result": "failed"}, 0},
				{"events_delay_seconds_count", map[string]string{"type": placed}, 3},
			})
			// Each delay is real and short on one machine.
			sum, count := m.value("events_delay_seconds_sum", map[string]string{"type": placed}), m.value("events_delay_seconds_count", map[string]string{"type": placed})
			if count > 0 && (sum <= 0 || sum/count > 10) {
				t.Errorf("%s: mean end-to-end delay %.3fs, want between 0 and 10s", sink, sum/count)
			}
		})
	}
	t.Run("dispatcher metrics", func(t *testing.T) {
		d := scrape(t, "http://"+st.metrics+"/metrics")
		t.Logf("dispatcher /metrics (project series):\n%s", d.project())
		// Named as Knative's KafkaSource dispatcher names them: one delivery
		// per event, the poison record's ending in 400 (then dead-lettered).
		var dw []metricWant
		for _, src := range []string{"order-to-shipping", "order-to-invoicing"} {
			s := map[string]string{"kn_kafkasource_name": src}
			refused := map[string]string{"kn_kafkasource_name": src, "http_response_status_code": "400"}
			dw = append(dw, metricWant{"kn_eventing_dispatch_latency_milliseconds_count", s, 5},
				metricWant{"kn_eventing_dispatch_latency_milliseconds_count", refused, 1},
				metricWant{"kn_eventing_kafka_discarded_events_1_total", s, 0})
		}
		d.check(t, "dispatcher", "dispatcher", dw)
	})
}

// logTraceID finds the trace id of the form's log line for order id.
func logTraceID(t *testing.T, logs *syncBuffer, id int64) string {
	t.Helper()
	var traceID string
	testenv.Eventually(t, 5*time.Second, "the form's log line", func() bool {
		for _, l := range logLines(logs.String(), "order") {
			if l["msg"] == "order placed by form" && l["order_id"] == float64(id) {
				traceID, _ = l["trace_id"].(string)
				return true
			}
		}
		return false
	})
	if len(traceID) != 32 {
		t.Fatalf("the form's log line has trace_id %q", traceID)
	}
	return traceID
}

// logLines returns the JSON log lines the stack printed for one process.
func logLines(out, process string) []map[string]any {
	var lines []map[string]any
	s := bufio.NewScanner(strings.NewReader(out))
	s.Buffer(make([]byte, 64<<10), 1<<20)
	for s.Scan() {
		name, rest, ok := strings.Cut(s.Text(), " ")
		if !ok || name != process {
			continue
		}
		var l map[string]any
		if json.Unmarshal([]byte(strings.TrimSpace(rest)), &l) == nil {
			lines = append(lines, l)
		}
	}
	return lines
}

// checkTraceLogs: every line written for the traced order, in any process,
// carries the trace's ids and the event's attributes.
func checkTraceLogs(t *testing.T, out, traceID string, id int64) {
	t.Helper()
	want := map[string][]string{
		"order":     {"order placed by form", "event published"},
		"dispatch":  {"delivered"},
		"shipping":  {"event handled"},
		"invoicing": {"event handled"},
	}
	for process, msgs := range want {
		for _, msg := range msgs {
			found := false
			for _, l := range logLines(out, process) {
				if l["msg"] != msg || l["trace_id"] != traceID {
					continue
				}
				found = true
				if sid, _ := l["span_id"].(string); len(sid) != 16 {
					t.Errorf("%s %q: span_id %q", process, msg, sid)
				}
				if msg != "order placed by form" && msg != "delivered" && l["order_id"] != float64(id) {
					t.Errorf("%s %q: order_id %v, want %d", process, msg, l["order_id"], id)
				}
				if msg != "order placed by form" && (l["ce_id"] == nil || l["ce_type"] != "com.example.order.placed") {
					t.Errorf("%s %q: ce_id %v ce_type %v", process, msg, l["ce_id"], l["ce_type"])
				}
			}
			if !found {
				t.Errorf("no %s log line %q with trace_id %s", process, msg, traceID)
			}
		}
	}
	for _, l := range logLines(out, "order") {
		for _, v := range l {
			if s, ok := v.(string); ok && strings.Contains(s, "password") {
				t.Errorf("a log line shows a password: %v", l)
			}
		}
	}
}

// jaegerTrace is a trace as Jaeger's query API (/api/traces/{id}) returns it.
type jaegerTrace struct {
	TraceID string `json:"traceID"`
	Spans   []struct {
		SpanID        string `json:"spanID"`
		OperationName string `json:"operationName"`
		References    []struct {
			RefType string `json:"refType"`
			TraceID string `json:"traceID"`
			SpanID  string `json:"spanID"`
		} `json:"references"`
		StartTime int64  `json:"startTime"`
		ProcessID string `json:"processID"`
		Tags      []struct {
			Key   string `json:"key"`
			Value any    `json:"value"`
		} `json:"tags"`
	} `json:"spans"`
	Processes map[string]struct {
		ServiceName string `json:"serviceName"`
	} `json:"processes"`
}

// span is one span of a jaegerTrace with its parent resolved.
type span struct {
	id, parent, service, name, kind string
	start                           int64
	tags                            map[string]string
}

func (tr jaegerTrace) spans() map[string]*span {
	m := map[string]*span{}
	for _, s := range tr.Spans {
		sp := &span{id: s.SpanID, service: tr.Processes[s.ProcessID].ServiceName, name: s.OperationName,
			start: s.StartTime, tags: map[string]string{}}
		for _, r := range s.References {
			if r.RefType == "CHILD_OF" && r.TraceID == tr.TraceID {
				sp.parent = r.SpanID
			}
		}
		for _, tg := range s.Tags {
			sp.tags[tg.Key] = fmt.Sprint(tg.Value)
		}
		sp.kind = sp.tags["span.kind"]
		m[sp.id] = sp
	}
	return m
}

func children(all map[string]*span, parent *span) []*span {
	var out []*span
	for _, s := range all {
		if (parent == nil && s.parent == "") || (parent != nil && s.parent == parent.id) {
			out = append(out, s)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].start < out[j].start })
	return out
}

// tree renders the trace as "service: span [kind]", children indented.
func (tr jaegerTrace) tree() string {
	all := tr.spans()
	var b strings.Builder
	var walk func(*span, int)
	walk = func(s *span, depth int) {
		kind := ""
		if s.kind != "" && s.kind != "internal" {
			kind = " [" + s.kind + "]"
		}
		fmt.Fprintf(&b, "%s%s: %s%s\n", strings.Repeat("  ", depth), s.service, s.name, kind)
		for _, c := range children(all, s) {
			walk(c, depth+1)
		}
	}
	for _, root := range children(all, nil) {
		walk(root, 0)
	}
	return b.String()
}

func getTrace(t *testing.T, query, id string) jaegerTrace {
	t.Helper()
	resp, err := http.Get(query + "/api/traces/" + id)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Data []jaegerTrace `json:"data"`
	}
	if resp.StatusCode != 200 {
		return jaegerTrace{}
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("jaeger trace %s: %v", id, err)
	}
	if len(body.Data) != 1 {
		return jaegerTrace{}
	}
	return body.Data[0]
}

// checkTrace lists what the trace of the form's order lacks: the shape is
//
//	order: POST /new [server]
//	  order: BATCH [client] ⊃ BEGIN, SELECT customer, SELECT item, SELECT (the id)
//	  order: BATCH [client] ⊃ INSERT orders (with lines and outbox row), COMMIT
//	  order: send order [producer]
//	    dispatcher: process order [consumer]   (one per KafkaSource)
//	      dispatcher: POST 127.0.0.1:<port>/ [client]
//	        <sink>: POST / [server]
//	          <sink>: process com.example.order.placed [consumer]
//	            <sink>: BATCH [client] ⊃ SELECT (the order lock), INSERT handled_event (record, lines)
func checkTrace(tr jaegerTrace, orderID int64) []string {
	all := tr.spans()
	var problems []string
	want := func(parent *span, service, name, kind string, match func(*span) bool) *span {
		for _, s := range children(all, parent) {
			if s.service == service && s.name == name && s.kind == kind && (match == nil || match(s)) {
				return s
			}
		}
		where := "at the root"
		if parent != nil {
			where = "under " + parent.service + ": " + parent.name
		}
		problems = append(problems, fmt.Sprintf("no %s span %s: %s %s", kind, service, name, where))
		return nil
	}
	// wantBatch finds a pipelined batch under parent whose statements
	// include names (each a client span under the BATCH span).
	wantBatch := func(parent *span, service string, names ...string) {
		if parent == nil {
			return
		}
		for _, b := range children(all, parent) {
			if b.service != service || b.name != "BATCH" {
				continue
			}
			have := map[string]bool{}
			for _, st := range children(all, b) {
				have[st.name] = true
			}
			if !slices.ContainsFunc(names, func(n string) bool { return !have[n] }) {
				return
			}
		}
		problems = append(problems, fmt.Sprintf("no %s BATCH with %v under %s: %s", service, names, parent.service, parent.name))
	}
	if len(all) == 0 {
		return []string{"trace not found"}
	}
	roots := children(all, nil)
	if len(roots) != 1 {
		problems = append(problems, fmt.Sprintf("%d root spans, want 1", len(roots)))
	}
	root := want(nil, "order", "POST /new", "server", nil)
	if root == nil {
		return problems
	}
	wantBatch(root, "order", "BEGIN", "SELECT customer", "SELECT item")
	wantBatch(root, "order", "INSERT orders", "COMMIT")
	sendSpan := want(root, "order", "send order", "producer", func(s *span) bool {
		return s.tags["order.id"] == strconv.FormatInt(orderID, 10) && s.tags["messaging.destination.name"] == "order"
	})
	if sendSpan == nil {
		return problems
	}
	for _, sink := range []struct{ name, table string }{{"shipping", "shipment"}, {"invoicing", "invoice"}} {
		source := "order-to-" + sink.name
		process := want(sendSpan, "dispatcher", "process order", "consumer", func(s *span) bool {
			return s.tags["knative.kafkasource.name"] == source
		})
		if process == nil {
			continue
		}
		port := traceFirstPort + 1
		if sink.name == "invoicing" {
			port++
		}
		delivery := want(process, "dispatcher", fmt.Sprintf("POST 127.0.0.1:%d/", port), "client", nil)
		if delivery == nil {
			continue
		}
		server := want(delivery, sink.name, "POST /", "server", nil)
		if server == nil {
			continue
		}
		handled := want(server, sink.name, "process com.example.order.placed", "consumer", func(s *span) bool {
			return s.tags["order.id"] == strconv.FormatInt(orderID, 10) && s.tags["event.result"] == "stored"
		})
		wantBatch(handled, sink.name, "SELECT", "INSERT handled_event")
	}
	return problems
}

// metrics are the series of one scrape, by name.
type metrics map[string][]series

type series struct {
	labels map[string]string
	value  float64
}

var seriesLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$`)
var labelPair = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)

func scrape(t *testing.T, target string) metrics {
	t.Helper()
	resp, err := http.Get(target)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", target, resp.StatusCode, b)
	}
	m := metrics{}
	for _, line := range strings.Split(string(b), "\n") {
		g := seriesLine.FindStringSubmatch(line)
		if g == nil {
			continue
		}
		v, err := strconv.ParseFloat(g[3], 64)
		if err != nil {
			continue
		}
		s := series{labels: map[string]string{}, value: v}
		for _, p := range labelPair.FindAllStringSubmatch(g[2], -1) {
			s.labels[p[1]] = p[2]
		}
		m[g[1]] = append(m[g[1]], s)
	}
	return m
}

// value sums the series of name whose labels include want.
func (m metrics) value(name string, want map[string]string) float64 {
	var sum float64
outer:
	for _, s := range m[name] {
		for k, v := range want {
			if s.labels[k] != v {
				continue outer
			}
		}
		sum += s.value
	}
	return sum
}

// project lists the series of this project's own instruments.
func (m metrics) project() string {
	var lines []string
	for name, ss := range m {
		if strings.HasPrefix(name, "http_") || strings.HasPrefix(name, "target_info") || strings.HasSuffix(name, "_bucket") {
			continue
		}
		for _, s := range ss {
			var ls []string
			for k, v := range s.labels {
				if k != "service_name" {
					ls = append(ls, k+"="+v)
				}
			}
			sort.Strings(ls)
			lines = append(lines, fmt.Sprintf("  %s{%s} %g", name, strings.Join(ls, ","), s.value))
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

type metricWant struct {
	name   string
	labels map[string]string
	value  float64
}

func (m metrics) check(t *testing.T, what, service string, want []metricWant) {
	t.Helper()
	type kv struct {
		Name   string
		Labels string
		Value  float64
	}
	var got, wanted []kv
	for _, w := range want {
		labels := map[string]string{"service_name": service}
		for k, v := range w.labels {
			labels[k] = v
		}
		key := fmt.Sprint(w.labels)
		wanted = append(wanted, kv{w.name, key, w.value})
		got = append(got, kv{w.name, key, m.value(w.name, labels)})
	}
	if diff := cmp.Diff(wanted, got); diff != "" {
		t.Errorf("%s metrics (-want +got):\n%s", what, diff)
	}
}
