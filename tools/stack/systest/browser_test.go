package systest

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/mskafka/knative-functions/shared/testenv"
)

// browserPorts are the browser test's own ports, apart from the other
// tests': the gateway, then order, shipping and invoicing.
const browserPorts = 23460

// screenshots is where the browser test leaves a PNG of every page it
// looked at, for a person to look at too (git-ignored, replaced each run).
const screenshots = repoRoot + "/artifacts/screenshots"

// TestBrowser drives the pages in a real headless Chromium (Debian's
// package, as `make test` and CI install it) against the whole stack: a
// newcomer's path through the menu, the order form, the journey, shipping
// and invoicing, cancelling; the form without JavaScript; and the attacks
// the pages must withstand.
func TestBrowser(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	chrome := testenv.Chromium(t)
	started := time.Now()
	dbURL := testenv.Database(t, "stack")
	freshTopics(t, brokers)
	gw := startStack(t, dbURL, strings.Join(brokers, ","), browserPorts).gateway
	b := newBrowser(t, chrome, gw)
	t.Logf("stack and browser ready after %v", time.Since(started).Round(time.Millisecond))

	// The steps share the browser, its page and the order placed by the
	// order form; each reports through its own t.
	var id int64
	var before int
	step := func(name string, f func(t *testing.T)) bool { return b.step(t, name, f) }
	needOrder := func(t *testing.T) {
		if id == 0 {
			t.Skip("needs the order of the step \"order form with a missing zip\"")
		}
	}

	// The menu at the gateway's root explains where to go.
	step("menu", func(t *testing.T) {
		b.open(gw + "/")
		b.wantText("h1", "Order Processing")
		menu := b.text("main")
		for _, want := range []string{"Order", "Create orders and list them", "Shipping", "Invoicing", "Kafka topic", "Jaeger", "Kiali"} {
			if !strings.Contains(menu, want) {
				t.Errorf("menu lacks %q", want)
			}
		}
		b.checkPage()
		b.shot("menu")
		if resp, err := http.Get(gw + "/nowhere"); err != nil || resp.StatusCode != http.StatusNotFound || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
			t.Errorf("gateway GET /nowhere: %v %v, want the 404 page", resp, err)
		} else {
			resp.Body.Close()
		}

	})
	// The form: add a line (no round trip with JavaScript), forget the
	// ZIP code, get the message next to it with everything kept, fix it.
	step("order form with a missing zip", func(t *testing.T) {
		b.click(`a[href="order/new"]`)
		b.wantText("h1", "New order")
		b.shot("new-order")
		b.set("#customer", "2")
		b.typeIn("#shippingStreet", "Ohlauer Str. 43")
		b.typeIn("#shippingCity", "Berlin")
		b.set("#item0", "1")
		b.eval(`window.sameDocument = true`)
		b.click("#add-line")
		if n := evaluate[int](b, `document.querySelectorAll(".line").length`); n != 2 {
			t.Fatalf("after Add line: %d lines, want 2", n)
		}
		if !evaluate[bool](b, `window.sameDocument === true`) {
			t.Error("Add line reloaded the page although JavaScript is on")
		}
		if got := evaluate[string](b, `document.activeElement.id`); got != "item1" {
			t.Errorf("after Add line the focus is on %q, want the new line's item (item1)", got)
		}
		b.set("#item1", "2")
		b.clear("#count1")
		b.typeIn("#count1", "3")
		b.wantText("#total", "Total: 105.00 €")
		status := b.submit(`form.order button[value="place"]:not(.default-submit)`)
		if status != http.StatusUnprocessableEntity {
			t.Errorf("order without ZIP code: status %d, want 422", status)
		}
		b.wantText("#shippingZip-error", "Enter the ZIP code.")
		b.wantText(".error-summary", "Shipping address: Enter the ZIP code.")
		if got := b.attr("#shippingZip", "aria-describedby"); got != "shippingZip-error" {
			t.Errorf("ZIP input aria-describedby = %q, want shippingZip-error", got)
		}
		for sel, want := range map[string]string{"#customer": "2", "#shippingStreet": "Ohlauer Str. 43", "#shippingCity": "Berlin",
			"#item0": "1", "#count0": "1", "#item1": "2", "#count1": "3"} {
			if got := b.value(sel); got != want {
				t.Errorf("after the refused order %s = %q, want %q (what was typed)", sel, got, want)
			}
		}
		if got := evaluate[string](b, `document.activeElement.id`); got != "problems" {
			t.Errorf("after the refused order the focus is on %q, want the list of problems", got)
		}
		b.checkPage()
		b.shot("new-order-problem")
		b.typeIn("#shippingZip", "10999")
		if status := b.submit(`form.order button[value="place"]:not(.default-submit)`); status != http.StatusOK {
			t.Fatalf("placing the order: status %d", status)
		}
		id = b.orderID()
		before = len(b.orders())

	})
	// The journey: accepted, published, shipment and invoice, with times,
	// updating itself until both sides have it.
	step("journey", func(t *testing.T) {
		needOrder(t)
		b.wantText("h1", fmt.Sprintf("Order #%d", id))
		// The sinks may have the order a moment before the relay has marked
		// it sent: the page shows each step as its service reports it.
		b.waitJS(`document.querySelector('[data-step="published"]').classList.contains("done") &&
		document.querySelector('[data-step="shipment"]').classList.contains("done") &&
		document.querySelector('[data-step="invoice"]').classList.contains("done")`, "published, shipment and invoice in the journey")
		for _, step := range []string{"accepted", "published", "shipment", "invoice"} {
			if when := b.text(`[data-step="` + step + `"] .when`); !regexp.MustCompile(`^\d\d:\d\d:\d\d\.\d{3}`).MatchString(when) {
				t.Errorf("journey step %s shows %q, want its time", step, when)
			}
		}
		b.wantText("#journey-status", "Done: shipping and invoicing both have the order.")
		b.checkPage()
		b.shot("order-journey")
		// Post/redirect/get: a reload shows the order again and places nothing.
		b.do(chromedp.Reload())
		b.wantText("h1", fmt.Sprintf("Order #%d", id))
		if after := len(b.orders()); after != before {
			t.Errorf("reloading the order page changed the number of orders from %d to %d", before, after)
		}

	})
	// Shipping and invoicing have it, with the right total.
	step("shipping and invoicing", func(t *testing.T) {
		needOrder(t)
		b.click(`[data-step="shipment"] .detail a`)
		b.wantText("h1", fmt.Sprintf("Shipment of order #%d", id))
		b.wantText("main", "Ohlauer Str. 43")
		b.wantText("table", "iPod touch")
		b.shot("shipment")
		b.click(".crumbs a")
		b.wantText(fmt.Sprintf(`tr:has(a[href="./%d"])`, id), "Rod Johnson")
		b.wantText(fmt.Sprintf(`tr:has(a[href="./%d"])`, id), "to ship")
		b.checkPage()
		b.shot("shipping-list")
		b.open(gw + "/invoicing/")
		b.wantText(fmt.Sprintf(`tr:has(a[href="./%d"])`, id), "105.00 €")
		b.checkPage()
		b.shot("invoicing-list")
		b.click(fmt.Sprintf(`a[href="./%d"]`, id))
		b.wantText("tfoot", "Total 105.00 €")
		b.wantText("tbody", "iPod 1 42.00 € 42.00 €")
		b.wantText("tbody", "iPod touch 3 21.00 € 63.00 €")
		b.checkPage()
		b.shot("invoice")
		b.printShot("invoice-print", "h1", ".top")

	})
	// Cancel it: the confirmation dialog, then the journey shows the
	// cancellation reaching both sides.
	step("cancel", func(t *testing.T) {
		needOrder(t)
		b.open(fmt.Sprintf("%s/order/%d", gw, id))
		question := b.acceptDialog(`#cancel-order`)
		if !strings.Contains(question, fmt.Sprintf("Cancel order #%d?", id)) {
			t.Errorf("cancel asked %q", question)
		}
		b.wantText("#status", "cancelled")
		b.waitJS(`document.querySelector('[data-step="shipment-cancelled"]').classList.contains("done") &&
		document.querySelector('[data-step="invoice-cancelled"]').classList.contains("done")`, "the cancellation in the journey")
		b.wantText(`[data-step="cancelled"] .what`, "Cancelled")
		b.wantText("#journey-status", "Done: shipping and invoicing both have the cancellation.")
		b.shot("order-cancelled")
		b.open(gw + "/shipping/")
		b.wantText(fmt.Sprintf(`tr:has(a[href="./%d"])`, id), "cancelled")

	})
	// An address with markup is shown as text, everywhere.
	step("markup shown as text", func(t *testing.T) {
		const xss = `<script>window.pwned=1</script><img src=x onerror="window.pwned=2">`
		xssID := b.placeOrder(gw+"/order/new", "1", xss)
		b.waitJS(`document.querySelector('[data-step="invoice"]').classList.contains("done")`, "the invoice of the order with markup")
		for _, page := range []string{fmt.Sprintf("/order/%d", xssID), fmt.Sprintf("/shipping/%d", xssID), fmt.Sprintf("/invoicing/%d", xssID)} {
			b.open(gw + page)
			b.wantText("address", xss)
			if evaluate[bool](b, `"pwned" in window || document.querySelector("main img, main script") !== null`) {
				t.Errorf("%s: the address was run as markup", page)
			}
		}
		b.shot("markup-as-text")

	})
	// A form posted from another site is refused, and places nothing.
	step("cross-site form refused", func(t *testing.T) {
		evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprintf(w, `<!doctype html><title>Win a prize</title><form id="f" method="post" action="%s/order/new">
<input name="customer" value="1"><input name="shippingStreet" value="Evil 1"><input name="shippingZip" value="666">
<input name="shippingCity" value="Evil"><input name="billingSame" value="1"><input name="item" value="4">
<input name="count" value="1000"><input name="action" value="place"></form>
<script>document.getElementById("f").submit()</script>`, gw)
		}))
		defer evil.Close()
		before = len(b.orders())
		resp := b.navigationTo(gw+"/order/new", evil.URL)
		if resp.Status != http.StatusForbidden {
			t.Errorf("cross-site form post: status %d, want 403", resp.Status)
		}
		b.wantText("main", "sent from a page of another site, so it was refused")
		b.shot("cross-site-refused")
		if after := len(b.orders()); after != before {
			t.Errorf("the cross-site form post changed the number of orders from %d to %d", before, after)
		}

	})
	// On a phone.
	step("phone", func(t *testing.T) {
		needOrder(t)
		b.do(chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
		b.open(gw + "/order/new")
		b.shot("phone-new-order")
		b.open(fmt.Sprintf("%s/order/%d", gw, id))
		b.waitJS(`document.querySelector('[data-step="invoice-cancelled"]').classList.contains("done")`, "the journey on a phone")
		b.shot("phone-order-journey")
		b.open(gw + "/order/")
		b.shot("phone-orders")
		if w := evaluate[int](b, `document.documentElement.scrollWidth`); w > 390 {
			t.Errorf("the order list is %d px wide on a 390 px phone: it scrolls sideways", w)
		}
		if _, err := chromedp.Call(b.ctx, emulation.ClearDeviceMetricsOverride, cdp.Empty{}); err != nil {
			t.Fatal(err)
		}

	})
	// Keyboard: the first Tab reaches "Skip to content", visibly.
	step("keyboard reaches skip link", func(t *testing.T) {
		b.open(gw + "/order/new")
		b.do(chromedp.KeyEvent(kb.Tab))
		if got := evaluate[string](b, `document.activeElement.className + "|" + getComputedStyle(document.activeElement).outlineStyle`); got != "skip|solid" {
			t.Errorf("first Tab: focus and outline = %q, want the skip link with a solid outline", got)
		}

	})
	// The order function reached directly, without the gateway: its own
	// links work; shipping and invoicing are honestly out of reach.
	step("order function without the gateway", func(t *testing.T) {
		needOrder(t)
		direct := fmt.Sprintf("http://127.0.0.1:%d", browserPorts+1)
		b.open(direct + "/")
		b.click(fmt.Sprintf(`a[href="%d"]`, id))
		b.waitJS(`document.querySelector('[data-step="shipment"]').classList.contains("unknown") &&
		document.querySelector('[data-step="shipment"] .when').textContent === "not reachable"`, "shipping unreachable without the gateway")
		b.wantText(`[data-step="published"]`, "com.example.order.placed")
		b.wantText("#journey-status", "cannot be reached from this address")
		b.shot("direct-journey")

	})

	step("order list", func(*testing.T) { b.orderList() })
	step("without javascript", func(*testing.T) { b.noJavaScript(gw) })
	b.finish()
	t.Logf("browser test done in %v", time.Since(started).Round(time.Millisecond))
}

