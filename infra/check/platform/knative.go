package platform

// Knative Serving knative-v1.23.0 (Go module knative.dev/serving v0.50.0),
// Knative Eventing knative-v1.23.0 (knative.dev/eventing v0.50.0),
// eventing-kafka-broker knative-v1.23.0, net-istio knative-v1.22.0 (the
// newest release of it readable here; the file cited is unchanged since
// long before).
const (
	ServingNamespace  = "knative-serving"
	EventingNamespace = "knative-eventing"
)

// Activator is Knative's request buffer in front of a revision.
var Activator = Workload{
	Fact: Fact{"Knative's activator: Deployment knative-serving/activator, service account activator",
		"knative/serving knative-v1.23.0, config/core/deployments/activator.yaml"},
	Kind: "Deployment", Namespace: ServingNamespace, Name: "activator",
	Labels: map[string]string{"app.kubernetes.io/component": "activator", "app.kubernetes.io/name": "knative-serving"}, PodLabels: map[string]string{"app": "activator", "role": "activator"},
	ServiceAccount: "activator",
}

// ServingController reconciles Knative Services (and runs the autoscaler's
// probes under the same identity).
var ServingController = Workload{
	Fact: Fact{"Knative Serving's controller: Deployment knative-serving/controller, service account controller",
		"knative/serving knative-v1.23.0, config/core/deployments/controller.yaml"},
	Kind: "Deployment", Namespace: ServingNamespace, Name: "controller",
	PodLabels: map[string]string{"app": "controller"}, ServiceAccount: "controller",
}

// NetIstioController is Serving's Istio networking layer.
var NetIstioController = Workload{
	Fact: Fact{"net-istio's controller: Deployment knative-serving/net-istio-controller",
		"knative-extensions/net-istio knative-v1.22.0, config/500-controller.yaml"},
	Kind: "Deployment", Namespace: ServingNamespace, Name: "net-istio-controller",
	PodLabels: map[string]string{"app": "net-istio-controller"}, ServiceAccount: "controller",
}

// EventingController reconciles PingSources among others.
var EventingController = Workload{
	Fact: Fact{"Knative Eventing's controller: Deployment knative-eventing/eventing-controller",
		"knative/eventing knative-v1.23.0, config/core/deployments/controller.yaml"},
	Kind: "Deployment", Namespace: EventingNamespace, Name: "eventing-controller",
	PodLabels: map[string]string{"app": "eventing-controller"}, ServiceAccount: "eventing-controller",
}

// KafkaController reconciles KafkaSources and KafkaSinks.
var KafkaController = Workload{
	Fact: Fact{"eventing-kafka-broker's controller: Deployment knative-eventing/kafka-controller",
		"knative-extensions/eventing-kafka-broker knative-v1.23.0, control-plane/config/eventing-kafka-broker/200-controller/500-controller.yaml"},
	Kind: "Deployment", Namespace: EventingNamespace, Name: "kafka-controller",
	Labels: map[string]string{"app": "kafka-controller"}, PodLabels: map[string]string{"app": "kafka-controller"}, ServiceAccount: "kafka-controller",
}

// PingSourceAdapter delivers every PingSource's events, from its own identity.
var PingSourceAdapter = Workload{
	Fact: Fact{"the PingSource adapter: Deployment knative-eventing/pingsource-mt-adapter, service account pingsource-mt-adapter; it POSTs the ping to the sink itself",
		"knative/eventing knative-v1.23.0, config/core/deployments/pingsource-mt-adapter.yaml"},
	Kind: "Deployment", Namespace: EventingNamespace, Name: "pingsource-mt-adapter",
	PodLabels:      map[string]string{"sources.knative.dev/role": "adapter", "eventing.knative.dev/source": "ping-source-controller"},
	ServiceAccount: "pingsource-mt-adapter",
}

