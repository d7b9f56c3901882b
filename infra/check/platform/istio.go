package platform

// Istio 1.31 (istio/istio 1.31.0-rc.0, the newest 1.31 tag readable here;
// the API module istio.io/api v1.31 is what infra/check decodes with).
const IstioNamespace = "istio-system"

// IngressGateway is the entry for the public routes and, in net-istio's
// default setup, the pods behind knative-local-gateway too.
var IngressGateway = Workload{
	Fact: Fact{"Istio's ingress gateway: Deployment istio-system/istio-ingressgateway, pods labelled istio=ingressgateway, service account istio-ingressgateway-service-account",
		"istio/istio 1.31.0-rc.0, manifests/charts/gateways/istio-ingress (values.yaml, templates/deployment.yaml)"},
	Kind: "Deployment", Namespace: IstioNamespace, Name: "istio-ingressgateway",
	PodLabels: map[string]string{"istio": "ingressgateway"}, ServiceAccount: "istio-ingressgateway-service-account",
}

// Istiod is Istio's control plane.
var Istiod = Workload{
	Fact: Fact{"Istio's control plane: Deployment istio-system/istiod", "istio/istio 1.31.0-rc.0, manifests/charts/istio-control/istio-discovery/templates/deployment.yaml"},
	Kind: "Deployment", Namespace: IstioNamespace, Name: "istiod",
	PodLabels: map[string]string{"app": "istiod"}, ServiceAccount: "istiod",
}

// MetricsMerge: the sidecar injector replaces a pod's prometheus.io/scrape,
// port and path annotations with its own merged endpoint and scrapes the
// app at the port and path they named. A pod without them exports only the
// proxy's metrics: the app's are lost.
var MetricsMerge = struct {
	Fact
	Scrape, Port, Path string
}{
	Fact{"Istio merges an app's metrics only from pods annotated prometheus.io/scrape, prometheus.io/port, prometheus.io/path",
		"istio/istio 1.31.0-rc.0, pkg/kube/inject/webhook.go (applyPrometheusMerge)"},
	"prometheus.io/scrape", "prometheus.io/port", "prometheus.io/path",
}

// ScrapedServices: the Prometheus add-on scrapes the endpoints of Services
// annotated prometheus.io/scrape (job kubernetes-service-endpoints), which
// is how a platform pod without annotations gets scraped.
var ScrapedServices = Fact{
	"Istio's Prometheus add-on scrapes the endpoints of Services annotated prometheus.io/scrape and prometheus.io/port",
	"istio/istio 1.31.0-rc.0, samples/addons/prometheus.yaml (job kubernetes-service-endpoints)",
}

// RootNamespace: a Telemetry here applies to the whole mesh; elsewhere only
// to its own namespace (or the workloads it selects there).
var RootNamespace = struct {
	Fact
	Name string
}{
	Fact{"mesh-wide Istio policies live in the root namespace, istio-system by default; a Telemetry elsewhere applies to its namespace only",
		"istio/istio 1.31.0-rc.0, pkg/config/mesh/mesh.go (DefaultMeshConfig: RootNamespace)"},
	IstioNamespace,
}

// HoldApplication: without native sidecars the app container can start
// before the proxy, and its first connections (the migrations in Start)
// fail. This pod annotation makes the injector start the proxy first, with
// or without native sidecars.
var HoldApplication = struct {
	Fact
	Annotation, Value string
}{
	Fact{"proxy.istio.io/config {holdApplicationUntilProxyStarts: true} starts the sidecar before the app container",
		"istio/istio 1.31.0-rc.0, pkg/kube/inject/webhook.go (reorderPod reads the pod's proxy.istio.io/config); istio.io/api v1.31, annotation/annotations.gen.go (ProxyConfig)"},
	"proxy.istio.io/config", `{"holdApplicationUntilProxyStarts": true}`,
}
