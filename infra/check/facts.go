package check

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"

	istiosecuritypb "istio.io/api/security/v1beta1"
	istiosecurity "istio.io/client-go/pkg/apis/security/v1"
	istiotelemetry "istio.io/client-go/pkg/apis/telemetry/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"knative.dev/serving/pkg/apis/serving"

	"github.com/mskafka/knative-functions/infra/check/platform"
)

// The checks below hold the tree, the functions' Services and the cluster
// scripts against what the platforms do (package platform). Each problem
// names the fact and the source it was read from. Facts about one kind of
// object (a KafkaSink's topic, a source's deliverer, the webhooks'
// PeerAuthentication) are checked with the rest of that object.

// functionPods: each function is cluster-local, its pods are scraped through
// Istio's metrics merge, the proxy starts first, and Kiali sees a version.
func (c *checker) functionPods() {
	vis := platform.VisibilityLabel
	for _, svc := range c.services {
		file := "functions/" + svc.Name + "/func.yaml"
		if svc.Labels[vis.Key] != vis.ClusterLocal {
			c.addf("%s: deploy.labels: no %s=%s: the function is public, routed as %s.%s.%s on the ingress gateway past infra/mesh's routes; %s",
				file, vis.Key, vis.ClusterLocal, svc.Name, svc.Namespace, vis.DefaultDomain, vis.Fact)
		}
		patch := strings.TrimPrefix(c.in.ScaleToZero, "/") + " applied to " + svc.Name
		ann := svc.Spec.Template.Annotations
		m := platform.MetricsMerge
		want := map[string]string{m.Scrape: "true", m.Port: strconv.Itoa(platform.UserPort.Port), m.Path: "/metrics"}
		for _, k := range slices.Sorted(maps.Keys(want)) {
			if ann[k] != want[k] {
				c.addf("%s: template annotation %s is %q, want %q: the Grafana dashboard would get none of the function's metrics; %s; %s",
					patch, k, ann[k], want[k], m.Fact, platform.UserPort.Fact)
			}
		}
		h := platform.HoldApplication
		var pc struct {
			Hold bool `json:"holdApplicationUntilProxyStarts"`
		}
		if err := json.Unmarshal([]byte(ann[h.Annotation]), &pc); err != nil || !pc.Hold {
			c.addf("%s: template annotation %s does not hold the app until the proxy starts: Start's migrations can run before the sidecar and fail; %s",
				patch, h.Annotation, h.Fact)
		}
		if svc.Spec.Template.Labels["version"] == "" {
			c.addf("%s: template label version is missing: Kiali shows the workload as \"missing version\"", patch)
		}
	}
}

// activatorRules: the activator brings anyone's request, so it may not do
// more than the public routes allow: never /metrics.
func (c *checker) activatorRules() {
	a := platform.Activator
	for _, name := range slices.Sorted(maps.Keys(c.funcs)) {
		f := c.funcs[name]
		ns := cmp.Or(f.Namespace, f.Deploy.Namespace)
		if c.allows(ns, name, a.Principal(), "GET", "/metrics") {
			c.addf("AuthorizationPolicy for %s: the activator may GET /metrics, and it forwards any caller's request; %s; %s",
				name, a.Fact, platform.BurstCapacity.Fact)
		}
	}
}

// allows reports whether the ALLOW policies selecting function's pods let
// principal send method to urlPath (DENY policies are not modelled).
func (c *checker) allows(ns, function, principal, method, urlPath string) bool {
	for _, ap := range All[istiosecurity.AuthorizationPolicy](c.objs) {
		sel := ap.Spec.GetSelector().GetMatchLabels()
		if ap.Namespace != ns || ap.Spec.GetAction() != istiosecuritypb.AuthorizationPolicy_ALLOW || sel[serving.ServiceLabelKey] != function {
			continue
		}
		for _, r := range ap.Spec.GetRules() {
			if ruleFrom(r, principal) && ruleTo(r, method, urlPath) {
				return true
			}
		}
	}
	return false
}

func ruleFrom(r *istiosecuritypb.Rule, principal string) bool {
	if len(r.GetFrom()) == 0 {
		return true
	}
	for _, f := range r.GetFrom() {
		if slices.Contains(f.GetSource().GetPrincipals(), principal) {
			return true
		}
	}
	return false
}

