package systest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/mskafka/knative-functions/shared/testenv"
)

// Ports of the order-trace test: the stack's from orderTracePorts up, then
// Jaeger's.
const (
	orderTracePorts       = 23700
	orderTraceJaegerOTLP  = 23740
	orderTraceJaegerQuery = 23742 // its gRPC API on 23741
)

// TestOrderTraceInBrowser runs the stack with a short idle period against a
// real Jaeger (as `make run OBSERVE=1` does, TRACE_QUERY_URL included),
// waits until shipping and invoicing are at zero, places an order, and
// opens its page in Chromium: the page shows the order's one trace as a
// waterfall with spans of order, the dispatcher, shipping and invoicing and
// their Postgres calls, the cold starts of the two sinks in the trace and
// in the journey, and a link to the raw trace JSON of that same trace.
// With UPDATE_DOCS=1 it also replaces docs/order-trace.png.
func TestOrderTraceInBrowser(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	chrome := testenv.Chromium(t)
	query := startJaeger(t, testenv.JaegerBinary(t), orderTraceJaegerOTLP, orderTraceJaegerQuery)
	dbURL := testenv.Database(t, "stack")
	freshTopics(t, brokers)
	st := startStack(t, dbURL, strings.Join(brokers, ","), orderTracePorts, "SCALE_TO_ZERO_IDLE=2s",
		fmt.Sprintf("OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:%d", orderTraceJaegerOTLP),
		"TRACE_QUERY_URL="+query, "OTEL_BSP_SCHEDULE_DELAY=100")
	gw := st.gateway

	if !t.Run("shipping and invoicing scale to zero", func(t *testing.T) {
		testenv.Eventually(t, 30*time.Second, "shipping and invoicing at zero", func() bool {
			s, err := st.State()
			return err == nil && s.Functions["shipping"].PID == 0 && s.Functions["invoicing"].PID == 0
		})
	}) {
		t.FailNow()
	}
	id := postForm(t, gw+"/order/new", url.Values{
		"customer": {"1"}, "shippingStreet": {"Ohlauer Str. 43"}, "shippingZip": {"10999"}, "shippingCity": {"Berlin"},
		"billingSame": {"1"}, "item": {"1"}, "count": {"2"}, "action": {"place"},
	})
	page := fmt.Sprintf("%s/order/%d", gw, id)

	// Without JavaScript: the page as the server renders it, once the
	// trace store has the spans of both sinks and of both wakes.
	t.Run("the page shows the whole trace without javascript", func(t *testing.T) {
		var body string
		testenv.Eventually(t, 30*time.Second, "the order's page with a complete trace and both cold starts", func() bool {
			body = get(t, page)
			return strings.Contains(body, `data-complete="true"`) &&
				strings.Contains(body, `data-woke="shipping"`) && strings.Contains(body, `data-woke="invoicing"`)
		})
		for _, want := range []string{
			`<span class="svc order">order</span> POST /new <span class="kind">server</span>`,
			`<span class="svc order">order</span> send order <span class="kind">producer</span>`,
			`<span class="svc order">order</span> INSERT orders <span class="kind">client</span>`,
			`<span class="svc dispatcher">dispatcher</span> process order <span class="kind">consumer</span>`,
			`<span class="svc dispatcher">dispatcher</span> activate shipping <strong class="cold">cold start:`,
			`<span class="svc dispatcher">dispatcher</span> activate invoicing <strong class="cold">cold start:`,
			`<span class="svc shipping">shipping</span> POST / <span class="kind">server</span>`,
			`<span class="svc invoicing">invoicing</span> POST / <span class="kind">server</span>`,
			`<span class="svc shipping">shipping</span> INSERT handled_event <span class="kind">client</span>`,
			`<span class="svc invoicing">invoicing</span> INSERT handled_event <span class="kind">client</span>`,
			`· woke shipping cold: `,
		} {
			if !strings.Contains(body, want) {
				t.Errorf("the page lacks %s", want)
			}
		}
		if t.Failed() {
			t.Logf("the page:\n%s", body)
		}
	})

	t.Run("the page in chromium, and its raw trace", func(t *testing.T) {
		b := newBrowserIn(t, chrome, gw, repoRoot+"/artifacts/screenshots-trace")
		defer b.finish()
		b.open(page)
		b.waitJS(`document.querySelector("#trace").dataset.complete === "true"`, "the complete trace")
		services := evaluate[[]string](b, `[...new Set([...document.querySelectorAll("#trace tr.span")].map(r => r.dataset.service))].sort()`)
		if got, want := strings.Join(services, ","), "dispatcher,invoicing,order,shipping"; got != want {
			t.Errorf("spans of %s, want %s", got, want)
		}
		if n := len(b.nodes(`#trace table.waterfall`)); n != 1 {
			t.Errorf("%d traces on the page, want the order's one", n)
		}
		cold := b.text(`#journey [data-step="invoice"] .woke`)
		var ms float64
		if _, err := fmt.Sscanf(strings.TrimSpace(cold), "· woke invoicing cold: %f ms", &ms); err != nil || ms <= 0 {
			t.Errorf("the invoice step says %q, want the wake in ms", cold)
		}
		traceID := b.attr(`#trace table.waterfall`, "data-trace-id")
		var raw struct {
			Data []struct {
				TraceID string `json:"traceID"`
			} `json:"data"`
		}
		if err := json.Unmarshal([]byte(get(t, gw+"/order/"+b.attr("#trace-raw", "href"))), &raw); err != nil || len(raw.Data) != 1 || raw.Data[0].TraceID != traceID {
			t.Errorf("raw trace: %+v %v, want trace %s", raw, err, traceID)
		}
		b.shot("order-trace")
		if os.Getenv("UPDATE_DOCS") != "" {
			png := result(b, chromedp.Screenshot(chromedp.CSS("main")))
			if err := os.WriteFile(filepath.Join(repoRoot, "docs", "order-trace.png"), png, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// get fetches target and returns its body; anything but 200 fails the test.
func get(t *testing.T, target string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", target, resp.StatusCode, b)
	}
	return string(b)
}
