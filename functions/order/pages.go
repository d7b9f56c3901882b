package order

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/mskafka/knative-functions/shared/events"
	"github.com/mskafka/knative-functions/shared/web"
)

// The pages' scripts: the form's add and remove line without a round trip,
// and the detail page's journey and cancel confirmation. The pages work
// without them; the Content-Security-Policy allows no inline script, so
// they are files.
//
//go:embed pages/*.js
var scriptFiles embed.FS

// section is the order function's place in the menu and the footer.
const section = "order"

// scripts serves the pages' scripts at /scripts/, and nothing else.
func scripts() http.Handler {
	sub, _ := fs.Sub(scriptFiles, "pages")
	names, _ := fs.Glob(sub, "*.js")
	return web.Files("/scripts/", sub, names...)
}

func (s *server) render(w http.ResponseWriter, r *http.Request, status int, page string, data map[string]any) {
	if err := s.pages.Render(w, r, "pages/"+page, status, section, data); err != nil {
		s.log.ErrorContext(r.Context(), "render page", "page", page, "error", err)
	}
}

// crossOrigin answers a form (or any request that changes something) that a
// browser sent from a page of another site: it is refused, and nothing changed.
func (s *server) crossOrigin(w http.ResponseWriter, r *http.Request) {
	s.log.WarnContext(r.Context(), "cross-origin request refused", "method", r.Method, "path", r.URL.Path,
		"origin", r.Header.Get("Origin"), "sec_fetch_site", r.Header.Get("Sec-Fetch-Site"))
	web.ErrorPage(w, r, section, http.StatusForbidden,
		"This form was sent from a page of another site, so it was refused and nothing changed. "+
			"To place or cancel an order, use the pages of this site.")
}

func (s *server) listPage(w http.ResponseWriter, r *http.Request) {
	limit, offset, err := paging(r)
	if err != nil {
		s.failPage(w, r, err, retryLater)
		return
	}
	list, err := s.store.List(r.Context(), limit+1, offset)
	if err != nil {
		s.failPage(w, r, err, retryLater)
		return
	}
	page := offset/pageSize + 1
	more := len(list) > limit
	if more {
		list = list[:limit]
	}
	s.render(w, r, http.StatusOK, "list.html", map[string]any{
		"Orders": list, "Page": page, "Prev": page - 1, "Next": page + 1, "More": more,
	})
}

// detailPage shows an order and its journey. With ?cancel it also asks
// whether to cancel it: the confirmation that works without JavaScript.
func (s *server) detailPage(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		web.NotFound(w, r, section, "There is no page "+strconv.Quote(r.PathValue("id"))+" here: order pages have numbers, such as 1.")
		return
	}
	o, err := s.store.Get(r.Context(), id)
	if errors.Is(err, ErrNotFound) {
		web.NotFound(w, r, section, fmt.Sprintf("There is no order #%d.", id))
		return
	}
	if err != nil {
		s.failPage(w, r, err, retryLater)
		return
	}
	s.render(w, r, http.StatusOK, "detail.html", map[string]any{
		"Order":         o,
		"Cancellable":   o.Status == StatusPlaced,
		"ConfirmCancel": r.URL.Query().Has("cancel") && o.Status == StatusPlaced,
		// Without JavaScript the page reloads itself while the one step it
		// can know of without asking the sinks is still to come. An order
		// with no event left in the outbox (OUTBOX_RETENTION deleted its
		// sent row) was published long ago.
		"Refresh": o.Published == nil && o.EventID != "",
		"Trace":   s.traceView(r, o),
	})
}

// traceView is what the page shows of an order's traces.
type traceView struct {
	On bool
	// Off says how to turn tracing on; Err why the traces could not be read.
	Off, Err   string
	Waterfalls []Waterfall
	// Complete: a trace reaches both sinks, so the page's script stops asking.
	Complete bool
	// Woke says, by function, how long the wake took where a step of this
	// order woke it from zero: "23.0 ms".
	Woke map[string]string
}

