package order

import (
	"context"
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
	store     orders
	wakeRelay func() // the outbox has a new event (an order placed or cancelled): send it now
	// drain sends the whole outbox backlog now (the PingSource's ping).
	drain func(context.Context) (int, error)
	// prune deletes the keys and sent outbox rows past their retention
	// (the same ping).
	prune func(context.Context) (Pruned, error)
	pages *web.Pages
	// menu is the entry page of the whole system. On a cluster there is no
	// gateway, so the Istio route sends "/" here (rewritten to /menu).
	menu http.Handler
	// traces reads an order's traces for its page; only the page and
	// GET /api/orders/{id}/trace ask it.
	traces traceReader
	log    *slog.Logger
}

func (s *server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.listPage)
	mux.HandleFunc("POST /{$}", s.rootEvent)
	mux.HandleFunc("GET /new", s.newPage)
	mux.HandleFunc("POST /new", s.submitForm)
	mux.HandleFunc("GET /{id}", s.detailPage)
	mux.HandleFunc("POST /{id}/cancel", s.cancelForm)
	mux.HandleFunc("GET /api/orders/{id}/trace", s.traceJSON)
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
	return nosniff(cop.Handler(mux))
}

// placeEvent takes a com.example.order.place CloudEvent, read and
// validated by rootEvent, and replies with the com.example.order.placed
// event.
func (s *server) placeEvent(w http.ResponseWriter, r *http.Request, ev *event.Event) {
	log := s.log.With("ce_id", ev.ID(), "ce_type", ev.Type(), "ce_source", ev.Source())
	if ev.Type() != events.TypePlace {
		log.WarnContext(r.Context(), "command refused: unknown type")
		s.fail(w, r, badRequest("unknown event type %s: this function takes %s", strconv.Quote(ev.Type()), events.TypePlace), retryLater)
		return
	}
	if err := cloudevent.JSONData(ev); err != nil {
		s.fail(w, r, err, retryLater)
		return
	}
	key := &CommandKey{Source: ev.Source(), ID: ev.ID()}
	if err := checkCommandKey(*key); err != nil {
		s.fail(w, r, err, retryLater)
		return
	}
	req, err := decodeOrder(ev.Data())
	if err != nil {
		s.fail(w, r, err, retryLater)
		return
	}
	res, err := s.store.Place(r.Context(), req, key)
	if err != nil {
		s.fail(w, r, err, retryEvent)
		return
	}
	s.wakeRelay()
	log.InfoContext(r.Context(), "order placed by command", "order_id", res.Order.ID, "repeated", res.Repeated)
	status := http.StatusCreated
	if res.Repeated {
		status = http.StatusOK
	}
	if err := cloudevent.Reply(w, r, status, res.Event.Event()); err != nil {
		log.ErrorContext(r.Context(), "write reply", "error", err)
	}
}

// placeJSON places an order from the JSON API. With an Idempotency-Key
// header a retry of the same request answers what the first one did (201,
// the same order, and Idempotent-Replayed: true) and places nothing.
func (s *server) placeJSON(w http.ResponseWriter, r *http.Request) {
	key, err := idempotencyKey(r)
	if err != nil {
		s.fail(w, r, err, retryLater)
		return
	}
	var body events.Order
	if err := web.DecodeJSON(w, r, &body); err != nil {
		s.fail(w, r, err, retryLater)
		return
	}
	res, err := s.store.Place(r.Context(), RequestFromOrder(body), key)
	if err != nil {
		retry := retryWithoutKey
		if key != nil {
			retry = retryWithKey
		}
		s.fail(w, r, err, retry)
		return
	}
	if res.Repeated {
		w.Header().Set("Idempotent-Replayed", "true")
	} else {
		s.wakeRelay()
	}
	s.log.InfoContext(r.Context(), "order placed", "order_id", res.Order.ID, "ce_id", res.Event.ID, "repeated", res.Repeated)
	w.Header().Set("Location", "api/orders/"+strconv.FormatInt(res.Order.ID, 10))
	web.JSON(w, http.StatusCreated, res.Order)
}

