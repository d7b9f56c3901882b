package sink

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/mskafka/knative-functions/shared/telemetry"
	"github.com/mskafka/knative-functions/shared/web"
)

// PageSize is the number of records on a page of a list, in HTML and JSON.
const PageSize = 50

// MaxPage is the highest page number a list accepts: far beyond any list
// (it would hold 50 million records), low enough that its offset is never
// near an overflow.
const MaxPage = 1_000_000

// Records is the read side of a sink's store; *Postgres is one.
type Records[R any] interface {
	// List returns at most limit records after the first offset, in a
	// stable order, newest first.
	List(ctx context.Context, limit, offset int) ([]R, error)
	// Get returns the record of an order, or an error wrapping ErrNotFound.
	Get(ctx context.Context, orderID int64) (R, error)
}

// Site is what a sink function's read side says about itself.
type Site struct {
	// Section is the function's name, its place in the menu: "shipping".
	Section string
	// Plural names the records in paths and messages: "shipments" serves
	// /api/shipments.
	Plural string
	// Noun names one record in messages: "shipment".
	Noun string
	// Pages holds templates/list.html (given .List, .Page, .Prev, .Next)
	// and templates/detail.html (given .Record).
	Pages fs.FS
}

// Routes returns the whole HTTP surface of a sink function, relative to
// its root (a gateway may serve it under a prefix such as /shipping/ with
// the prefix stripped, so the pages link relatively): POST / the sink, GET /
// and /{orderId} the pages, GET /api/<plural> and /api/<plural>/{orderId}
// the JSON API. API routes answer errors as JSON, pages as HTML.
func Routes[R any](site Site, store Store, records Records[R], log *slog.Logger, tel *telemetry.Telemetry) (http.Handler, error) {
	rd := &reader[R]{site: site, records: records, pages: web.LazyPages(site.Pages, "templates/*.html"), log: log}
	mux := http.NewServeMux()
	mux.Handle("POST /{$}", Handler(store, log, tel))
	mux.HandleFunc("GET /{$}", rd.listPage)
	mux.HandleFunc("GET /{orderId}", rd.detailPage)
	mux.HandleFunc("GET /api/"+site.Plural, rd.listJSON)
	mux.HandleFunc("GET /api/"+site.Plural+"/{orderId}", rd.getJSON)
	mux.Handle("GET /static/", web.Static())
	mux.Handle("GET /", web.NotFoundHandler(site.Section))
	return mux, nil
}

type reader[R any] struct {
	site    Site
	records Records[R]
	pages   *web.Pages
	log     *slog.Logger
}

// list reads the page the request asks for (?page=N, from 1), and tells
// whether there is a next one.
func (rd *reader[R]) list(r *http.Request) (list []R, page int, more bool, err error) {
	page = 1
	if s := r.URL.Query().Get("page"); s != "" {
		page, err = strconv.Atoi(s)
		if err != nil || page < 1 || page > MaxPage {
			return nil, 0, false, web.Mark(fmt.Errorf("page %q: want a whole number from 1 to %d", s, MaxPage), web.ErrBadRequest)
		}
	}
	list, err = rd.records.List(r.Context(), PageSize+1, (page-1)*PageSize)
	if err != nil {
		rd.log.ErrorContext(r.Context(), "list "+rd.site.Plural, "error", err)
		return nil, 0, false, fmt.Errorf("could not read the %s", rd.site.Plural)
	}
	if len(list) > PageSize {
		return list[:PageSize], page, true, nil
	}
	return list, page, false, nil
}

// get reads the record the request names.
func (rd *reader[R]) get(r *http.Request) (R, int64, error) {
	var none R
	s := r.PathValue("orderId")
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return none, 0, web.Mark(fmt.Errorf("order id %q is not a number", s), web.ErrBadRequest)
	}
	rec, err := rd.records.Get(r.Context(), id)
	switch {
	case errors.Is(err, ErrNotFound):
		return none, id, web.Mark(fmt.Errorf("no %s for order %d", rd.site.Noun, id), web.ErrNotFound)
	case err != nil:
		rd.log.ErrorContext(r.Context(), "read "+rd.site.Noun, "order_id", id, "error", err)
		return none, id, fmt.Errorf("could not read the %s", rd.site.Noun)
	}
	return rec, id, nil
}

// listJSON answers a page of the list as a JSON array; a Link header
// (RFC 8288) names the next page when there is one.
func (rd *reader[R]) listJSON(w http.ResponseWriter, r *http.Request) {
	list, page, more, err := rd.list(r)
	if err != nil {
		web.Error(w, web.StatusOf(err), err.Error())
		return
	}
	if more {
		w.Header().Set("Link", fmt.Sprintf(`<?page=%d>; rel="next"`, page+1))
	}
	if list == nil {
		list = []R{}
	}
	web.JSON(w, http.StatusOK, list)
}

func (rd *reader[R]) getJSON(w http.ResponseWriter, r *http.Request) {
	rec, _, err := rd.get(r)
	if err != nil {
		web.Error(w, web.StatusOf(err), err.Error())
		return
	}
	web.JSON(w, http.StatusOK, rec)
}

func (rd *reader[R]) listPage(w http.ResponseWriter, r *http.Request) {
	list, page, more, err := rd.list(r)
	if err != nil {
		web.ErrorPage(w, r, rd.site.Section, web.StatusOf(err), err.Error())
		return
	}
	data := map[string]any{"List": list, "Page": page}
	if page > 1 {
		data["Prev"] = page - 1
	}
	if more {
		data["Next"] = page + 1
	}
	rd.render(w, r, "list.html", data)
}

func (rd *reader[R]) detailPage(w http.ResponseWriter, r *http.Request) {
	rec, id, err := rd.get(r)
	switch {
	case errors.Is(err, web.ErrBadRequest):
		web.ErrorPage(w, r, rd.site.Section, http.StatusBadRequest, "There is no page "+strconv.Quote(r.PathValue("orderId"))+
			" here: "+rd.site.Plural+" are found by their order's number, such as 1.")
	case errors.Is(err, web.ErrNotFound):
		web.NotFound(w, r, rd.site.Section, fmt.Sprintf("%s has no %s for order #%d (yet). "+
			"It creates one when the order's event reaches it through Kafka, usually within a second of the order.",
			strings.ToUpper(rd.site.Section[:1])+rd.site.Section[1:], rd.site.Noun, id))
	case err != nil:
		web.ErrorPage(w, r, rd.site.Section, http.StatusInternalServerError, err.Error())
	default:
		rd.render(w, r, "detail.html", map[string]any{"Record": rec})
	}
}

// render executes a page in the shared layout.
func (rd *reader[R]) render(w http.ResponseWriter, r *http.Request, page string, data map[string]any) {
	if err := rd.pages.Render(w, r, "templates/"+page, http.StatusOK, rd.site.Section, data); err != nil {
		rd.log.ErrorContext(r.Context(), "render page", "page", page, "error", err)
	}
}
