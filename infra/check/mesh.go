package check

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"

	gocmp "github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/encoding/protojson"
	meshv1alpha1 "istio.io/api/mesh/v1alpha1"
	istioapi "istio.io/api/networking/v1"
	istionetworking "istio.io/client-go/pkg/apis/networking/v1"
	istiosecurity "istio.io/client-go/pkg/apis/security/v1"
	istiotelemetry "istio.io/client-go/pkg/apis/telemetry/v1"
	corev1 "k8s.io/api/core/v1"
	eventingobservability "knative.dev/eventing/pkg/observability"
	servingobservability "knative.dev/serving/pkg/observability"
	"sigs.k8s.io/yaml"

	"github.com/mskafka/knative-functions/infra/check/platform"
)

// meshNamespaces: sidecars injected and mTLS strict in ours, only the
// documented exceptions in the platform's, and no second policy for pods the
// platform already has one for.
func (c *checker) meshNamespaces() {
	for _, ns := range All[corev1.Namespace](c.objs) {
		if ns.Labels["istio-injection"] != "enabled" {
			c.addf("Namespace %s: label istio-injection=enabled is missing: the pods would get no sidecar", ns.Name)
		}
		if !slices.ContainsFunc(All[istiosecurity.PeerAuthentication](c.objs), func(pa *istiosecurity.PeerAuthentication) bool {
			return pa.Namespace == ns.Name && pa.Spec.Selector == nil && pa.Spec.GetMtls().GetMode().String() == "STRICT"
		}) {
			c.addf("Namespace %s: no namespace-wide PeerAuthentication with mode STRICT", ns.Name)
		}
	}
	for _, pa := range All[istiosecurity.PeerAuthentication](c.objs) {
		if slices.Contains(platform.Namespaces, pa.Namespace) && pa.Spec.GetMtls().GetMode().String() != "PERMISSIVE" {
			c.addf("PeerAuthentication %s/%s: in a platform namespace only the documented PERMISSIVE exceptions belong", pa.Namespace, pa.Name)
		}
		if w := platform.WebhookPeerAuthentication; pa.Namespace == w.Namespace && maps.Equal(pa.Spec.GetSelector().GetMatchLabels(), w.Selector) {
			c.addf("PeerAuthentication %s/%s: duplicates %s/%s for the same pods (istioctl warns; the older one wins); %s",
				pa.Namespace, pa.Name, w.Namespace, w.Name, w.Fact)
		}
	}
}

// virtualServices: the Gateways select the ingress gateway, and the
// VirtualServices use known gateways, route to the functions in the tree,
// the menu and one prefix per function.
func (c *checker) virtualServices() {
	gateways := map[string]bool{"mesh": true}
	for _, g := range All[istionetworking.Gateway](c.objs) {
		gateways[g.Name] = true
		gateways[g.Namespace+"/"+g.Name] = true
		if g.Spec.GetSelector()["istio"] != "ingressgateway" {
			c.addf("Gateway %s/%s: selector must be istio: ingressgateway, the gateway whose identity the AuthorizationPolicies allow", g.Namespace, g.Name)
		}
	}
	prefixes := map[string]string{}
	for _, vs := range All[istionetworking.VirtualService](c.objs) {
		id := "VirtualService " + vs.Namespace + "/" + vs.Name
		for _, g := range vs.Spec.GetGateways() {
			if !gateways[g] {
				c.addf("%s: gateway %q not found", id, g)
			}
		}
		for _, route := range vs.Spec.GetHttp() {
			c.route(vs.Namespace, id, route, prefixes)
		}
	}
	want := map[string]string{"/": "order" + MenuPath}
	for _, name := range c.declared {
		want["/"+name+"/"] = name
	}
	if diff := gocmp.Diff(want, prefixes); diff != "" {
		c.addf("the VirtualServices do not route the menu and one prefix per function (-want +got):\n%s", diff)
	}
}

// route checks one HTTP route of the VirtualService id in namespace and
// records the prefix it routes in prefixes.
func (c *checker) route(namespace, id string, route *istioapi.HTTPRoute, prefixes map[string]string) {
	rid := fmt.Sprintf("%s: route %q", id, route.GetName())
	authority := route.GetRewrite().GetAuthority()
	var target string
	if authority != "" {
		fn, rest, _ := strings.Cut(authority, ".")
		if !slices.Contains(c.declared, fn) || rest != namespace+".svc.cluster.local" {
			c.addf("%s: rewrite.authority %q is not <function>.%s.svc.cluster.local of a function in functions/", rid, authority, namespace)
		}
		target = fn
	}
	for _, dst := range route.GetRoute() {
		host := dst.GetDestination().GetHost()
		switch {
		case host == knativeLocalGateway:
			if authority == "" {
				c.addf("%s: a route to %s needs rewrite.authority naming the function", rid, host)
			}
		case c.serviceHost(host):
		default:
			c.addf("%s: destination %q is neither Knative's local gateway nor a Service in the tree", rid, host)
		}
	}
	for _, m := range route.GetMatch() {
		if p := m.GetUri().GetPrefix(); p != "" && target != "" {
			prefixes[p] = target
			if route.GetRewrite().GetUri() != "/" {
				c.addf("%s: prefix %s: rewrite.uri must be \"/\" (the prefix is stripped, as the Apache did)", rid, p)
			}
		}
		if m.GetUri().GetExact() == "/" {
			prefixes["/"] = target + route.GetRewrite().GetUri()
		}
	}
}

