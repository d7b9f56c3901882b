package order

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/mskafka/knative-functions/shared/events"
	"github.com/mskafka/knative-functions/shared/web"
)

func jsonUnmarshal(data []byte, v any) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return errors.New("the event has no data")
	}
	return json.Unmarshal(data, v)
}

// render executes a page into a buffer first, so a template error becomes a
// clean 500 instead of half a page.
func (s *server) render(w http.ResponseWriter, r *http.Request, status int, page string, data map[string]any) {
	data["Base"] = web.Base(r)
	var buf bytes.Buffer
	if err := s.pages["pages/"+page].ExecuteTemplate(&buf, "layout", data); err != nil {
		s.log.Error("render page", "page", page, "error", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

func (s *server) listPage(w http.ResponseWriter, r *http.Request) {
	limit, offset := paging(r)
	list, err := s.store.List(r.Context(), limit+1, offset)
	if err != nil {
		s.fail(w, r, err)
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

func (s *server) detailPage(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	o, err := s.store.Get(r.Context(), id)
	if errors.Is(err, ErrNotFound) {
		http.NotFound(w, r)
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "detail.html", map[string]any{"Order": o})
}

// form is what the order form shows: the values typed so far and the
// problems found, by field name.
type form struct {
	CustomerID  int64
	Shipping    events.Address
	Billing     events.Address
	BillingSame bool
	Lines       []formLine
	Problems    map[string]string
}

type formLine struct {
	ItemID int64
	Count  string
}

func (s *server) newPage(w http.ResponseWriter, r *http.Request) {
	s.showForm(w, r, http.StatusOK, form{BillingSame: true, Lines: []formLine{{Count: "1"}}})
}

func (s *server) showForm(w http.ResponseWriter, r *http.Request, status int, f form) {
	customers, err := s.store.Customers(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	items, err := s.store.Items(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, status, "new.html", map[string]any{"Form": f, "Customers": customers, "Items": items})
}

// submitForm places an order from the HTML form, or, for the "add line" and
// "remove line" buttons, shows the form again with one line more or less —
// that is how the form works without JavaScript.
func (s *server) submitForm(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, web.MaxJSONBody)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form: "+err.Error(), http.StatusBadRequest)
		return
	}
	f := readForm(r)
	switch action := r.PostForm.Get("action"); {
	case action == "add-line" && len(f.Lines) < MaxLines:
		f.Lines = append(f.Lines, formLine{Count: "1"})
		s.showForm(w, r, http.StatusOK, f)
		return
	case strings.HasPrefix(action, "remove-line-"):
		if i, err := strconv.Atoi(strings.TrimPrefix(action, "remove-line-")); err == nil && i >= 0 && i < len(f.Lines) && len(f.Lines) > 1 {
			f.Lines = append(f.Lines[:i], f.Lines[i+1:]...)
		}
		s.showForm(w, r, http.StatusOK, f)
		return
	}
	req := Request{CustomerID: f.CustomerID, ShippingAddress: f.Shipping, BillingAddress: f.Billing}
	bad := &InvalidError{}
	for i, l := range f.Lines {
		n, err := strconv.Atoi(strings.TrimSpace(l.Count))
		if err != nil {
			bad.add("orderLine["+strconv.Itoa(i)+"].count", "count must be a whole number")
		}
		req.Lines = append(req.Lines, RequestLine{ItemID: l.ItemID, Count: n})
	}
	res, err := s.store.Place(r.Context(), req, nil)
	var invalid *InvalidError
	if errors.As(err, &invalid) || len(bad.Problems) > 0 {
		if invalid != nil {
			bad.Problems = append(bad.Problems, invalid.Problems...)
		}
		f.Problems = map[string]string{}
		for _, p := range bad.Problems {
			if _, seen := f.Problems[p.Field]; !seen {
				f.Problems[p.Field] = p.Message
			}
		}
		s.showForm(w, r, http.StatusBadRequest, f)
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.placed()
	s.log.Info("order placed by form", "order_id", res.Order.ID, "ce_id", res.Event.ID)
	// Post/redirect/get: reloading the page that follows cannot place the order again.
	web.SeeOther(w, strconv.FormatInt(res.Order.ID, 10))
}

func readForm(r *http.Request) form {
	v := r.PostForm
	f := form{
		Shipping:    events.Address{Street: v.Get("shippingStreet"), Zip: v.Get("shippingZip"), City: v.Get("shippingCity")},
		Billing:     events.Address{Street: v.Get("billingStreet"), Zip: v.Get("billingZip"), City: v.Get("billingCity")},
		BillingSame: v.Get("billingSame") != "",
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

func (s *server) cancelForm(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	if _, err := s.store.Cancel(r.Context(), id); err != nil {
		if errors.Is(err, ErrNotFound) {
			http.NotFound(w, r)
			return
		}
		s.fail(w, r, err)
		return
	}
	s.placed()
	s.log.Info("order cancelled by form", "order_id", id)
	web.SeeOther(w, "../"+strconv.FormatInt(id, 10))
}