// KafkaSourceDispatcher delivers the KafkaSources' records. Its pods carry
// no prometheus.io annotations: nothing scrapes port 9090 unless told to.
var KafkaSourceDispatcher = Workload{
	Fact: Fact{"the KafkaSource dispatcher: StatefulSet knative-eventing/kafka-source-dispatcher, service account knative-kafka-source-data-plane, metrics on port 9090 (http-metrics), no scrape annotations",
		"knative-extensions/eventing-kafka-broker knative-v1.23.0, data-plane/config/source/500-dispatcher.yaml"},
	Kind: "StatefulSet", Namespace: EventingNamespace, Name: "kafka-source-dispatcher",
	Labels: map[string]string{"app": "kafka-source-dispatcher"}, PodLabels: map[string]string{"app": "kafka-source-dispatcher"},
	ServiceAccount: "knative-kafka-source-data-plane", MetricsPort: 9090,
}

// VisibilityLabel with ClusterLocal keeps a Knative Service off the public
// ingress. Without it a Service is public ("external"), and Knative routes
// <name>.<namespace>.<domain> on the ingress gateway, where the domain
// defaults to svc.cluster.local (DefaultDomain): a request with that Host
// reaches the function past every route of infra/mesh.
var VisibilityLabel = struct {
	Fact
	Key, ClusterLocal, DefaultDomain string
}{
	Fact{"a Knative Service is public unless labelled networking.knative.dev/visibility=cluster-local; the default domain is svc.cluster.local",
		"knative.dev/networking pkg/apis/networking/register.go (VisibilityLabelKey); knative/serving knative-v1.23.0, pkg/reconciler/route/config/domain.go (DefaultDomain)"},
	"networking.knative.dev/visibility", "cluster-local", "svc.cluster.local",
}

// UserPort is the port Knative gives the function's container when it names
// none: where its /metrics is.
var UserPort = struct {
	Fact
	Port int
}{
	Fact{"a container that names no port serves on 8080",
		"knative/serving knative-v1.23.0, pkg/apis/serving/v1/revision_helpers.go (DefaultUserPort)"},
	8080,
}

// BurstCapacity is why the activator stays in the request path: with the
// default target-burst-capacity (211) a revision's spare capacity is
// negative until it runs many pods, so the activator proxies every request,
// and a pod sees the activator's identity, not the caller's.
var BurstCapacity = struct {
	Fact
	Default string
}{
	Fact{"target-burst-capacity defaults to 211: the activator stays in the path of every request at this project's sizes",
		"knative/serving knative-v1.23.0, config/core/configmaps/autoscaler.yaml"},
	"211",
}

// WebhookPeerAuthentication is what net-istio ships so the API server can
// call Serving's webhook; a second policy for the same pods conflicts.
var WebhookPeerAuthentication = struct {
	Fact
	Namespace, Name string
	Selector        map[string]string
}{
	Fact{"net-istio ships PeerAuthentication knative-serving/webhook (PERMISSIVE on 8443 for app=webhook)",
		"knative-extensions/net-istio knative-v1.22.0, config/400-webhook-peer-authentication.yaml"},
	ServingNamespace, "webhook", map[string]string{"app": "webhook"},
}

// KafkaSink topic ownership: a sink whose spec has numPartitions and
// replicationFactor owns its topic (status annotation "kafkasink-controller")
// and its finalizer deletes the topic, records and all; without both it
// only checks that the topic exists ("external").
var KafkaSinkTopicOwner = Fact{
	"a KafkaSink with numPartitions and replicationFactor creates its topic and deletes it when the sink is deleted",
	"knative-extensions/eventing-kafka-broker knative-v1.23.0, control-plane/pkg/reconciler/sink/kafka_sink.go (reconcileKind, finalizeKind)",
}