// orderList shows the list with the orders placed so far, newest first.
func (b *browser) orderList() {
	b.open(b.gw + "/order/")
	ids := evaluate[[]int](b, `Array.from(document.querySelectorAll("tbody tr td:first-child")).map(td => Number(td.textContent.slice(1)))`)
	if len(ids) < 2 || !slices.IsSortedFunc(ids, func(a, c int) int { return c - a }) {
		b.t.Errorf("order list = %v, want the orders newest first", ids)
	}
	b.checkPage()
	b.shot("orders")
}

// noJavaScript uses the form and the cancel confirmation in a tab that runs
// no script: every round trip goes through the server.
func (b *browser) noJavaScript(gw string) {
	t := b.t
	tab, cancel := chromedp.NewContext(b.ctx)
	defer cancel()
	nb := &browser{t: t, ctx: tab, gw: gw, shots: b.shots, n: b.n, mu: b.mu, problems: b.problems, external: b.external}
	nb.watch()
	if _, err := chromedp.Call(tab, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
		t.Fatal(err)
	}
	nb.open(gw + "/order/new")
	nb.set("#customer", "1")
	nb.typeIn("#shippingStreet", "Krischerstr. 100")
	nb.typeIn("#shippingZip", "40789")
	nb.typeIn("#shippingCity", "Monheim am Rhein")
	nb.set("#item0", "4")
	// "Add line" posts the form; the server answers it with one line more.
	if status := nb.submit("#add-line"); status != http.StatusOK {
		t.Fatalf("Add line without JavaScript: status %d", status)
	}
	if n := len(nb.nodes(".line")); n != 2 {
		t.Fatalf("after Add line without JavaScript: %d lines, want 2", n)
	}
	if got := nb.value("#item0"); got != "4" {
		t.Errorf("after Add line item0 = %q, want what was chosen (4)", got)
	}
	if got := evaluate[string](nb, `document.activeElement.id`); got != "item1" {
		t.Errorf("after Add line without JavaScript the focus is on %q, want the new line (item1)", got)
	}
	// "Same as shipping" hides the billing address, also without a script.
	if evaluate[bool](nb, `document.querySelector("#billingStreet").checkVisibility()`) {
		t.Error("billing fields shown although they are the same as shipping")
	}
	nb.click("#billingSame")
	if !evaluate[bool](nb, `document.querySelector("#billingStreet").checkVisibility()`) {
		t.Error("billing fields hidden after unticking \"same as shipping\"")
	}
	nb.click("#billingSame")
	nb.set("#item1", "3")
	nb.clear("#count1")
	nb.typeIn("#count1", "5")
	nb.shot("nojs-two-lines")
	if status := nb.submit("#add-line"); status != http.StatusOK || len(nb.nodes(".line")) != 3 {
		t.Fatalf("second Add line without JavaScript: status %d", status)
	}
	if status := nb.submit(`button[value="remove-line-2"]`); status != http.StatusOK || len(nb.nodes(".line")) != 2 {
		t.Fatalf("Remove without JavaScript: status %d, %d lines", status, len(nb.nodes(".line")))
	}
	if status := nb.submit(`form.order button[value="place"]:not(.default-submit)`); status != http.StatusOK {
		t.Fatalf("placing the order without JavaScript: status %d", status)
	}
	id := nb.orderID()
	nb.wantText("tfoot", "Total 105.00 €")
	nb.wantText(`[data-step="shipment"] .when`, "not checked")
	nb.shot("nojs-order")

	// Cancel: the link shows a confirmation on the page; its button cancels.
	nb.click("#cancel-order")
	nb.wantText("#confirm", fmt.Sprintf("Cancel order #%d?", id))
	nb.shot("nojs-cancel-confirm")
	if status := nb.submit(`#confirm button`); status != http.StatusOK {
		t.Fatalf("confirming the cancel: status %d", status)
	}
	nb.wantText("#status", "cancelled")
	nb.wantText(`[data-step="cancelled"]`, "Cancelled")
	if got := b.order(id).Status; got != "cancelled" {
		t.Errorf("order %d is %q after the confirmed cancel, want cancelled", id, got)
	}
	b.n = nb.n
}

