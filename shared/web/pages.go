package web

import (
	"embed"
	"html/template"
	"io/fs"
	"net/http"
)

//go:embed assets
var assets embed.FS

// Templates parses a function's page templates together with the shared
// layout. Each page defines "title" and "content" and is executed as
// "layout"; its data must have a Base field (see Page).
func Templates(pages fs.FS, patterns ...string) (map[string]*template.Template, error) {
	files, err := fs.Glob(pages, patterns[0])
	if err != nil {
		return nil, err
	}
	for _, p := range patterns[1:] {
		more, err := fs.Glob(pages, p)
		if err != nil {
			return nil, err
		}
		files = append(files, more...)
	}
	out := make(map[string]*template.Template, len(files))
	for _, f := range files {
		t, err := template.ParseFS(assets, "assets/layout.html")
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

// Static serves the shared stylesheet at /static/.
func Static() http.Handler {
	sub, _ := fs.Sub(assets, "assets")
	return http.StripPrefix("/static/", http.FileServerFS(sub))
}

// Base returns the relative path from a request's page back to the function's
// root ("" at depth one, "../" at depth two, …), so every link works behind
// a path prefix the gateway strips, and when the function is reached directly.
func Base(r *http.Request) string {
	depth := 0
	for _, c := range r.URL.Path[1:] {
		if c == '/' {
			depth++
		}
	}
	b := ""
	for range depth {
		b += "../"
	}
	return b
}