// KafkaSinkFinalizer is released by the Kafka controller once the data
// plane has dropped the sink (it probes the sink's ingress).
var KafkaSinkFinalizer = Finalizer{
	Fact: Fact{"KafkaSinks carry the finalizer kafkasinks.eventing.knative.dev; releasing it probes the data plane and, for an owned topic, Kafka",
		"knative-extensions/eventing-kafka-broker knative-v1.23.0, control-plane/pkg/client/injection/reconciler/eventing/v1alpha1/kafkasink/controller.go, control-plane/pkg/reconciler/sink/kafka_sink.go"},
	Resource: "kafkasink", Name: "kafkasinks.eventing.knative.dev",
	Needs: "the Kafka controller and data plane (knative-eventing) and Kafka",
}

// KafkaSourceFinalizer: the source's consumer groups are removed from Kafka
// before the finalizer goes.
var KafkaSourceFinalizer = Finalizer{
	Fact: Fact{"KafkaSources carry the finalizer kafkasources.sources.knative.dev; releasing it removes their consumer groups",
		"knative-extensions/eventing-kafka-broker knative-v1.23.0, control-plane/pkg/client/injection/reconciler/sources/v1/kafkasource/reconciler.go, control-plane/pkg/reconciler/consumergroup"},
	Resource: "kafkasource", Name: "kafkasources.sources.knative.dev",
	Needs: "the Kafka controller (knative-eventing) and Kafka",
}

// MeshRoutes: for every Knative Service net-istio also writes a
// VirtualService bound to the "mesh" gateway, so a client with a sidecar
// (the KafkaSource dispatcher, the PingSource adapter) goes from its sidecar
// to the revision (pods or activator) without passing the local gateway.
// Only clients without a sidecar use knative-local-gateway.
var MeshRoutes = Fact{
	"net-istio routes sidecar clients of a Knative Service through a mesh VirtualService, past knative-local-gateway",
	"knative-extensions/net-istio knative-v1.22.0, pkg/reconciler/ingress/resources/virtual_service.go (MakeMeshVirtualService)",
}

// LocalGateway is where cluster-local requests for a Knative Service go: a
// Service in istio-system whose pods are the ingress gateway's.
var LocalGateway = struct {
	Fact
	Host string
}{
	Fact{"knative-local-gateway.istio-system is a Service on the ingress gateway's pods (istio=ingressgateway), port 8081",
		"knative-extensions/net-istio knative-v1.22.0, config/203-local-gateway.yaml"},
	"knative-local-gateway.istio-system.svc.cluster.local",
}

// DispatcherMetrics are the Prometheus series (and their labels) the
// KafkaSource dispatcher exports: Micrometer names kn.eventing.dispatch.latency
// (base unit milliseconds, SLO buckets) and kn.eventing.kafka.discarded_events
// (unit "1") in Prometheus' style, and tags each with kn.<kind>.name and
// kn.<kind>.namespace of its KafkaSource and the response's
// http.response.status_code. The local dispatcher (shared/telemetry)
// exports the same names, so one dashboard serves both.
var DispatcherMetrics = struct {
	Fact
	Series, Labels []string
}{
	Fact{"the KafkaSource dispatcher exports kn_eventing_dispatch_latency_milliseconds (histogram) and kn_eventing_kafka_discarded_events_1_total, labelled kn_kafkasource_name, kn_kafkasource_namespace, http_response_status_code",
		"knative-extensions/eventing-kafka-broker knative-v1.23.0, data-plane/core/src/main/java/dev/knative/eventing/kafka/broker/core/observability/metrics/Metrics.java; data-plane/dispatcher/src/main/java/dev/knative/eventing/kafka/broker/dispatcher/impl/RecordDispatcherImpl.java"},
	[]string{
		"kn_eventing_dispatch_latency_milliseconds", "kn_eventing_dispatch_latency_milliseconds_bucket", "kn_eventing_dispatch_latency_milliseconds_count",
		"kn_eventing_dispatch_latency_milliseconds_sum", "kn_eventing_kafka_discarded_events_1_total",
	},
	[]string{"kn_kafkasource_name", "kn_kafkasource_namespace", "http_response_status_code"},
}
