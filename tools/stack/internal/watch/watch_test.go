package watch

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mskafka/knative-functions/tools/broker/dispatch"
)

func sample() State {
	at := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	idle, lag := int64(4200), int64(3)
	return State{At: at,
		Functions: []Function{
			{Name: "order", State: "running", Instances: 1, ColdStartsMs: []int64{310, 95}, InFlight: 2, Held: 1, IdleLeftMs: &idle},
			{Name: "shipping", State: "zero", Restarts: 2},
		},
		Sources: []Source{{Sink: "shipping", Lag: &lag,
			Partitions: []Partition{{Topic: "order", Partition: 0, Committed: 7, End: 10, Lag: 3}, {Topic: "order", Partition: 1, Committed: -1, End: 0}},
			SourceStats: dispatch.SourceStats{Name: "order-to-shipping", ConsumerGroup: "shipping",
				Stats:       dispatch.Stats{Delivered: 7, Retried: 2, DeadLettered: 1},
				LastFailure: &dispatch.Failure{At: at, EventID: "partition:1/offset:4", Attempt: 1, Status: 400, Reason: "not an order"}}}},
		Pings:  []Ping{{Name: "order-outbox-drain", Schedule: "*/1 * * * *", Sink: "order", Last: &at, Next: &at, Status: 200, Attempts: 1}},
		Outbox: &Outbox{Unsent: 2, OldestAgeMs: 1500},
	}
}

func TestHandler(t *testing.T) {
	h := http.StripPrefix(Prefix, Handler(func(context.Context) State { return sample() }, slog.New(slog.DiscardHandler)))
	get := func(method, path string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
		return rec
	}

	t.Run("page", func(t *testing.T) {
		rec := get(http.MethodGet, "/platform/")
		page := rec.Body.String()
		if rec.Code != 200 {
			t.Fatalf("GET /platform/: %d", rec.Code)
		}
		for _, want := range []string{
			`<link rel="stylesheet" href="static/style.css">`,
			`<script src="scripts/platform.js" defer></script>`,
			`<span class="badge fn-zero" data-state="zero">zero</span>`,
			`<td class="cold">310 ms, 95 ms</td>`,
			`<td class="num idle">4.2 s</td>`,
			`lag <strong class="lag">3</strong>`,
			`dead-lettered <strong class="dead-lettered">1</strong>`,
			`HTTP <strong class="status">400</strong>: <q class="reason">not an order</q>`,
			`<td class="num"><span class="muted">none</span></td>`,
			`<strong class="unsent">2</strong> events waiting to be sent to Kafka, the oldest for <strong class="oldest">1.5 s</strong>`,
			`answered HTTP 200`,
		} {
			if !strings.Contains(page, want) {
				t.Errorf("the page lacks %s", want)
			}
		}
		if t.Failed() {
			t.Log(page)
		}
	})
	t.Run("json", func(t *testing.T) {
		rec := get(http.MethodGet, "/platform/api/state")
		var got State
		if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(sample(), got); diff != "" {
			t.Errorf("state (-want +got):\n%s", diff)
		}
	})
	t.Run("read-only", func(t *testing.T) {
		for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
			if rec := get(m, "/platform/api/state"); rec.Code != http.StatusMethodNotAllowed {
				t.Errorf("%s: %d, want 405", m, rec.Code)
			}
		}
		if rec := get(http.MethodGet, "/platform/scripts/platform.js"); rec.Code != 200 {
			t.Errorf("script: %d", rec.Code)
		}
	})
}
