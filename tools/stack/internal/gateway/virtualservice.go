package gateway

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/mskafka/knative-functions/tools/broker/manifest"
)

// Route is one HTTP route of a VirtualService, in the terms the local
// gateway applies it. Exactly one of Function, Redirect and Status is set.
type Route struct {
	Name    string
	Matches []Match
	// Function is the first label of rewrite.authority: the Knative
	// Service the route reaches through Knative's local gateway.
	Function string
	// Rewrite replaces the matched part of the path (rewrite.uri).
	Rewrite  string
	Redirect string
	Status   int
}

// Match is one entry of a route's match list; a route applies when any of
// its entries matches, an entry when all its conditions do.
type Match struct {
	Exact, Prefix string
	// Method is the exact method; empty matches any.
	Method string
	// Without maps header names to an exact value none of them may have
	// (withoutHeaders).
	Without map[string]string
}

// The wire shape of the fields the local gateway honours. Anything else is
// refused, so a route the cluster would apply differently cannot pass
// silently.
type (
	vsSpec struct {
		Gateways []string   `json:"gateways"`
		Hosts    []string   `json:"hosts"`
		HTTP     []routeDoc `json:"http"`
	}
	routeDoc struct {
		Name  string `json:"name"`
		Match []struct {
			URI            *stringMatch            `json:"uri"`
			Method         *stringMatch            `json:"method"`
			WithoutHeaders map[string]*stringMatch `json:"withoutHeaders"`
		} `json:"match"`
		Rewrite *struct {
			URI       string `json:"uri"`
			Authority string `json:"authority"`
		} `json:"rewrite"`
		Redirect *struct {
			URI string `json:"uri"`
		} `json:"redirect"`
		DirectResponse *struct {
			Status int `json:"status"`
		} `json:"directResponse"`
		Route []struct {
			Destination struct {
				Host string `json:"host"`
				Port struct {
					Number int `json:"number"`
				} `json:"port"`
			} `json:"destination"`
		} `json:"route"`
	}
	stringMatch struct {
		Exact  string `json:"exact"`
		Prefix string `json:"prefix"`
	}
)

// Load reads the VirtualServices of the manifests in dir (infra/mesh) and
// returns their HTTP routes in order, which is the order Istio tries them.
func Load(dir string) ([]Route, error) {
	var routes []Route
	err := manifest.EachDocument(dir, func(doc []byte) error {
		rs, err := decode(doc)
		routes = append(routes, rs...)
		return err
	})
	if err == nil && len(routes) == 0 {
		err = fmt.Errorf("load virtual services: no HTTP route in %s", dir)
	}
	return routes, err
}

// decode returns the routes of a VirtualService document, none for another kind.
func decode(doc []byte) ([]Route, error) {
	var head struct{ Kind string }
	if err := yaml.Unmarshal(doc, &head); err != nil || head.Kind != "VirtualService" {
		return nil, err
	}
	vs, name, _, err := manifest.Decode[vsSpec](doc, head.Kind)
	if err != nil {
		return nil, err
	}
	routes := make([]Route, 0, len(vs.HTTP))
	for _, rd := range vs.HTTP {
		r, err := rd.route()
		if err != nil {
			return nil, fmt.Errorf("VirtualService %s: route %q: %w", name, rd.Name, err)
		}
		routes = append(routes, r)
	}
	return routes, nil
}

func (rd routeDoc) route() (Route, error) {
	r := Route{Name: rd.Name}
	for _, m := range rd.Match {
		var mt Match
		if m.URI != nil {
			mt.Exact, mt.Prefix = m.URI.Exact, m.URI.Prefix
		}
		if m.Method != nil {
			if m.Method.Exact == "" {
				return Route{}, errors.New("method: only exact matches are supported")
			}
			mt.Method = m.Method.Exact
		}
		for name, v := range m.WithoutHeaders {
			if v == nil || v.Exact == "" {
				return Route{}, fmt.Errorf("withoutHeaders: %s: only exact matches are supported", name)
			}
			if mt.Without == nil {
				mt.Without = map[string]string{}
			}
			mt.Without[name] = v.Exact
		}
		r.Matches = append(r.Matches, mt)
	}
	actions := 0
	if rd.Redirect != nil {
		r.Redirect, actions = rd.Redirect.URI, actions+1
	}
	if rd.DirectResponse != nil {
		r.Status, actions = rd.DirectResponse.Status, actions+1
	}
	if len(rd.Route) > 0 {
		if rd.Rewrite == nil || rd.Rewrite.Authority == "" {
			return Route{}, errors.New("a route needs rewrite.authority naming the function")
		}
		r.Function, _, _ = strings.Cut(rd.Rewrite.Authority, ".")
		r.Rewrite, actions = rd.Rewrite.URI, actions+1
	}
	if actions != 1 {
		return Route{}, errors.New("want exactly one of route, redirect and directResponse")
	}
	return r, nil
}

// matches reports whether the route applies to r, and the match that did.
func (rt Route) matches(r *http.Request) (Match, bool) {
	if len(rt.Matches) == 0 {
		return Match{}, true
	}
	for _, m := range rt.Matches {
		if m.Method != "" && m.Method != r.Method || anyHeader(m.Without, r.Header) {
			continue
		}
		path := r.URL.Path
		if (m.Exact != "" && path == m.Exact) || (m.Prefix != "" && strings.HasPrefix(path, m.Prefix)) ||
			(m.Exact == "" && m.Prefix == "") {
			return m, true
		}
	}
	return Match{}, false
}

// rewrite returns the path the function sees: Istio replaces the matched
// prefix (or the whole path for an exact match) with rewrite.uri.
func (rt Route) rewrite(m Match, path string) string {
	if rt.Rewrite == "" {
		return path
	}
	if m.Prefix != "" {
		return rt.Rewrite + strings.TrimPrefix(path, m.Prefix)
	}
	return rt.Rewrite
}

// anyHeader reports whether h has any header of want with its exact value.
// Names are case-insensitive; a header given more than once is matched on
// its values joined by commas, as Envoy does.
func anyHeader(want map[string]string, h http.Header) bool {
	for name, value := range want {
		if strings.Join(h.Values(name), ",") == value {
			return true
		}
	}
	return false
}