// browser is one tab of the test's Chromium, with the helpers the test
// reads like a person: open, click, type, submit, look.
type browser struct {
	t     *testing.T
	ctx   context.Context
	gw    string
	shots string
	n     int // screenshots taken, for their file names

	mu       *sync.Mutex
	problems *[]string // console errors and outside requests, reported at the end
	external *[]string
}

func newBrowser(t *testing.T, chrome, gw string) *browser {
	t.Helper()
	return newBrowserIn(t, chrome, gw, screenshots)
}

// newBrowserIn is newBrowser keeping its screenshots in shots, emptied first.
func newBrowserIn(t *testing.T, chrome, gw, shots string) *browser {
	t.Helper()
	if err := os.RemoveAll(shots); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chrome),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(t.TempDir()), // a fresh profile
		chromedp.WindowSize(1280, 900),
	)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	b := &browser{t: t, ctx: ctx, gw: gw, shots: shots, mu: &sync.Mutex{}, problems: new([]string), external: new([]string)}
	if err := chromedp.Do(ctx); err != nil { // starts the browser, with no timeout
		t.Fatalf("start chromium: %v", err)
	}
	b.watch()
	return b
}

// watch records what a person would not see but must not happen: script
// errors, Content-Security-Policy violations, requests to anywhere but this
// machine.
func (b *browser) watch() {
	console := chromedp.Console(b.ctx)
	requests := chromedp.Events(b.ctx, network.RequestWillBeSent)
	go func() {
		for m, err := range console {
			if err != nil {
				return
			}
			if m.IsException() || strings.Contains(m.Text, "Content Security Policy") {
				b.mu.Lock()
				*b.problems = append(*b.problems, fmt.Sprintf("%s %s:%d: %s", m.Type, m.URL, m.Line+1, m.Text))
				b.mu.Unlock()
			}
		}
	}()
	go func() {
		for ev, err := range requests {
			if err != nil {
				return
			}
			u, perr := url.Parse(ev.Request.URL)
			if perr != nil || (u.Scheme != "data" && u.Hostname() != "127.0.0.1") {
				b.mu.Lock()
				*b.external = append(*b.external, ev.Request.URL)
				b.mu.Unlock()
			}
		}
	}()
}

