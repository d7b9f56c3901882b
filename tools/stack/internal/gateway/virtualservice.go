package gateway

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/mskafka/knative-functions/tools/broker/manifest"
)

// Route is one HTTP route of a VirtualService, as infra/mesh spells it. It
// names only the fields the local gateway honours: anything else is
// refused, so a route the cluster would apply differently cannot pass
// silently. Exactly one of Route (with rewrite.authority naming the
// function), Redirect and DirectResponse is set.
type Route struct {
	Name string `json:"name"`
	// Match applies when any of its entries matches, an entry when all its
	// conditions do; none matches every request.
	Match   []Match `json:"match"`
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

// Match is one entry of a route's match list. WithoutHeaders holds header
// values none of which a request may have.
type Match struct {
	URI            *StringMatch            `json:"uri"`
	Method         *StringMatch            `json:"method"`
	WithoutHeaders map[string]*StringMatch `json:"withoutHeaders"`
}

// StringMatch is Istio's exact or prefix match of a string.
type StringMatch struct {
	Exact  string `json:"exact"`
	Prefix string `json:"prefix"`
}

// Load reads the VirtualServices of the manifests in dir (infra/mesh) and
// returns their HTTP routes in order, which is the order Istio tries them.
func Load(dir string) ([]Route, error) {
	var routes []Route
	err := manifest.EachDocument(dir, func(doc []byte) error {
		var head struct{ Kind string }
		if err := yaml.Unmarshal(doc, &head); err != nil || head.Kind != "VirtualService" {
			return err
		}
		vs, name, _, err := manifest.Decode[struct {
			Gateways []string `json:"gateways"`
			Hosts    []string `json:"hosts"`
			HTTP     []Route  `json:"http"`
		}](doc, head.Kind)
		if err != nil {
			return err
		}
		for _, rt := range vs.HTTP {
			if err := rt.check(); err != nil {
				return fmt.Errorf("VirtualService %s: route %q: %w", name, rt.Name, err)
			}
		}
		routes = append(routes, vs.HTTP...)
		return nil
	})
	if err == nil && len(routes) == 0 {
		err = fmt.Errorf("load virtual services: no HTTP route in %s", dir)
	}
	return routes, err
}

// check refuses what the local gateway would not apply as Istio does.
func (rt Route) check() error {
	for _, m := range rt.Match {
		if m.Method != nil && m.Method.Exact == "" {
			return errors.New("method: only exact matches are supported")
		}
		for name, v := range m.WithoutHeaders {
			if v == nil || v.Exact == "" {
				return fmt.Errorf("withoutHeaders: %s: only exact matches are supported", name)
			}
		}
	}
	if len(rt.Route) > 0 && (rt.Rewrite == nil || rt.Rewrite.Authority == "") {
		return errors.New("a route needs rewrite.authority naming the function")
	}
	actions := 0
	for _, set := range []bool{len(rt.Route) > 0, rt.Redirect != nil, rt.DirectResponse != nil} {
		if set {
			actions++
		}
	}
	if actions != 1 {
		return errors.New("want exactly one of route, redirect and directResponse")
	}
	return nil
}

// Function is the Knative Service the route reaches through Knative's
// local gateway: the first label of rewrite.authority; empty for a
// redirect or a direct response.
func (rt Route) Function() string {
	if len(rt.Route) == 0 {
		return ""
	}
	name, _, _ := strings.Cut(rt.Rewrite.Authority, ".")
	return name
}

// matches reports whether the route applies to r, and the match that did.
func (rt Route) matches(r *http.Request) (Match, bool) {
	if len(rt.Match) == 0 {
		return Match{}, true
	}
	for _, m := range rt.Match {
		if m.Method != nil && m.Method.Exact != r.Method || anyHeader(m.WithoutHeaders, r.Header) {
			continue
		}
		path := r.URL.Path
		if u := m.URI; u == nil || (u.Exact != "" && path == u.Exact) || (u.Prefix != "" && strings.HasPrefix(path, u.Prefix)) ||
			(u.Exact == "" && u.Prefix == "") {
			return m, true
		}
	}
	return Match{}, false
}

// rewrite returns the path the function sees: Istio replaces the matched
// prefix (or the whole path for an exact match) with rewrite.uri.
func (rt Route) rewrite(m Match, path string) string {
	if rt.Rewrite == nil || rt.Rewrite.URI == "" {
		return path
	}
	if m.URI != nil && m.URI.Prefix != "" {
		return rt.Rewrite.URI + strings.TrimPrefix(path, m.URI.Prefix)
	}
	return rt.Rewrite.URI
}

// anyHeader reports whether h has any header of want with its exact value.
// Names are case-insensitive; a header given more than once is matched on
// its values joined by commas, as Envoy does.
func anyHeader(want map[string]*StringMatch, h http.Header) bool {
	for name, value := range want {
		if strings.Join(h.Values(name), ",") == value.Exact {
			return true
		}
	}
	return false
}
