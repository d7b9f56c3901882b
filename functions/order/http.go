package order

import (
	"context"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/mskafka/knative-functions/shared/cloudevent"
	"github.com/mskafka/knative-functions/shared/events"
	"github.com/mskafka/knative-functions/shared/web"
)

// pageSize is the number of orders per list page.
const pageSize = 20

// orders is what the handlers need from the store; tests pass a fake.
type orders interface {
	Place(ctx context.Context, req Request, cmd *CommandKey) (Placed, error)
	Cancel(ctx context.Context, id int64) (Order, error)
	Get(ctx context.Context, id int64) (Order, error)
	List(ctx context.Context, limit, offset int) ([]Order, error)
	Customers(ctx context.Context) ([]Customer, error)
	Items(ctx context.Context) ([]Item, error)
}

type server struct {
	store  orders
	placed func() // tells the relay there is something to send
	// drain sends the whole outbox backlog now (the PingSource's ping).
	drain func(context.Context) (int, error)
	pages map[string]*template.Template
	// menu is the entry page of the whole system. On a cluster there is no
	// gateway, so the Istio route sends "/" here (rewritten to /menu).
	menu http.Handler
	log  *slog.Logger
}

func (s *server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.listPage)
	mux.HandleFunc("POST /{$}", s.rootEvent)
	mux.HandleFunc("GET /new", s.newPage)
	mux.HandleFunc("POST /new", s.submitForm)
	mux.HandleFunc("GET /{id}", s.detailPage)
	mux.HandleFunc("POST /{id}/cancel", s.cancelForm)
	mux.HandleFunc("GET /api/orders", s.listJSON)
	mux.HandleFunc("POST /api/orders", s.placeJSON)
	mux.HandleFunc("GET /api/orders/{id}", s.getJSON)
	mux.HandleFunc("DELETE /api/orders/{id}", s.cancelJSON)
	mux.HandleFunc("GET /api/customers", s.customersJSON)
	mux.HandleFunc("GET /api/items", s.itemsJSON)
	if s.menu != nil {
		mux.Handle("GET /menu", s.menu)
	}
	mux.Handle("GET /static/", web.Static())
	mux.Handle("GET /scripts/", scripts())
	mux.Handle("GET /", web.NotFoundHandler(section))
	// Browsers mark cross-site requests (Sec-Fetch-Site, Origin); refusing
	// those protects every form. curl and the KafkaSource send neither.
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(s.crossOrigin))
	return cop.Handler(mux)
}

// placeEvent takes a com.example.order.place CloudEvent (binary or
// structured) and replies with the com.example.order.placed event.
func (s *server) placeEvent(w http.ResponseWriter, r *http.Request) {
	ev, err := cloudevent.Read(w, r, web.MaxJSONBody)
	if err != nil {
		web.Error(w, cloudevent.Status(err), err.Error())
		return
	}
	log := s.log.With("ce_id", ev.ID(), "ce_type", ev.Type(), "ce_source", ev.Source())
	if ev.Type() != events.TypePlace {
		log.WarnContext(r.Context(), "command refused: unknown type")
		web.Error(w, http.StatusBadRequest, "unknown event type "+strconv.Quote(ev.Type())+": this function takes "+events.TypePlace)
		return
	}
	if ct := ev.DataContentType(); ct != "" && ct != event.ApplicationJSON {
		web.Error(w, http.StatusUnsupportedMediaType, "datacontenttype "+strconv.Quote(ct)+": want application/json")
		return
	}
	var body events.Order
	if err := jsonUnmarshal(ev.Data(), &body); err != nil {
		web.Error(w, http.StatusBadRequest, "malformed order data: "+err.Error())
		return
	}
	res, err := s.store.Place(r.Context(), RequestFromOrder(body), &CommandKey{Source: ev.Source(), ID: ev.ID()})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.placed()
	log.InfoContext(r.Context(), "order placed by command", "order_id", res.Order.ID, "repeated", res.Repeated)
	status := http.StatusCreated
	if res.Repeated {
		status = http.StatusOK
	}
	if err := cloudevent.Reply(w, r, status, res.Event.Event()); err != nil {
		log.ErrorContext(r.Context(), "write reply", "error", err)
	}
}

func (s *server) placeJSON(w http.ResponseWriter, r *http.Request) {
	var body events.Order
	if err := web.DecodeJSON(w, r, &body); err != nil {
		web.Error(w, web.StatusOf(err), err.Error())
		return
	}
	res, err := s.store.Place(r.Context(), RequestFromOrder(body), nil)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.placed()
	s.log.InfoContext(r.Context(), "order placed", "order_id", res.Order.ID, "ce_id", res.Event.ID)
	w.Header().Set("Location", "api/orders/"+strconv.FormatInt(res.Order.ID, 10))
	web.JSON(w, http.StatusCreated, res.Order)
}

func (s *server) getJSON(w http.ResponseWriter, r *http.Request) {
	id, ok := orderID(w, r)
	if !ok {
		return
	}
	o, err := s.store.Get(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, o)
}

func (s *server) cancelJSON(w http.ResponseWriter, r *http.Request) {
	id, ok := orderID(w, r)
	if !ok {
		return
	}
	o, err := s.store.Cancel(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.placed()
	s.log.InfoContext(r.Context(), "order cancelled", "order_id", id)
	web.JSON(w, http.StatusOK, o)
}

func (s *server) listJSON(w http.ResponseWriter, r *http.Request) {
	limit, offset := paging(r)
	list, err := s.store.List(r.Context(), limit, offset)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, list)
}

func (s *server) customersJSON(w http.ResponseWriter, r *http.Request) {
	c, err := s.store.Customers(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, c)
}

func (s *server) itemsJSON(w http.ResponseWriter, r *http.Request) {
	it, err := s.store.Items(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, it)
}

// fail maps domain errors to statuses: the one place that does.
func (s *server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var bad *InvalidError
	switch {
	case errors.As(err, &bad):
		fields := make([]web.FieldError, len(bad.Problems))
		for i, p := range bad.Problems {
			fields[i] = web.FieldError{Field: p.Field, Message: p.Message}
		}
		web.Error(w, http.StatusBadRequest, bad.Error(), fields...)
	case errors.Is(err, ErrNotFound):
		web.Error(w, http.StatusNotFound, err.Error())
	default:
		s.log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "error", err)
		web.Error(w, http.StatusInternalServerError, "internal error, try again later")
	}
}

func orderID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		web.Error(w, http.StatusBadRequest, "order id must be a positive number, got "+strconv.Quote(r.PathValue("id")))
		return 0, false
	}
	return id, true
}

// paging reads ?page=N (1-based) into a limit and offset.
func paging(r *http.Request) (limit, offset int) {
	page, err := strconv.Atoi(r.URL.Query().Get("page"))
	if err != nil || page < 1 {
		page = 1
	}
	return pageSize, (page - 1) * pageSize
}