// finish fails the test for what watch saw.
func (b *browser) finish() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, p := range *b.problems {
		b.t.Errorf("browser console: %s", p)
	}
	for _, u := range *b.external {
		b.t.Errorf("a page asked outside this machine: %s", u)
	}
}

// step runs f as the step name of t, the browser reporting through the
// step's own t meanwhile.
func (b *browser) step(t *testing.T, name string, f func(t *testing.T)) bool {
	return t.Run(name, func(t *testing.T) {
		parent := b.t
		b.t = t
		defer func() { b.t = parent }()
		f(t)
	})
}

func (b *browser) do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("browser: %v", err)
	}
}

func result[T any](b *browser, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.t.Fatalf("browser: %v", err)
	}
	return v
}

func evaluate[T any](b *browser, js string) T {
	b.t.Helper()
	return result(b, chromedp.Evaluate[T](js))
}

func (b *browser) eval(js string) { b.t.Helper(); evaluate[chromedp.Void](b, js) }

// open loads a page and fails unless it answered 200.
func (b *browser) open(u string) {
	b.t.Helper()
	resp := result(b, chromedp.NavigateResponse(u))
	if resp.Status != http.StatusOK {
		b.t.Fatalf("GET %s: status %d", u, resp.Status)
	}
}

// click follows a link or presses a button; when that loads a page, it
// waits for it.
func (b *browser) click(sel string) {
	b.t.Helper()
	if evaluate[bool](b, fmt.Sprintf(`!!document.querySelector(%q).closest("a[href]")`, sel)) {
		if status := b.submit(sel); status != http.StatusOK {
			b.t.Fatalf("following %s: status %d", sel, status)
		}
		return
	}
	b.do(chromedp.Click(chromedp.CSS(sel)))
}

