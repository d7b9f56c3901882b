package web

import (
	"bytes"
	"html/template"
	"net/http"
)

// Menu serves the entry page that links the three functions. The local
// gateway serves it at its root; on a cluster the Istio route sends "/" to it.
func Menu() (http.Handler, error) {
	t, err := template.ParseFS(assets, "assets/layout.html", "assets/menu.html")
	if err != nil {
		return nil, err
	}
	var page bytes.Buffer
	// The menu sits at the root, so the layout's links (relative to a
	// function's root, "../x/") must start from here instead.
	if err := t.ExecuteTemplate(&page, "layout", map[string]any{"Base": "order/"}); err != nil {
		return nil, err
	}
	body := page.Bytes()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'self'")
		w.Write(body)
	}), nil
}