func (s *server) getJSON(w http.ResponseWriter, r *http.Request) {
	id, err := orderID(r)
	if err != nil {
		s.fail(w, r, err, retryLater)
		return
	}
	o, err := s.store.Get(r.Context(), id)
	if err != nil {
		s.fail(w, r, err, retryLater)
		return
	}
	web.JSON(w, http.StatusOK, o)
}

func (s *server) cancelJSON(w http.ResponseWriter, r *http.Request) {
	id, err := orderID(r)
	if err != nil {
		s.fail(w, r, err, retryLater)
		return
	}
	o, err := s.store.Cancel(r.Context(), id)
	if err != nil {
		s.fail(w, r, err, retryLater)
		return
	}
	s.wakeRelay()
	s.log.InfoContext(r.Context(), "order cancelled", "order_id", id)
	web.JSON(w, http.StatusOK, o)
}

func (s *server) listJSON(w http.ResponseWriter, r *http.Request) {
	limit, offset, err := paging(r)
	if err != nil {
		s.fail(w, r, err, retryLater)
		return
	}
	list, err := s.store.List(r.Context(), limit, offset)
	if err != nil {
		s.fail(w, r, err, retryLater)
		return
	}
	web.JSON(w, http.StatusOK, list)
}

func (s *server) customersJSON(w http.ResponseWriter, r *http.Request) {
	c, err := s.store.Customers(r.Context())
	if err != nil {
		s.fail(w, r, err, retryLater)
		return
	}
	web.JSON(w, http.StatusOK, c)
}

func (s *server) itemsJSON(w http.ResponseWriter, r *http.Request) {
	it, err := s.store.Items(r.Context())
	if err != nil {
		s.fail(w, r, err, retryLater)
		return
	}
	web.JSON(w, http.StatusOK, it)
}

func orderID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, badRequest("order id must be a positive number, got %s", strconv.Quote(r.PathValue("id")))
	}
	return id, nil
}

// maxPage keeps the list's OFFSET far inside what Postgres takes.
const maxPage = 1_000_000

// paging reads ?page=N (1-based, 1 when absent) into a limit and offset.
func paging(r *http.Request) (limit, offset int, err error) {
	page := 1
	if p := r.URL.Query().Get("page"); p != "" {
		page, err = strconv.Atoi(p)
		if err != nil || page < 1 || page > maxPage {
			return 0, 0, badRequest("page must be a whole number from 1 to %d, got %q", maxPage, p)
		}
	}
	return pageSize, (page - 1) * pageSize, nil
}

// nosniff tells browsers to take every answer as the type it declares; the
// CloudEvent replies and the scripts are not written by shared/web.
func nosniff(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		h.ServeHTTP(w, r)
	})
}

// traceJSON answers the traces of an order as the query API returned them
// (Jaeger's JSON), for the page's "raw trace" link.
func (s *server) traceJSON(w http.ResponseWriter, r *http.Request) {
	id, err := orderID(r)
	if err != nil {
		s.fail(w, r, err, retryLater)
		return
	}
	if !s.traces.on() {
		web.Error(w, http.StatusNotFound, tracingOff)
		return
	}
	o, err := s.store.Get(r.Context(), id)
	if err != nil {
		s.fail(w, r, err, retryLater)
		return
	}
	body, err := s.traces.raw(r.Context(), o)
	if err != nil {
		s.log.WarnContext(r.Context(), "read trace", "order_id", id, "error", err)
		web.Error(w, http.StatusBadGateway, "The trace query API could not be read: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(body)
}

// tracingOff says how to turn tracing on.
const tracingOff = "Tracing is off. Run the local stack with `make run OBSERVE=1` (a local Jaeger), " +
	"or send the functions' spans to a collector (OTEL_EXPORTER_OTLP_ENDPOINT) and give order " +
	"its Jaeger-compatible query API in TRACE_QUERY_URL."
