// Package platform holds, in one place, every assumption the cluster files
// (infra/, infra/cluster/*.sh, functions/*/func.yaml) make about the
// platforms they run on: Knative Serving and Eventing, eventing-kafka-broker,
// Strimzi and Istio. Each fact names the project, the version and the file it
// was read from, at the versions docs/deploy.md pins; a version bump is one
// review of these files. The package check holds the project's manifests and
// scripts against them and names the fact and its source when they disagree.
package platform

// Fact is one thing the project assumes about a platform.
type Fact struct {
	// What says what is assumed, in a few words.
	What string
	// Source is where it was read: project, version, file.
	Source string
}

// String is the fact as check's messages cite it.
func (f Fact) String() string { return f.What + " [" + f.Source + "]" }

// Workload is a Deployment or StatefulSet a platform installs.
type Workload struct {
	Fact
	Kind, Namespace, Name string
	// Labels are those of the workload object itself (what
	// `kubectl get deployment -l` selects on), not of its pods.
	Labels map[string]string
	// PodLabels are the labels of its pods (what a Service, a Telemetry or
	// a PeerAuthentication selects on).
	PodLabels map[string]string
	// ServiceAccount the pods run as: the identity Istio's mTLS proves.
	ServiceAccount string
	// MetricsPort serves Prometheus metrics, if any.
	MetricsPort int
}

// Principal is the workload's identity as an AuthorizationPolicy names it.
func (w Workload) Principal() string {
	return "cluster.local/ns/" + w.Namespace + "/sa/" + w.ServiceAccount
}

// Finalizer is a finalizer a platform's controller puts on an object the
// project creates, and what its release needs.
type Finalizer struct {
	Fact
	// Resource is the kind as kubectl names it (plural, lower case).
	Resource string
	Name     string
	// Needs says what must still run when the object is deleted, or the
	// finalizer is never released and its namespace stays Terminating.
	Needs string
}

// Workloads lists the platform workloads the project relies on by name.
func Workloads() []Workload {
	return []Workload{
		Activator, ServingController, NetIstioController, EventingController, KafkaController,
		PingSourceAdapter, KafkaSourceDispatcher, IngressGateway, Istiod, StrimziClusterOperator,
	}
}

// Finalizers lists the finalizers on objects of infra/ that a controller
// releases only while its dependencies run.
func Finalizers() []Finalizer {
	return []Finalizer{KafkaSourceFinalizer, KafkaSinkFinalizer, KafkaTopicFinalizer}
}

// Namespaces are the platform's namespaces that infra/ configures but does
// not create.
var Namespaces = []string{ServingNamespace, EventingNamespace, IstioNamespace}