// authorizationPolicies: selectors that match a workload, principals and
// namespaces that exist.
func (c *checker) authorizationPolicies() {
	for _, ap := range All[istiosecurity.AuthorizationPolicy](c.objs) {
		id := "AuthorizationPolicy " + ap.Namespace + "/" + ap.Name
		if sel := ap.Spec.GetSelector().GetMatchLabels(); sel != nil && len(c.podsSelectedBy(ap.Namespace, sel)) == 0 {
			c.addf("%s: selector %v matches no workload (a function's pods carry serving.knative.dev/service=<name>)", id, sel)
		}
		for _, rule := range ap.Spec.GetRules() {
			for _, from := range rule.GetFrom() {
				for _, p := range from.GetSource().GetPrincipals() {
					c.principal(id, p)
				}
				for _, ns := range from.GetSource().GetNamespaces() {
					if !slices.Contains(platform.Namespaces, ns) && Find[corev1.Namespace](c.objs, "", ns) == nil {
						c.addf("%s: source namespace %q is unknown", id, ns)
					}
				}
			}
		}
	}
}

// telemetryProviders: every tracing provider is one the mesh declares.
func (c *checker) telemetryProviders() {
	providers := c.meshProviders()
	for _, t := range All[istiotelemetry.Telemetry](c.objs) {
		for _, tr := range t.Spec.GetTracing() {
			for _, p := range tr.GetProviders() {
				if !slices.Contains(providers, p.GetName()) {
					c.addf("Telemetry %s/%s: provider %q is not among the mesh's extensionProviders in %s (%s)", t.Namespace, t.Name, p.GetName(), strings.TrimPrefix(c.in.MeshConfig, "/"), strings.Join(providers, ", "))
				}
			}
		}
	}
}

// principal checks that an Istio principal names a known service account.
func (c *checker) principal(id, p string) {
	known := slices.ContainsFunc(platform.Workloads(), func(w platform.Workload) bool { return w.Namespace != "" && w.Principal() == p })
	rest, ok := strings.CutPrefix(p, "cluster.local/ns/")
	ns, sa, ok2 := strings.Cut(rest, "/sa/")
	if !known && (!ok || !ok2 || Find[corev1.ServiceAccount](c.objs, ns, sa) == nil) {
		c.addf("%s: principal %q is no service account of the tree or the platform", id, p)
	}
}

// serviceHost reports whether host is <service>.<ns>.svc[.cluster.local] of
// a Service in the tree.
func (c *checker) serviceHost(host string) bool {
	parts := strings.SplitN(host, ".", 3)
	return len(parts) == 3 && (parts[2] == "svc" || parts[2] == "svc.cluster.local") &&
		Find[corev1.Service](c.objs, parts[1], parts[0]) != nil
}

// meshProviders decodes the IstioOperator's meshConfig strictly, with
// Istio's MeshConfig type, and returns the names of its extension providers.
func (c *checker) meshProviders() []string {
	data, err := c.in.FS.ReadFile(c.in.MeshConfig)
	if err != nil {
		c.addf("read %s: %w", c.in.MeshConfig, err)
		return nil
	}
	var op struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   any    `json:"metadata,omitempty"`
		Spec       struct {
			Profile    string          `json:"profile"`
			MeshConfig json.RawMessage `json:"meshConfig"`
		} `json:"spec"`
	}
	if err := yaml.UnmarshalStrict(data, &op); err != nil {
		c.addf("%s: %w", c.in.MeshConfig, err)
		return nil
	}
	if op.APIVersion != "install.istio.io/v1alpha1" || op.Kind != "IstioOperator" {
		c.addf("%s: want an install.istio.io/v1alpha1 IstioOperator", c.in.MeshConfig)
	}
	var mc meshv1alpha1.MeshConfig
	if err := protojson.Unmarshal(op.Spec.MeshConfig, &mc); err != nil {
		c.addf("%s: spec.meshConfig: %w", c.in.MeshConfig, err)
		return nil
	}
	var names []string
	for _, p := range mc.GetExtensionProviders() {
		names = append(names, p.GetName())
		if otel := p.GetOpentelemetry(); otel != nil && otel.GetService() != jaegerCollector {
			c.addf("%s: provider %s sends to %s, not to %s", c.in.MeshConfig, p.GetName(), otel.GetService(), jaegerCollector)
		}
	}
	return names
}

// jaegerCollector is the collector Service of Istio's Jaeger add-on.
const jaegerCollector = "jaeger-collector.istio-system.svc.cluster.local"

// observability checks Knative's tracing settings with Knative's own parsers.
func (c *checker) observability() {
	parsers := map[string]func(map[string]string) (string, string, error){
		"knative-serving": func(m map[string]string) (string, string, error) {
			cfg, err := servingobservability.NewFromMap(m)
			if err != nil {
				return "", "", err
			}
			return string(cfg.Tracing.Protocol), cfg.Tracing.Endpoint, nil
		},
		"knative-eventing": func(m map[string]string) (string, string, error) {
			cfg, err := eventingobservability.NewFromMap(m)
			if err != nil {
				return "", "", err
			}
			return string(cfg.Tracing.Protocol), cfg.Tracing.Endpoint, nil
		},
	}
	for ns, parse := range parsers {
		cm := Find[corev1.ConfigMap](c.objs, ns, "config-observability")
		if cm == nil {
			c.addf("ConfigMap %s/config-observability: not found; Knative would send no traces", ns)
			continue
		}
		protocol, endpoint, err := parse(cm.Data)
		if err != nil {
			c.addf("ConfigMap %s/config-observability: Knative rejects it: %w", ns, err)
			continue
		}
		u, err := url.Parse(endpoint)
		if protocol == "none" || protocol == "" || err != nil || u.Hostname() != jaegerCollector {
			c.addf("ConfigMap %s/config-observability: traces go to %q over %q, not to %s", ns, endpoint, protocol, jaegerCollector)
		}
	}
}
