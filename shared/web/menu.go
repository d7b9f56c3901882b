package web

import (
	"bytes"
	"html/template"
	"net/http"
	"sync"
)

// Menu serves the entry page that links the three functions. The local
// gateway serves it at its root; on a cluster the Istio route sends "/" to it.
// The page is rendered once, on the first request.
func Menu() http.Handler {
	page := sync.OnceValues(menuPage)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := page()
		if err != nil {
			http.Error(w, "could not render the menu: "+err.Error(), http.StatusInternalServerError)
			return
		}
		pageHeaders(w.Header())
		w.Write(body)
	})
}

func menuPage() ([]byte, error) {
	t, err := template.New("layout.html").Funcs(funcs()).ParseFS(assets, "assets/layout.html", "assets/menu.html")
	if err != nil {
		return nil, err
	}
	var page bytes.Buffer
	// The menu sits at the root, one level above the functions. Its layout
	// links ("{{.Base}}static/…", "{{.Base}}../shipping/") start from the
	// order function's root, so that the menu needs nothing but "/" routed
	// to it: the stylesheet comes from order/static/.
	if err := t.ExecuteTemplate(&page, "layout", map[string]any{"Base": "order/", "Section": ""}); err != nil {
		return nil, err
	}
	return page.Bytes(), nil
}