// traceView reads the order's traces for its page. It asks the query API
// only here, when the page is requested.
func (s *server) traceView(r *http.Request, o Order) traceView {
	if !s.traces.on() {
		return traceView{Off: tracingOff}
	}
	ws, err := s.traces.waterfalls(r.Context(), o)
	if err != nil {
		s.log.WarnContext(r.Context(), "read trace", "order_id", o.ID, "error", err)
		return traceView{On: true, Err: err.Error()}
	}
	v := traceView{On: true, Waterfalls: ws, Woke: map[string]string{}}
	for _, w := range ws {
		if w.Has("shipping") && w.Has("invoicing") {
			v.Complete = true
		}
		for _, s := range w.Spans {
			if _, seen := v.Woke[s.Woke]; s.Woke != "" && !seen {
				v.Woke[s.Woke] = s.ColdText()
			}
		}
	}
	return v
}

// form is what the order form shows: the values typed so far and the
// problems found, by field name as the domain reports them
// ("shippingAddress.street", "orderLine[1].count").
type form struct {
	CustomerID  int64
	Shipping    events.Address
	Billing     events.Address
	BillingSame bool
	Lines       []formLine
	Problems    map[string]string
	// Summary lists the problems in the order of the fields, each with the
	// id of its input, for the box at the top of the form.
	Summary []formProblem
	// Focus is the id of the input that takes the focus when the form comes
	// back from a round trip: after "Add line" the new line, after "Remove"
	// the "Add line" button, so that keyboard users go on where they were.
	Focus string
	// Token is the form's one-time token: the idempotency key of the order
	// it places, so that sending the form again places nothing new.
	Token string
}

type formLine struct {
	ItemID int64
	Count  string
}

type formProblem struct {
	Input, Label, Message string
}

// Err returns the problem with a field, or "".
func (f form) Err(field string) string { return f.Problems[field] }

// LineErr returns the problem with one part ("item", "count") of line i.
func (f form) LineErr(i int, part string) string {
	return f.Problems["orderLine["+strconv.Itoa(i)+"]."+part]
}

// addressField is one input of an address, as the form shows it.
type addressField struct {
	ID, Label, Value, Err, Class, Autocomplete string
}

// Field describes the input for part ("street", "zip", "city") of the
// address of kind ("shipping", "billing").
func (f form) Field(kind, part string) addressField {
	a, auto := f.Shipping, "shipping "
	if kind == "billing" {
		a, auto = f.Billing, "billing "
	}
	field := addressField{Err: f.Problems[kind+"Address."+part]}
	switch part {
	case "street":
		field.ID, field.Label, field.Value, field.Class, field.Autocomplete = kind+"Street", "Street", a.Street, "wide", auto+"street-address"
	case "zip":
		field.ID, field.Label, field.Value, field.Autocomplete = kind+"Zip", "ZIP code", a.Zip, auto+"postal-code"
	default:
		field.ID, field.Label, field.Value, field.Autocomplete = kind+"City", "City", a.City, auto+"address-level2"
	}
	return field
}

// CanAdd reports whether the form may get one more line.
func (f form) CanAdd() bool { return len(f.Lines) < MaxLines }

func (s *server) newPage(w http.ResponseWriter, r *http.Request) {
	s.showForm(w, r, http.StatusOK, form{BillingSame: true, Lines: []formLine{{Count: "1"}}, Token: uuid.NewString()})
}

func (s *server) showForm(w http.ResponseWriter, r *http.Request, status int, f form) {
	customers, err := s.store.Customers(r.Context())
	if err != nil {
		s.failPage(w, r, err, retryLater)
		return
	}
	items, err := s.store.Items(r.Context())
	if err != nil {
		s.failPage(w, r, err, retryLater)
		return
	}
	s.render(w, r, status, "new.html", map[string]any{"Form": f, "Customers": customers, "Items": items, "MaxLines": MaxLines})
}