func ruleTo(r *istiosecuritypb.Rule, method, urlPath string) bool {
	if len(r.GetTo()) == 0 {
		return true
	}
	for _, t := range r.GetTo() {
		op := t.GetOperation()
		if (len(op.GetMethods()) == 0 || slices.Contains(op.GetMethods(), method)) &&
			!slices.Contains(op.GetNotMethods(), method) &&
			(len(op.GetPaths()) == 0 || slices.ContainsFunc(op.GetPaths(), matches(urlPath))) &&
			!slices.ContainsFunc(op.GetNotPaths(), matches(urlPath)) {
			return true
		}
	}
	return false
}

// matches returns a test of an Istio path pattern (exact, "*", "prefix*"
// or "*suffix") against p.
func matches(p string) func(pattern string) bool {
	return func(pattern string) bool {
		switch {
		case pattern == "*":
			return true
		case strings.HasSuffix(pattern, "*"):
			return strings.HasPrefix(p, strings.TrimSuffix(pattern, "*"))
		case strings.HasPrefix(pattern, "*"):
			return strings.HasSuffix(p, strings.TrimPrefix(pattern, "*"))
		}
		return p == pattern
	}
}

// platformTracing: the platform's workloads on an order's way report spans.
func (c *checker) platformTracing() {
	for _, w := range []platform.Workload{platform.IngressGateway, platform.Activator, platform.KafkaSourceDispatcher} {
		traced := func(t *istiotelemetry.Telemetry) bool {
			sel := t.Spec.GetSelector().GetMatchLabels()
			return (t.Namespace == w.Namespace || t.Namespace == platform.RootNamespace.Name && sel == nil) &&
				labels.SelectorFromSet(sel).Matches(labels.Set(w.PodLabels)) && len(t.Spec.GetTracing()) > 0
		}
		if !slices.ContainsFunc(All[istiotelemetry.Telemetry](c.objs), traced) {
			c.addf("%s %s/%s: no Telemetry selects its pods, so it reports no spans to Jaeger; %s; %s",
				w.Kind, w.Namespace, w.Name, w.Fact, platform.RootNamespace.Fact)
		}
	}
}

// dispatcherScraped: a Service makes Prometheus scrape the dispatcher.
func (c *checker) dispatcherScraped() {
	d := platform.KafkaSourceDispatcher
	for _, s := range All[corev1.Service](c.objs) {
		if s.Namespace == d.Namespace && len(s.Spec.Selector) > 0 && labels.SelectorFromSet(s.Spec.Selector).Matches(labels.Set(d.PodLabels)) &&
			s.Annotations["prometheus.io/scrape"] == "true" && s.Annotations["prometheus.io/port"] == strconv.Itoa(d.MetricsPort) {
			return
		}
	}
	c.addf("%s %s/%s: no Service annotated prometheus.io/scrape selects it with port %d: the dashboard's dispatch panels stay empty; %s; %s",
		d.Kind, d.Namespace, d.Name, d.MetricsPort, d.Fact, platform.ScrapedServices)
}

// dashboardFile is the Grafana dashboard the guide imports.
const dashboardFile = "/infra/observability/grafana-dashboard.json"

var knSeries = regexp.MustCompile(`\bkn_[a-z0-9_]+`)

// dashboardSeries: every Knative series and label the dashboard reads is one
// the dispatcher exports.
func (c *checker) dashboardSeries() {
	data, err := c.in.FS.ReadFile(dashboardFile)
	if err != nil {
		c.addf("read %s: %w", dashboardFile, err)
		return
	}
	m := platform.DispatcherMetrics
	seen := map[string]bool{}
	for _, name := range knSeries.FindAllString(string(data), -1) {
		if !seen[name] && !slices.Contains(m.Series, name) && !slices.Contains(m.Labels, name) {
			c.addf("%s: %s is no series or label the KafkaSource dispatcher exports: its panel stays empty; %s",
				strings.TrimPrefix(dashboardFile, "/"), name, m.Fact)
		}
		seen[name] = true
	}
}

