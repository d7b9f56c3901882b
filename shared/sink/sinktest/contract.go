package sinktest

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mskafka/knative-functions/shared/events"
	"github.com/mskafka/knative-functions/shared/sink"
)

func placedAndRead(f *fixture) {
	before := time.Now()
	f.want(sink.Stored)(f.placed("e1", f.order))
	w := f.get(f.api + "/7")
	if w.Code != http.StatusOK {
		f.t.Fatalf("GET %s/7 = %d %s", f.api, w.Code, w.Body)
	}
	got := decode(f.t, w.Body.Bytes()).(map[string]any)
	created, err := time.Parse(time.RFC3339Nano, fmt.Sprint(got["created"]))
	if err != nil || created.Before(before.Add(-time.Minute)) || created.After(time.Now().Add(time.Minute)) {
		f.t.Errorf("created = %v, want about %v", got["created"], before)
	}
	delete(got, "created")
	if diff := cmp.Diff(f.record, got); diff != "" {
		f.t.Errorf("GET %s/7 (-want +got):\n%s", f.api, diff)
	}
	f.wantRecords(f.record)
	if w := f.get(f.api + "/8"); w.Code != http.StatusNotFound || !strings.Contains(w.Body.String(), `"error"`) {
		f.t.Errorf("GET %s/8 = %d %s, want 404 as JSON", f.api, w.Code, w.Body)
	}
	if w := f.get("/7"); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "#7") {
		f.t.Errorf("GET /7 = %d, want the page of order 7:\n%s", w.Code, w.Body)
	}
	if w := f.get("/8"); w.Code != http.StatusNotFound || !strings.Contains(w.Body.String(), "<html") {
		f.t.Errorf("GET /8 = %d, want 404 as a page:\n%s", w.Code, w.Body)
	}
}

// Pages of sink.PageSize, newest first, with a Link to the next page.
func paged(f *fixture) {
	n := sink.PageSize + 2
	for id := 1; id <= n; id++ {
		f.want(sink.Stored)(f.placed(fmt.Sprint("e", id), f.withOrder(int64(id), nil)))
	}
	var ids []int
	for page, path := 1, f.api; path != ""; page++ {
		w := f.get(path)
		if w.Code != http.StatusOK {
			f.t.Fatalf("GET %s = %d %s", path, w.Code, w.Body)
		}
		list := decode(f.t, w.Body.Bytes()).([]any)
		for _, r := range list {
			ids = append(ids, int(r.(map[string]any)["id"].(float64)))
		}
		path = ""
		if link := w.Header().Get("Link"); link != "" {
			path = f.api + strings.TrimSuffix(strings.TrimPrefix(link, "<"), `>; rel="next"`)
		}
		if page > 2 {
			f.t.Fatalf("more than 2 pages for %d records", n)
		}
	}
	want := make([]int, n)
	for i := range want {
		want[i] = n - i
	}
	if diff := cmp.Diff(want, ids); diff != "" {
		f.t.Errorf("ids over all pages (-want +got):\n%s", diff)
	}
	if w := f.get("/?page=2"); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `href="./?page=1"`) {
		f.t.Errorf("GET /?page=2 = %d, want a page linking back to page 1:\n%s", w.Code, w.Body)
	}
}

// The same event again changes nothing; the same event id with other
// content is a conflict, and the first content stays.
func redelivery(f *fixture) {
	f.want(sink.Stored)(f.placed("e1", f.order))
	f.want(sink.Duplicate)(f.placed("e1", f.order))
	_, err := f.placed("e1", f.withOrder(7, func(o map[string]any) { o["customer"].(map[string]any)["name"] = "Mallory" }))
	wantConflict(f, err)
	// A cancellation under the id of the placement is other content too.
	_, err = f.cancelled("e1", events.Cancelled{ID: 7})
	wantConflict(f, err)
	f.wantRecords(f.record)
}