// submit clicks sel and waits for the page it loads; it returns the status.
func (b *browser) submit(sel string) int64 {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	for attempt := 1; ; attempt++ {
		resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(sel)))
		// A live page (the journey) may replace the node between finding
		// and clicking it: find it again.
		if err != nil && attempt < 3 && strings.Contains(err.Error(), "Could not find node") {
			continue
		}
		if err != nil {
			b.t.Fatalf("submit %s: %v", sel, err)
		}
		return resp.Status
	}
}

// acceptDialog clicks sel, accepts the dialog it opens, waits for the page
// that follows and returns the dialog's question.
func (b *browser) acceptDialog(sel string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	question := make(chan string, 1)
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			question <- ev.Message
			chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
			return
		}
	}()
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("click %s and confirm: %v", sel, err)
	}
	if resp.Status != http.StatusOK {
		b.t.Errorf("after the confirmation: status %d", resp.Status)
	}
	select {
	case q := <-question:
		return q
	default:
		b.t.Fatalf("click %s opened no dialog", sel)
		return ""
	}
}

// navigationTo opens start and returns the response of the first document
// that then loads from target (a form that posts itself, say).
func (b *browser) navigationTo(target, start string) *network.Response {
	b.t.Helper()
	ev := result(b, chromedp.WaitEvent(network.ResponseReceived, func(ev network.EventResponseReceived) bool {
		return ev.Type == network.ResourceTypeDocument && ev.Response.URL == target
	}, chromedp.Navigate(start)))
	b.do(chromedp.WaitReady(chromedp.CSS("main")))
	return ev.Response
}