// submitForm places an order from the HTML form, or, for the "add line" and
// "remove line" buttons, shows the form again with one line more or less —
// that is how the form works without JavaScript.
func (s *server) submitForm(w http.ResponseWriter, r *http.Request) {
	f, key, err := s.readSubmitted(w, r)
	if err != nil {
		s.failPage(w, r, err, retryLater)
		return
	}
	if f.editLines(r.PostForm.Get("action")) {
		s.showForm(w, r, http.StatusOK, f)
		return
	}
	req, bad := f.request()
	var res Placed
	if len(bad.Problems) > 0 {
		// Not placed: a count that is no number must not become an order
		// of zero. Check finds what else is wrong, so all is shown at once.
		err = &InvalidError{Problems: append(bad.Problems, req.Check().Problems...)}
	} else {
		res, err = s.store.Place(r.Context(), req, key)
	}
	if invalid, ok := errors.AsType[*InvalidError](err); ok {
		f.setProblems(invalid.Problems)
		s.showForm(w, r, http.StatusUnprocessableEntity, f)
		return
	}
	if err != nil {
		retry := retryLater
		if key != nil {
			retry = retryForm
		}
		s.failPage(w, r, err, retry)
		return
	}
	if !res.Repeated {
		s.wakeRelay()
	}
	s.log.InfoContext(r.Context(), "order placed by form", "order_id", res.Order.ID, "ce_id", res.Event.ID, "repeated", res.Repeated)
	// Post/redirect/get: reloading the page that follows cannot place the order again.
	web.SeeOther(w, strconv.FormatInt(res.Order.ID, 10))
}

// readSubmitted reads the posted form within the size limit, and the
// command key of its token if it has one.
func (s *server) readSubmitted(w http.ResponseWriter, r *http.Request) (form, *CommandKey, error) {
	r.Body = http.MaxBytesReader(w, r.Body, web.MaxJSONBody)
	if err := r.ParseForm(); err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return form{}, nil, web.Kind(fmt.Sprintf("The form is larger than %d bytes.", web.MaxJSONBody), web.ErrTooLarge)
		}
		return form{}, nil, badRequest("The form could not be read: %v.", err)
	}
	if err := checkFormValues(r.PostForm); err != nil {
		return form{}, nil, err
	}
	f := readForm(r)
	if f.Token == "" {
		return f, nil, nil
	}
	if err := checkToken("the form's token", f.Token); err != nil {
		return form{}, nil, err
	}
	return f, IdempotencyKey(f.Token), nil
}

// editLines does what the "add line" and "remove line" buttons ask, and
// reports whether action was one of them.
func (f *form) editLines(action string) bool {
	switch {
	case action == "add-line":
		if f.CanAdd() {
			f.Lines = append(f.Lines, formLine{Count: "1"})
		}
		f.Focus = "item" + strconv.Itoa(len(f.Lines)-1)
		return true
	case strings.HasPrefix(action, "remove-line-"):
		if i, err := strconv.Atoi(strings.TrimPrefix(action, "remove-line-")); err == nil && i >= 0 && i < len(f.Lines) && len(f.Lines) > 1 {
			f.Lines = append(f.Lines[:i], f.Lines[i+1:]...)
		}
		f.Focus = "add-line"
		return true
	}
	return false
}

// request is the order the form asks for, and the counts that are no
// whole numbers.
func (f form) request() (Request, *InvalidError) {
	req := Request{CustomerID: f.CustomerID, ShippingAddress: f.Shipping, BillingAddress: f.Billing}
	bad := &InvalidError{}
	for i, l := range f.Lines {
		n, err := strconv.Atoi(strings.TrimSpace(l.Count))
		if err != nil {
			bad.add("orderLine["+strconv.Itoa(i)+"].count", "count must be a whole number")
		}
		req.Lines = append(req.Lines, RequestLine{ItemID: l.ItemID, Count: n})
	}
	return req, bad
}