// The same order under another event id (a resend, the original's plain
// record) is recorded but not doubled; with other content it is a
// conflict: a forged or foreign order 7 must not pass as a duplicate.
func sameOrderOtherEvent(f *fixture) {
	f.want(sink.Stored)(f.placed("e1", f.order))
	f.want(sink.Duplicate)(f.placed("partition:2/offset:17", f.order))
	f.want(sink.Duplicate)(f.placed("partition:2/offset:17", f.order))
	_, err := f.placed("forged", f.withOrder(7, func(o map[string]any) {
		o["customer"].(map[string]any)["name"] = "Mallory"
	}))
	wantConflict(f, err)
	// The conflict recorded nothing under its event id either: the order's
	// own content under that id is a resend like any other.
	f.want(sink.Duplicate)(f.placed("forged", f.order))
	f.wantRecords(f.record)
}

func wantConflict(f *fixture, err error) {
	f.t.Helper()
	var conflict *sink.ConflictError
	if !errors.As(err, &conflict) {
		f.t.Fatalf("err = %v, want a *sink.ConflictError", err)
	}
}

func cancelledAfter(f *fixture) {
	f.want(sink.Stored)(f.placed("e1", f.order))
	at := time.Date(2026, 11, 25, 11, 0, 0, 0, time.UTC)
	f.want(sink.Stored)(f.cancelled("c1", events.Cancelled{ID: 7, Updated: events.Time{Time: at}}))
	f.want(sink.Duplicate)(f.cancelled("c1", events.Cancelled{ID: 7}))
	// The same cancellation under another event id changes nothing either.
	f.want(sink.Duplicate)(f.cancelled("c2", events.Cancelled{ID: 7}))
	f.wantRecords(cancelledRecord(f, at))
}

func cancelledBefore(f *fixture) {
	at := time.Date(2026, 11, 25, 11, 0, 0, 0, time.UTC)
	f.want(sink.Stored)(f.cancelled("c1", events.Cancelled{ID: 7, Updated: events.Time{Time: at}}))
	f.wantRecords()
	f.want(sink.Stored)(f.placed("e1", f.order))
	f.wantRecords(cancelledRecord(f, at))
}

func cancelledRecord(f *fixture, at time.Time) map[string]any {
	want := clone(f.record)
	want["cancelled"] = true
	want["updated"] = at.Format(time.RFC3339)
	return want
}

func invalidOrder(f *fixture) {
	_, err := f.placed("e1", f.withOrder(7, func(o map[string]any) { o["orderLine"] = []any{} }))
	if !errors.Is(err, events.ErrInvalid) {
		f.t.Fatalf("err = %v, want ErrInvalid", err)
	}
	f.wantRecords()
	if n := f.handled(); n != 0 {
		f.t.Errorf("%d events recorded, want none", n)
	}
}

func concurrentDelivery(f *fixture) {
	const deliveries = 10
	outcomes := make(chan sink.Outcome, deliveries)
	var wg sync.WaitGroup
	for range deliveries {
		wg.Go(func() {
			got, err := f.placed("e1", f.order)
			if err != nil {
				f.t.Errorf("Placed: %v", err)
			}
			outcomes <- got
		})
	}
	wg.Wait()
	close(outcomes)
	count := map[sink.Outcome]int{}
	for o := range outcomes {
		count[o]++
	}
	if diff := cmp.Diff(map[sink.Outcome]int{sink.Stored: 1, sink.Duplicate: deliveries - 1}, count); diff != "" {
		f.t.Errorf("outcomes (-want +got):\n%s", diff)
	}
	f.wantRecords(f.record)
}

// A placement and a cancellation of one order applied at the same moment
// must end cancelled, whichever commits first.
func placedAndCancelledConcurrently(f *fixture) {
	const orders = 20
	var wg sync.WaitGroup
	for id := int64(1); id <= orders; id++ {
		data := f.withOrder(id, nil)
		wg.Go(func() {
			if _, err := f.placed(fmt.Sprint("e", id), data); err != nil {
				f.t.Errorf("Placed %d: %v", id, err)
			}
		})
		wg.Go(func() {
			if _, err := f.cancelled(fmt.Sprint("c", id), events.Cancelled{ID: id}); err != nil {
				f.t.Errorf("Cancelled %d: %v", id, err)
			}
		})
	}
	wg.Wait()
	list := f.records()
	if len(list) != orders {
		f.t.Fatalf("%d records, want %d", len(list), orders)
	}
	for _, r := range list {
		if r := r.(map[string]any); r["cancelled"] != true {
			f.t.Errorf("record %v is not cancelled", r["id"])
		}
	}
}
