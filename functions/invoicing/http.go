package invoicing

import (
	"bytes"
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
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	inv, err := h.store.Invoice(r.Context(), id)
	switch {
	case errors.Is(err, ErrNotFound):
		http.Error(w, fmt.Sprintf("no invoice for order %d", id), http.StatusNotFound)
	case err != nil:
		h.log.ErrorContext(r.Context(), "read invoice", "order_id", id, "error", err)
		http.Error(w, "could not read the invoice", http.StatusInternalServerError)
	default:
		h.render(w, r, "detail.html", map[string]any{"Invoice": inv})
	}
}

// render executes a page in the shared layout. It renders into a buffer
// first, so that a failing template answers 500 instead of half a page.
func (h *handlers) render(w http.ResponseWriter, r *http.Request, page string, data map[string]any) {
	data["Base"] = web.Base(r)
	var buf bytes.Buffer
	if err := h.pages["templates/"+page].ExecuteTemplate(&buf, "layout", data); err != nil {
		h.log.ErrorContext(r.Context(), "render page", "page", page, "error", err)
		http.Error(w, "could not render the page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	// The pages need nothing from elsewhere, and run no script at all.
	w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'none'; frame-ancestors 'none'")
	_, _ = buf.WriteTo(w)
}

func orderID(r *http.Request) (int64, error) {
	s := r.PathValue("orderId")
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("order id %q is not a number", s)
	}
	return id, nil
}