// setProblems keeps the first problem of each field and lists them in the
// order of the form. With "same as shipping" the billing address is a copy
// of the shipping address: its problems are shown there only.
func (f *form) setProblems(problems []Problem) {
	f.Problems = map[string]string{}
	for _, p := range problems {
		if f.BillingSame && strings.HasPrefix(p.Field, "billingAddress.") {
			continue
		}
		if _, seen := f.Problems[p.Field]; !seen {
			f.Problems[p.Field] = fieldMessage(p)
		}
	}
	add := func(field, input, label string) {
		if msg, ok := f.Problems[field]; ok {
			f.Summary = append(f.Summary, formProblem{Input: input, Label: label, Message: msg})
		}
	}
	add("customer", "customer", "Customer")
	for _, a := range []struct{ kind, label string }{{"shipping", "Shipping address"}, {"billing", "Billing address"}} {
		for _, part := range []string{"street", "zip", "city"} {
			add(a.kind+"Address."+part, f.Field(a.kind, part).ID, a.label)
		}
	}
	add("orderLine", "add-line", "Lines")
	for i := range f.Lines {
		n := strconv.Itoa(i)
		add("orderLine["+n+"].item", "item"+n, "Line "+strconv.Itoa(i+1))
		add("orderLine["+n+"].count", "count"+n, "Line "+strconv.Itoa(i+1))
	}
}

// fieldMessage says what to do about a problem, as a message next to the
// field reads: "Enter the ZIP code." rather than "zip is required".
func fieldMessage(p Problem) string {
	if strings.HasSuffix(p.Message, " is required") {
		switch {
		case strings.HasSuffix(p.Field, ".street"):
			return "Enter the street and house number."
		case strings.HasSuffix(p.Field, ".zip"):
			return "Enter the ZIP code."
		case strings.HasSuffix(p.Field, ".city"):
			return "Enter the city."
		}
	}
	return sentence(p.Message)
}

// sentence starts a domain message ("street is required") with a capital
// letter and ends it with a full stop, as a message next to a field reads.
func sentence(msg string) string {
	r, size := utf8.DecodeRuneInString(msg)
	if size == 0 {
		return msg
	}
	msg = string(unicode.ToUpper(r)) + msg[size:]
	if !strings.HasSuffix(msg, ".") {
		msg += "."
	}
	return msg
}

func readForm(r *http.Request) form {
	v := r.PostForm
	f := form{
		Shipping:    events.Address{Street: v.Get("shippingStreet"), Zip: v.Get("shippingZip"), City: v.Get("shippingCity")},
		Billing:     events.Address{Street: v.Get("billingStreet"), Zip: v.Get("billingZip"), City: v.Get("billingCity")},
		BillingSame: v.Get("billingSame") != "",
		Token:       v.Get("token"),
	}
	f.CustomerID, _ = strconv.ParseInt(v.Get("customer"), 10, 64)
	if f.BillingSame {
		f.Billing = f.Shipping
	}
	items, counts := v["item"], v["count"]
	for i := range max(len(items), len(counts)) {
		var l formLine
		if i < len(items) {
			l.ItemID, _ = strconv.ParseInt(items[i], 10, 64)
		}
		if i < len(counts) {
			l.Count = counts[i]
		}
		f.Lines = append(f.Lines, l)
	}
	if len(f.Lines) > MaxLines+1 {
		f.Lines = f.Lines[:MaxLines+1]
	}
	return f
}

// cancelForm cancels an order from the detail page. It wants confirm=yes,
// which only the confirmation (the page's, or the script's dialog) sends;
// without it, it shows the confirmation.
func (s *server) cancelForm(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		web.NotFound(w, r, section, "There is no order "+strconv.Quote(r.PathValue("id"))+".")
		return
	}
	detail := "../" + strconv.FormatInt(id, 10)
	if r.PostFormValue("confirm") != "yes" {
		web.SeeOther(w, detail+"?cancel")
		return
	}
	if _, err := s.store.Cancel(r.Context(), id); err != nil {
		if errors.Is(err, ErrNotFound) {
			web.NotFound(w, r, section, fmt.Sprintf("There is no order #%d.", id))
			return
		}
		s.failPage(w, r, err, retryLater)
		return
	}
	s.wakeRelay()
	s.log.InfoContext(r.Context(), "order cancelled by form", "order_id", id)
	web.SeeOther(w, detail)
}