var (
	deploymentSelector = regexp.MustCompile(`get\s+deployments?\b.*\s-l\s*(\S+)`)
	needDeploy         = regexp.MustCompile(`^\s*need_deploy\s+(\S+)\s+(\S+)`)
	nameSelector       = regexp.MustCompile(`get\s+deployments?\b.*--field-selector[= ]metadata\.name=([^\s,]+)`)
)

// prerequisitesScript: the Deployments the script looks for exist under
// the names and labels the platforms give them.
func (c *checker) prerequisitesScript() {
	file, lines := c.script("prerequisites.sh")
	for i, line := range lines {
		at := fmt.Sprintf("%s:%d", file, i+1)
		if m := deploymentSelector.FindStringSubmatch(line); m != nil {
			sel, err := labels.Parse(strings.Trim(m[1], `'"`))
			if err != nil {
				sel = labels.Nothing()
			}
			if !slices.ContainsFunc(platform.Workloads(), func(w platform.Workload) bool { return w.Kind == "Deployment" && sel.Matches(labels.Set(w.Labels)) }) {
				c.addf("%s: -l %s selects no platform Deployment by its own labels%s", at, m[1], podLabelHint(sel))
			}
		}
		if m := nameSelector.FindStringSubmatch(line); m != nil && !knownDeployment("", m[1]) {
			c.addf("%s: no platform Deployment is named %q", at, m[1])
		}
		if m := needDeploy.FindStringSubmatch(line); m != nil && !knownDeployment(m[1], m[2]) {
			c.addf("%s: no platform Deployment %s/%s is known (infra/check/platform)", at, m[1], m[2])
		}
	}
}

// podLabelHint names the workload whose pods (not itself) carry sel.
func podLabelHint(sel labels.Selector) string {
	for _, w := range platform.Workloads() {
		if sel.Matches(labels.Set(w.PodLabels)) {
			return fmt.Sprintf(": those are the labels of its pods; %s", w.Fact)
		}
	}
	return ""
}

// knownDeployment reports whether a platform Deployment has that name, in
// namespace ns if it is not "".
func knownDeployment(ns, name string) bool {
	return slices.ContainsFunc(platform.Workloads(), func(w platform.Workload) bool {
		return w.Kind == "Deployment" && w.Name == name && (ns == "" || w.Namespace == "" || w.Namespace == ns)
	})
}

var (
	deletes     = regexp.MustCompile(`(?:kubectl\b.*\bdelete|^\s*remove)\s+([a-z.]+)`)
	kubectlWait = regexp.MustCompile(`kubectl\b.*\b(?:delete|wait)\b`)
)

// undeployScript: everything whose finalizer needs a controller or Kafka in
// the namespace is deleted before the namespace, and no wait is unbounded.
// A deletion is a `kubectl … delete KIND` line or a call of the script's
// `remove KIND` helper.
func (c *checker) undeployScript() {
	file, lines := c.script("undeploy.sh")
	first := map[string]int{}
	for i, line := range lines {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		if m := deletes.FindStringSubmatch(line); m != nil {
			kind := strings.TrimSuffix(strings.SplitN(m[1], ".", 2)[0], "s")
			if _, seen := first[kind]; !seen {
				first[kind] = i + 1
			}
		}
		if kubectlWait.MatchString(line) && !strings.Contains(line, "--timeout") && !strings.Contains(line, "--wait=false") {
			c.addf("%s:%d: kubectl waits without --timeout: undeploy could hang with no word on what is stuck", file, i+1)
		}
	}
	ns, ok := first["namespace"]
	if !ok {
		return
	}
	for _, f := range platform.Finalizers() {
		if at, ok := first[f.Resource]; !ok || at > ns {
			c.addf("%s:%d: the namespace is deleted before the %s objects: their finalizer %s needs %s, which goes with the namespace, so it stays Terminating; %s",
				file, ns, f.Resource, f.Name, f.Needs, f.Fact)
		}
	}
}

// script reads infra/cluster/<name> and returns its path and lines.
func (c *checker) script(name string) (string, []string) {
	p := path.Join("/infra/cluster", name)
	data, err := c.in.FS.ReadFile(p)
	if err != nil {
		c.addf("read %s: %w", p, err)
		return p, nil
	}
	return strings.TrimPrefix(p, "/"), strings.Split(string(data), "\n")
}
