package shipping

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

// shipments is what the HTTP surface needs of the store.
type shipments interface {
	sink.Store
	Shipments(ctx context.Context) ([]Shipment, error)
	Shipment(ctx context.Context, orderID int64) (Shipment, error)
}

// section is the shipping function's place in the menu and the footer.
const section = "shipping"

type handlers struct {
	log   *slog.Logger
	store shipments
	pages map[string]*template.Template // by file name, in the shared layout
}

func newHandlers(log *slog.Logger, store shipments) (*handlers, error) {
	pages, err := web.Templates(templates, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("parse page templates: %w", err)
	}
	return &handlers{log: log, store: store, pages: pages}, nil
}

// routes maps the paths, relative to the function's root: a gateway may
// serve it under a prefix such as /shipping/ with the prefix stripped, so the
// pages link relatively.
func (h *handlers) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("POST /{$}", sink.Handler(h.store, h.log))
	mux.HandleFunc("GET /{$}", h.listPage)
	mux.HandleFunc("GET /{orderId}", h.detailPage)
	mux.HandleFunc("GET /api/shipments", h.listJSON)
	mux.HandleFunc("GET /api/shipments/{orderId}", h.getJSON)
	mux.Handle("GET /static/", web.Static())
	mux.Handle("GET /", web.NotFoundHandler(section))
	return mux
}

func (h *handlers) listJSON(w http.ResponseWriter, r *http.Request) {
	list, err := h.store.Shipments(r.Context())
	if err != nil {
		h.log.ErrorContext(r.Context(), "list shipments", "error", err)
		web.Error(w, http.StatusInternalServerError, "could not read the shipments")
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
	sh, err := h.store.Shipment(r.Context(), id)
	switch {
	case errors.Is(err, ErrNotFound):
		web.Error(w, http.StatusNotFound, fmt.Sprintf("no shipment for order %d", id))
	case err != nil:
		h.log.ErrorContext(r.Context(), "read shipment", "order_id", id, "error", err)
		web.Error(w, http.StatusInternalServerError, "could not read the shipment")
	default:
		web.JSON(w, http.StatusOK, sh)
	}
}

func (h *handlers) listPage(w http.ResponseWriter, r *http.Request) {
	list, err := h.store.Shipments(r.Context())
	if err != nil {
		h.log.ErrorContext(r.Context(), "list shipments", "error", err)
		http.Error(w, "could not read the shipments", http.StatusInternalServerError)
		return
	}
	h.render(w, r, "list.html", map[string]any{"Shipments": list})
}

func (h *handlers) detailPage(w http.ResponseWriter, r *http.Request) {
	id, err := orderID(r)
	if err != nil {
		web.ErrorPage(w, r, section, http.StatusBadRequest, "There is no page "+strconv.Quote(r.PathValue("orderId"))+" here: shipments are found by their order's number, such as 1.")
		return
	}
	sh, err := h.store.Shipment(r.Context(), id)
	switch {
	case errors.Is(err, ErrNotFound):
		web.NotFound(w, r, section, fmt.Sprintf("Shipping has no shipment for order #%d (yet). "+
			"It creates one when the order's event reaches it through Kafka, usually within a second of the order.", id))
	case err != nil:
		h.log.ErrorContext(r.Context(), "read shipment", "order_id", id, "error", err)
		http.Error(w, "could not read the shipment", http.StatusInternalServerError)
	default:
		h.render(w, r, "detail.html", map[string]any{"Shipment": sh})
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
