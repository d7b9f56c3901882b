package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
	"sync"
	"time"
)

//go:embed assets
var assets embed.FS

// ContentSecurityPolicy is sent with every page. Scripts and styles come only
// from the page's own origin (no inline script, no CDN), scripts may ask only
// that origin, forms post only there, and no other site may frame the page.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; form-action 'self'; base-uri 'none'; object-src 'none'; frame-ancestors 'none'"

// Templates parses a function's page templates together with the shared
// layout. Each page defines "title" and "content" (and may define "head")
// and is executed as "layout" by Render.
func Templates(pages fs.FS, patterns ...string) (map[string]*template.Template, error) {
	var files []string
	for _, p := range patterns {
		more, err := fs.Glob(pages, p)
		if err != nil {
			return nil, err
		}
		files = append(files, more...)
	}
	out := make(map[string]*template.Template, len(files))
	for _, f := range files {
		t, err := template.New("layout.html").Funcs(funcs()).ParseFS(assets, "assets/layout.html")
		if err != nil {
			return nil, err
		}
		if t, err = t.ParseFS(pages, f); err != nil {
			return nil, err
		}
		out[f] = t
	}
	return out, nil
}

// Pages are a function's page templates, parsed when the first page is
// served: a function woken from zero by an event or a ping never parses
// them (about a millisecond of its cold start).
type Pages struct {
	parse func() (map[string]*template.Template, error)
}

// LazyPages returns the templates Templates would parse, parsed on first use.
func LazyPages(pages fs.FS, patterns ...string) *Pages {
	return &Pages{parse: sync.OnceValues(func() (map[string]*template.Template, error) {
		return Templates(pages, patterns...)
	})}
}

// Render renders the page of that file name as Render does.
func (p *Pages) Render(w http.ResponseWriter, r *http.Request, page string, status int, section string, data map[string]any) error {
	ts, err := p.parse()
	if err == nil && ts[page] == nil {
		err = fmt.Errorf("no page %s", page)
	}
	if err != nil {
		http.Error(w, "could not render the page", http.StatusInternalServerError)
		return fmt.Errorf("page templates: %w", err)
	}
	return Render(w, r, ts[page], status, section, data)
}

// Render executes a page template as "layout" for the function whose menu
// section is section ("order", "shipping", "invoicing"). It sets the data's
// Base and Section, renders into a buffer first, so that a failing template
// answers a clean 500 instead of half a page, and sends the headers every
// page gets. The error is the template's, for the caller to log.
func Render(w http.ResponseWriter, r *http.Request, t *template.Template, status int, section string, data map[string]any) error {
	data["Base"] = Base(r)
	data["Section"] = section
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", data); err != nil {
		http.Error(w, "could not render the page", http.StatusInternalServerError)
		return err
	}
	pageHeaders(w.Header())
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
	return nil
}

func pageHeaders(h http.Header) {
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", ContentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	// Pages show live state (an order's journey, a shipment's status): a
	// browser may keep them, but must ask again before showing them.
	h.Set("Cache-Control", "no-cache")
}

// NotFound answers 404 with a page in the shared layout that says what was
// not found (msg) and where to go instead. A page that links to another
// function ("../shipping/…") leads here when the function is reached
// directly rather than through the gateway, so the page says that too.
func NotFound(w http.ResponseWriter, r *http.Request, section, msg string) {
	if msg == "" {
		msg = "There is no page at this address."
	}
	ErrorPage(w, r, section, http.StatusNotFound, msg)
}

// errorTemplate is the error page, parsed on first use and then shared:
// the templates are embedded, so the result never changes, and a parsed
// html/template may be executed concurrently. (Not a package variable one
// could set: the only state is this cache of a pure function.)
var errorTemplate = sync.OnceValues(func() (*template.Template, error) {
	return template.New("layout.html").Funcs(funcs()).ParseFS(assets, "assets/layout.html", "assets/notfound.html")
})

// ErrorPage answers status with a page in the shared layout that says msg
// and where to go instead.
func ErrorPage(w http.ResponseWriter, r *http.Request, section string, status int, msg string) {
	t, err := errorTemplate()
	if err == nil {
		err = Render(w, r, t, status, section, map[string]any{"Message": msg, "Title": http.StatusText(status), "NotFound": status == http.StatusNotFound})
	}
	if err != nil {
		http.Error(w, msg, status)
	}
}

// NotFoundHandler answers every request it gets with NotFound.
func NotFoundHandler(section string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { NotFound(w, r, section, "") })
}

// Static serves the shared stylesheet and icon at /static/, and nothing
// else of the assets: not their directory, not the templates' source.
func Static() http.Handler {
	sub, _ := fs.Sub(assets, "assets")
	return Files("/static/", sub, "style.css", "favicon.svg")
}

// Files serves the named files of fsys at prefix+name and answers 404 to
// every other path under prefix, including the directory itself and paths
// that are not valid UTF-8: an allowlist, so that adding a file to fsys
// never publishes it by accident.
func Files(prefix string, fsys fs.FS, names ...string) http.Handler {
	allowed := make(map[string]bool, len(names))
	for _, n := range names {
		allowed[n] = true
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, ok := strings.CutPrefix(r.URL.Path, prefix)
		if !ok || !allowed[name] {
			w.Header().Set("X-Content-Type-Options", "nosniff")
			http.Error(w, "no such file: "+prefix+" serves only "+strings.Join(names, ", "), http.StatusNotFound)
			return
		}
		w.Header().Set("X-Content-Type-Options", "nosniff")
		http.ServeFileFS(w, r, fsys, name)
	})
}

// Base returns the relative path from a request's page back to the function's
// root ("" at depth one, "../" at depth two, …), so every link works behind
// a path prefix the gateway strips, and when the function is reached directly.
func Base(r *http.Request) string {
	return strings.Repeat("../", strings.Count(strings.TrimPrefix(r.URL.Path, "/"), "/"))
}

// funcs are the helpers every page template may use.
func funcs() template.FuncMap {
	return template.FuncMap{
		// stamp shows a time to the second, in UTC, which is what the
		// services' logs and Kafka show too.
		"stamp": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") + " UTC" },
		// clock shows a time of day to the millisecond: the steps of an
		// order's journey are milliseconds apart.
		"clock": func(t time.Time) string { return t.UTC().Format("15:04:05.000") },
		// iso is the machine-readable form for <time datetime>.
		"iso": func(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) },
		// inc turns an index into a number for people: line 0 is line 1.
		"inc": func(i int) int { return i + 1 },
		// after shows how long after start a step happened: "+0.084 s".
		"after": func(start, t time.Time) string { return Elapsed(t.Sub(start)) },
	}
}

// Elapsed formats the time between two steps the way the journey shows it.
func Elapsed(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	if d < time.Minute {
		return fmt.Sprintf("+%.3f s", d.Seconds())
	}
	return "+" + d.Round(time.Second).String()
}
