package gateway

import (
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// backends records what each function received.
func backends(t *testing.T) (map[string]string, *[]string) {
	t.Helper()
	var seen []string
	urls := map[string]string{}
	for _, name := range []string{"order", "shipping", "invoicing"} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			seen = append(seen, name+" "+r.Method+" "+r.URL.RequestURI())
			w.Write([]byte(name))
		}))
		t.Cleanup(srv.Close)
		urls[name] = srv.URL + "/"
	}
	return urls, &seen
}

// TestRoutesOfTheVirtualService routes requests through infra/mesh's
// VirtualService as Istio would.
func TestRoutesOfTheVirtualService(t *testing.T) {
	routes, err := Load("../../../../infra/mesh")
	if err != nil {
		t.Fatal(err)
	}
	urls, seen := backends(t)
	g, err := New(routes, urls, nil, http.NotFoundHandler())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g.Server("").Handler)
	defer srv.Close()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	const ping = "dev.knative.sources.ping"
	tests := []struct {
		method, path string
		header       http.Header // sent with the names as written
		status       int
		reached      string // what the function saw; empty: none
		location     string
	}{
		{"GET", "/", nil, 200, "order GET /menu", ""},
		{"GET", "/order/", nil, 200, "order GET /", ""},
		{"POST", "/order/", nil, 200, "order POST /", ""},
		{"POST", "/order/api/orders", nil, 200, "order POST /api/orders", ""},
		{"DELETE", "/order/api/orders/7", nil, 200, "order DELETE /api/orders/7", ""},
		{"GET", "/order/42?x=1", nil, 200, "order GET /42?x=1", ""},
		{"GET", "/shipping/api/shipments", nil, 200, "shipping GET /api/shipments", ""},
		{"HEAD", "/invoicing/", nil, 200, "invoicing HEAD /", ""},
		{"GET", "/invoicing/api/invoices/3", nil, 200, "invoicing GET /api/invoices/3", ""},
		{"POST", "/shipping/", nil, 404, "", ""},
		{"POST", "/invoicing/", nil, 404, "", ""},
		{"PUT", "/shipping/api/shipments", nil, 404, "", ""},
		{"GET", "/order/metrics", nil, 404, "", ""},
		{"GET", "/shipping/metrics", nil, 404, "", ""},
		{"GET", "/invoicing/metrics", nil, 404, "", ""},
		{"GET", "/order", nil, 301, "", "/order/"},
		{"GET", "/shipping", nil, 301, "", "/shipping/"},
		{"GET", "/nowhere", nil, 404, "", ""},
		{"GET", "/static/style.css", nil, 404, "", ""},
		// The PingSource calls order inside the cluster; the public entry
		// has no route for a ping, whatever the letter case of the header.
		{"POST", "/order/", http.Header{"ce-type": {ping}}, 404, "", ""},
		{"POST", "/order/", http.Header{"CE-TYPE": {ping}}, 404, "", ""},
		{"POST", "/order/api/orders", http.Header{"Ce-Type": {ping}}, 404, "", ""},
		{"POST", "/order/", http.Header{"Ce-Type": {"com.example.order.place"}}, 200, "order POST /", ""},
		// Given twice, the header matches no exact value (as in Envoy):
		// order itself refuses a repeated ce- header.
		{"POST", "/order/", http.Header{"Ce-Type": {ping, "x"}}, 200, "order POST /", ""},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.method, " ", tt.path, " ", tt.header), func(t *testing.T) {
			*seen = nil
			req, _ := http.NewRequest(tt.method, srv.URL+tt.path, nil)
			maps.Copy(req.Header, tt.header)
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.status)
			}
			var want []string
			if tt.reached != "" {
				want = []string{tt.reached}
			}
			if diff := cmp.Diff(want, *seen); diff != "" {
				t.Errorf("reached (-want +got):\n%s", diff)
			}
			if got := resp.Header.Get("Location"); got != tt.location {
				t.Errorf("Location = %q, want %q", got, tt.location)
			}
		})
	}
}

// TestBodyLimit: the gateway answers 413 itself for a body over MaxBody,
// whether its length is declared or the body is chunked.
func TestBodyLimit(t *testing.T) {
	routes, err := Load("../../../../infra/mesh")
	if err != nil {
		t.Fatal(err)
	}
	urls, _ := backends(t)
	g, _ := New(routes, urls, nil, http.NotFoundHandler())
	srv := httptest.NewServer(g)
	defer srv.Close()

	big := strings.Repeat("x", MaxBody+1)
	for _, tt := range []struct {
		name string
		body io.Reader
	}{
		{"declared length", strings.NewReader(big)},
		{"chunked", io.MultiReader(strings.NewReader(big))}, // unknown length: sent chunked
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := http.Post(srv.URL+"/order/api/orders", "application/json", tt.body)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusRequestEntityTooLarge {
				t.Errorf("status = %d, want 413", resp.StatusCode)
			}
		})
	}
	resp, err := http.Post(srv.URL+"/order/api/orders", "application/json", strings.NewReader(strings.Repeat("x", MaxBody)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("a body of MaxBody: status %d, want 200", resp.StatusCode)
	}
}

// TestNoPlatformRoute: the cluster's VirtualService routes nothing under
// /platform/, which only the local gateway serves (the platform page).
func TestNoPlatformRoute(t *testing.T) {
	routes, err := Load("../../../../infra/mesh")
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/platform/", "/platform/api/state", "/platform"} {
		for _, rt := range routes {
			if _, ok := rt.matches(httptest.NewRequest(http.MethodGet, path, nil)); ok && rt.Function() != "" {
				t.Errorf("route %s sends GET %s to %s", rt.Name, path, rt.Function())
			}
		}
	}
}