func (b *browser) set(sel, v string) { b.t.Helper(); b.do(chromedp.SetValue(chromedp.CSS(sel), v)) }
func (b *browser) clear(sel string) {
	b.t.Helper()
	b.eval(fmt.Sprintf(`document.querySelector(%q).value = ""`, sel))
}
func (b *browser) typeIn(sel, s string) {
	b.t.Helper()
	b.do(chromedp.SendKeys(chromedp.CSS(sel), s))
}

func (b *browser) value(sel string) string {
	b.t.Helper()
	return result(b, chromedp.Value(chromedp.CSS(sel)))
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	return evaluate[string](b, fmt.Sprintf(`(document.querySelector(%q) || {innerText: %q}).innerText`, sel, "(no "+sel+")"))
}

func (b *browser) attr(sel, name string) string {
	b.t.Helper()
	return evaluate[string](b, fmt.Sprintf(`document.querySelector(%q).getAttribute(%q) || ""`, sel, name))
}

func (b *browser) nodes(sel string) []string {
	b.t.Helper()
	return evaluate[[]string](b, fmt.Sprintf(`Array.from(document.querySelectorAll(%q)).map(n => n.innerText)`, sel))
}

// wantText fails unless the element's visible text, with white space
// collapsed, contains want.
func (b *browser) wantText(sel, want string) {
	b.t.Helper()
	got := strings.Join(strings.Fields(b.text(sel)), " ")
	if !strings.Contains(got, strings.Join(strings.Fields(want), " ")) {
		b.t.Errorf("%s shows %q, want it to contain %q", sel, got, want)
	}
}

// waitJS waits until the expression is true in the page.
func (b *browser) waitJS(cond, what string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](cond, chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
		b.shot("timeout")
		b.t.Fatalf("waiting for %s: %v", what, err)
	}
}

// orderID reads the order number from the URL of an order page.
func (b *browser) orderID() int64 {
	b.t.Helper()
	loc := result(b, chromedp.Location())
	var id int64
	if _, err := fmt.Sscanf(loc[strings.LastIndex(loc, "/")+1:], "%d", &id); err != nil || !strings.Contains(loc, "/order/") {
		b.t.Fatalf("not on an order page: %s", loc)
	}
	return id
}

