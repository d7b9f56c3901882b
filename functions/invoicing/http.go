package invoicing

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/mskafka/knative-functions/shared/sink"
	"github.com/mskafka/knative-functions/shared/web"
)

// invoices is what the HTTP surface needs of the store.
type invoices interface {
	sink.Store
	Invoices(ctx context.Context) ([]Invoice, error)
	Invoice(ctx context.Context, orderID int64) (Invoice, error)
}

// section is the invoicing function's place in the menu and the footer.
const section = "invoicing"

type handlers struct {
	log   *slog.Logger
	store invoices
	pages map[string]*template.Template // by file name, in the shared layout
}

func newHandlers(log *slog.Logger, store invoices) (*handlers, error) {
	pages, err := web.Templates(templates, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("parse page templates: %w", err)
	}
	return &handlers{log: log, store: store, pages: pages}, nil
}

// routes maps the paths, relative to the function's root: a gateway may
// serve it under a prefix such as /invoicing/ with the prefix stripped, so the
// pages link relatively.
func (h *handlers) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("POST /{$}", sink.Handler(h.store, h.log))
	mux.HandleFunc("GET /{$}", h.listPage)
	mux.HandleFunc("GET /{orderId}", h.detailPage)
	mux.HandleFunc("GET /api/invoices", h.listJSON)
	mux.HandleFunc("GET /api/invoices/{orderId}", h.getJSON)
	mux.Handle("GET /static/", web.Static())
	mux.Handle("GET /", web.NotFoundHandler(section))
	return mux
}

func (h *handlers) listJSON(w http.ResponseWriter, r *http.Request) {
	list, err := h.store.Invoices(r.Context())
	if err != nil {
		h.log.ErrorContext(r.Context(), "list invoices", "error", err)
		web.Error(w, http.StatusInternalServerError, "could not read the invoices")
		return
	}
	web.JSON(w, http.StatusOK, list)
}

func (h *handlers) getJSON(w http.ResponseWriter, r *http.Request) {
	id, err := orderID(r)
	if err != nil {
		web.Error(w, http.StatusBadRequest, err.Error())
		return
	}
	inv, err := h.store.Invoice(r.Context(), id)
	switch {
	case errors.Is(err, ErrNotFound):
		web.Error(w, http.StatusNotFound, fmt.Sprintf("no invoice for order %d", id))
	case err != nil:
		h.log.ErrorContext(r.Context(), "read invoice", "order_id", id, "error", err)
		web.Error(w, http.StatusInternalServerError, "could not read the invoice")
	default:
		web.JSON(w, http.StatusOK, inv)
	}
}

func (h *handlers) listPage(w http.ResponseWriter, r *http.Request) {
	list, err := h.store.Invoices(r.Context())
	if err != nil {
		h.log.ErrorContext(r.Context(), "list invoices", "error", err)
		http.Error(w, "could not read the invoices", http.StatusInternalServerError)
		return
	}
	h.render(w, r, "list.html", map[string]any{"Invoices": list})
}

func (h *handlers) detailPage(w http.ResponseWriter, r *http.Request) {
	id, err := orderID(r)
	if err != nil {
		web.ErrorPage(w, r, section, http.StatusBadRequest, "There is no page "+strconv.Quote(r.PathValue("orderId"))+" here: invoices are found by their order's number, such as 1.")
		return
	}
	inv, err := h.store.Invoice(r.Context(), id)
	switch {
	case errors.Is(err, ErrNotFound):
		web.NotFound(w, r, section, fmt.Sprintf("Invoicing has no invoice for order #%d (yet). "+
			"It creates one when the order's event reaches it through Kafka, usually within a second of the order.", id))
	case err != nil:
		h.log.ErrorContext(r.Context(), "read invoice", "order_id", id, "error", err)
		http.Error(w, "could not read the invoice", http.StatusInternalServerError)
	default:
		h.render(w, r, "detail.html", map[string]any{"Invoice": inv})
	}
}

// render executes a page in the shared layout.
func (h *handlers) render(w http.ResponseWriter, r *http.Request, page string, data map[string]any) {
	if err := web.Render(w, r, h.pages["templates/"+page], http.StatusOK, section, data); err != nil {
		h.log.ErrorContext(r.Context(), "render page", "page", page, "error", err)
	}
}

func orderID(r *http.Request) (int64, error) {
	s := r.PathValue("orderId")
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("order id %q is not a number", s)
	}
	return id, nil
}
