// Package check validates the cluster deployment offline, with the
// strongest means available without a cluster: it renders the kustomize
// tree in infra/ in-process, decodes every object strictly into its Go type,
// runs Knative's own validation on the Knative objects (including the
// Services that `func deploy` creates from functions/<name>/func.yaml), checks
// the KafkaSource, KafkaSink and Strimzi fields against their documented
// schemas, and checks the references between everything: sinks name deployed
// functions, Secrets, ConfigMaps, keys and service accounts exist, topics and
// consumer groups match what the local dispatcher reads, routes and policies
// point at real workloads.
package check
