package web

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

func TestBase(t *testing.T) {
	tests := []struct{ path, want string }{
		{"/", ""},
		{"/new", ""},
		{"/7", ""},
		{"/7/cancel", "../"},
		{"/a/b/c", "../../"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			if got := Base(httptest.NewRequest(http.MethodGet, tt.path, nil)); got != tt.want {
				t.Errorf("Base(%s) = %q, want %q", tt.path, got, tt.want)
			}
		})
	}
}

func TestElapsed(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{84 * time.Millisecond, "+0.084 s"},
		{0, "+0.000 s"},
		{-time.Second, "+0.000 s"}, // clocks of two machines: never show a step before its cause
		{59*time.Second + 999*time.Millisecond, "+59.999 s"},
		{90 * time.Second, "+1m30s"},
	}
	for _, tt := range tests {
		if got := Elapsed(tt.d); got != tt.want {
			t.Errorf("Elapsed(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestRender(t *testing.T) {
	pages := fstest.MapFS{"p.html": {Data: []byte(`{{define "title"}}T{{end}}{{define "content"}}<p>{{.Text}} {{stamp .When}}</p>{{end}}`)}}
	tmpl, err := Templates(pages, "*.html")
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	err = Render(rec, httptest.NewRequest(http.MethodGet, "/7/x", nil), tmpl["p.html"], http.StatusTeapot, "shipping",
		map[string]any{"Text": "<b>bold</b>", "When": time.Date(2026, 11, 25, 11, 0, 0, 0, time.FixedZone("CET", 3600))})
	if err != nil {
		t.Fatal(err)
	}
	body := rec.Body.String()
	for _, want := range []string{
		"<title>T · Order Processing</title>",
		`<link rel="stylesheet" href="../static/style.css">`,
		`<a href="../../shipping/" aria-current="page">Shipping</a>`,
		"<p>&lt;b&gt;bold&lt;/b&gt; 2026-11-25 10:00:00 UTC</p>",
		"comes from the <strong>shipping</strong> function",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %s:\n%s", want, body)
		}
	}
	if rec.Code != http.StatusTeapot {
		t.Errorf("status = %d", rec.Code)
	}
	for k, want := range map[string]string{"Content-Security-Policy": ContentSecurityPolicy, "Content-Type": "text/html; charset=utf-8", "X-Content-Type-Options": "nosniff"} {
		if got := rec.Header().Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
}

func TestMenu(t *testing.T) {
	menu := Menu()
	rec := httptest.NewRecorder()
	menu.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	body := rec.Body.String()
	// The menu is at the root: its links must lead into the functions.
	for _, want := range []string{`href="order/static/style.css"`, `<a href="order/">Order</a>`, `<a href="shipping/">Shipping</a>`,
		`<a href="invoicing/">Invoicing</a>`, `<a class="button" href="order/new">`, "Jaeger", "Kiali", "Kafka topic"} {
		if !strings.Contains(body, want) {
			t.Errorf("menu lacks %s", want)
		}
	}
	if rec.Header().Get("Content-Security-Policy") != ContentSecurityPolicy {
		t.Error("the menu has no Content-Security-Policy")
	}
}

func TestErrorPages(t *testing.T) {
	rec := httptest.NewRecorder()
	NotFound(rec, httptest.NewRequest(http.MethodGet, "/a/b", nil), "order", "")
	if body := rec.Body.String(); rec.Code != 404 || !strings.Contains(body, "There is no page at this address.") ||
		!strings.Contains(body, "Reached this function directly") || !strings.Contains(body, `<a href="../">the start page`) {
		t.Errorf("not found page: %d\n%s", rec.Code, body)
	}
	rec = httptest.NewRecorder()
	ErrorPage(rec, httptest.NewRequest(http.MethodPost, "/new", nil), "order", http.StatusForbidden, "Refused <here>.")
	if body := rec.Body.String(); rec.Code != 403 || !strings.Contains(body, "Refused &lt;here&gt;.") || strings.Contains(body, "Reached this function directly") {
		t.Errorf("forbidden page: %d\n%s", rec.Code, body)
	}
}
