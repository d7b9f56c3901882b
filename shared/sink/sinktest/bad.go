package sinktest

import (
	"net/http"
	"strings"

	"github.com/mskafka/knative-functions/shared/events"
)

// Every event that can never be stored is answered 400 with its reason,
// before or by the database, and writes nothing: a 5xx would make the
// dispatcher retry it for minutes while its partition waits.
func badEvents(f *fixture) {
	if w := f.post(events.TypePlaced, "e1", f.order); w.Code != http.StatusOK {
		f.t.Fatalf("POST the order = %d %s", w.Code, w.Body)
	}
	mallory := f.withOrder(7, func(o map[string]any) { o["customer"].(map[string]any)["name"] = "Mallory" })
	tests := []struct {
		name, id string
		data     []byte
		want     string // in the answer's error
	}{
		{"updated far in the future (epoch ms)", "b1", f.withOrder(8, func(o map[string]any) { o["updated"] = 1e16 }), "years"},
		{"updated far in the past (epoch ms)", "b2", f.withOrder(8, func(o map[string]any) { o["updated"] = -9.2e18 }), "years"},
		{"updated in year 9999", "b3", f.withOrder(8, func(o map[string]any) { o["updated"] = "9999-12-31T00:00:00Z" }), "years"},
		{"NUL in an address", "b4", f.withOrder(8, func(o map[string]any) {
			for _, k := range []string{"shippingAddress", "billingAddress"} {
				o[k].(map[string]any)["city"] = "Ber\u0000lin"
			}
		}), "NUL"},
		{"count beyond an integer", "b5", f.withOrder(8, func(o map[string]any) {
			o["orderLine"].([]any)[0].(map[string]any)["count"] = 1 << 31
		}), "too large"},
		{"ce-id of 900 kB", strings.Repeat("x", 900<<10), f.withOrder(8, nil), "id is"},
		{"ce-id not UTF-8", "b\xff", f.withOrder(8, nil), "UTF-8"},
		{"other content for a held order", "forged", mallory, "conflicting content"},
		{"other content under a handled event id", "e1", mallory, "conflicting content"},
	}
	for _, tt := range tests {
		w := f.post(events.TypePlaced, tt.id, tt.data)
		if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), tt.want) {
			f.t.Errorf("%s: %d %s, want 400 saying %q", tt.name, w.Code, w.Body, tt.want)
		}
	}
	if w := f.post(events.TypePlaced, "e1", f.order); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "duplicate") {
		f.t.Errorf("the same event again: %d %s, want 200 duplicate", w.Code, w.Body)
	}
	if n := f.handled(); n != 1 {
		f.t.Errorf("%d events recorded, want only the first", n)
	}
	f.wantRecords(f.record)
}

// Queries that can never be answered are 400, as JSON on the API and as a
// page on the pages.
func badQueries(f *fixture) {
	for _, tt := range []struct{ path, wantType string }{
		{f.api + "?page=9223372036854775807", "application/json"},
		{f.api + "?page=0", "application/json"},
		{f.api + "?page=two", "application/json"},
		{f.api + "/seven", "application/json"},
		{"/?page=9223372036854775807", "text/html; charset=utf-8"},
		{"/seven", "text/html; charset=utf-8"},
	} {
		w := f.get(tt.path)
		if w.Code != http.StatusBadRequest || w.Header().Get("Content-Type") != tt.wantType {
			f.t.Errorf("GET %s = %d %s, want 400 as %s", tt.path, w.Code, w.Header().Get("Content-Type"), tt.wantType)
		}
	}
}