// placeOrder fills the form at formURL with one iPod to street and places it.
func (b *browser) placeOrder(formURL, customer, street string) int64 {
	b.t.Helper()
	b.open(formURL)
	b.set("#customer", customer)
	b.set("#shippingStreet", street)
	b.set("#shippingZip", "10999")
	b.set("#shippingCity", "Berlin")
	b.set("#item0", "1")
	if status := b.submit(`form.order button[value="place"]:not(.default-submit)`); status != http.StatusOK {
		b.t.Fatalf("place order: status %d", status)
	}
	return b.orderID()
}

type apiOrder struct {
	ID     int64
	Status string
}

func (b *browser) orders() []apiOrder {
	b.t.Helper()
	var list []apiOrder
	getJSON(b.t, b.gw+"/order/api/orders", &list)
	return list
}

func (b *browser) order(id int64) apiOrder {
	b.t.Helper()
	var o apiOrder
	getJSON(b.t, fmt.Sprintf("%s/order/api/orders/%d", b.gw, id), &o)
	return o
}

// checkPage checks what a person with a keyboard or a screen reader, or
// with weak eyes, needs of the page: every field has a label, and all text
// has enough contrast against its background (WCAG AA).
func (b *browser) checkPage() {
	b.t.Helper()
	unlabelled := evaluate[[]string](b, `Array.from(document.querySelectorAll("input:not([type=hidden]), select, textarea"))
		.filter(el => el.labels.length === 0 && !el.getAttribute("aria-label")).map(el => el.outerHTML)`)
	for _, el := range unlabelled {
		b.t.Errorf("%s: a field without a label: %s", b.title(), el)
	}
	for _, p := range evaluate[[]string](b, contrastJS) {
		b.t.Errorf("%s: too little contrast: %s", b.title(), p)
	}
}

func (b *browser) title() string { return result(b, chromedp.Title()) }

// contrastJS lists the visible texts whose contrast with their background
// is below 4.5:1 (3:1 for large text).
const contrastJS = `(() => {
  const rgb = s => (s.match(/[\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => [r, g, b].map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; })
    .reduce((s, v, i) => s + v * [0.2126, 0.7152, 0.0722][i], 0);
  const bg = el => {
    for (; el; el = el.parentElement) {
      const c = rgb(getComputedStyle(el).backgroundColor);
      if (c.length === 3 || c[3] > 0.5) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const out = [];
  const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n; (n = walk.nextNode());) {
    const el = n.parentElement;
    if (!n.textContent.trim() || !el.checkVisibility() || el.closest(".sr, .skip, .default-submit, [disabled]")) continue;
    const st = getComputedStyle(el);
    const a = lum(rgb(st.color)), c = lum(bg(el));
    const ratio = (Math.max(a, c) + 0.05) / (Math.min(a, c) + 0.05);
    const size = parseFloat(st.fontSize), large = size >= 24 || (size >= 18.66 && Number(st.fontWeight) >= 700);
    if (ratio < (large ? 3 : 4.5)) out.push(JSON.stringify(n.textContent.trim().slice(0, 40)) + " " + ratio.toFixed(2) + ":1");
  }
  return out;
})()`

// shot saves a PNG of the whole page as artifacts/screenshots/NN-name.png.
func (b *browser) shot(name string) {
	b.t.Helper()
	b.n++
	png := result(b, chromedp.FullScreenshot(100))
	if err := os.WriteFile(filepath.Join(b.shots, fmt.Sprintf("%02d-%s.png", b.n, name)), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// printShot saves the page as it prints, and checks that what must show
// (visible) does and what must not (hidden: navigation, buttons) does not.
func (b *browser) printShot(name, visible, hidden string) {
	b.t.Helper()
	if _, err := chromedp.Call(b.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Media: "print"}); err != nil {
		b.t.Fatal(err)
	}
	defer chromedp.Call(b.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{})
	if !evaluate[bool](b, fmt.Sprintf(`document.querySelector(%q).checkVisibility()`, visible)) {
		b.t.Errorf("printing hides %s", visible)
	}
	if evaluate[bool](b, fmt.Sprintf(`document.querySelector(%q).checkVisibility()`, hidden)) {
		b.t.Errorf("printing shows %s", hidden)
	}
	b.shot(name)
}
