#!/usr/bin/env bash
# infra/cluster/prerequisites.sh — checks, before anything is changed, that the
# tools and the platform `make deploy` needs are there, and says what is
# missing and where the guide (docs/deploy.md) installs it. Exits non-zero if
# anything is missing. Reads the cluster only.
set -uo pipefail

missing=()
miss() { missing+=("$1"); }

# --- tools ----------------------------------------------------------------------------
for tool in func kubectl git tar go; do
  command -v "$tool" >/dev/null || miss "the '$tool' command (docs/deploy.md, 'Tools')"
done
# func's version comes in two schemes. Its releases are tagged knative-v1.N.P,
# and `func version` prints the Go module version, which func's release script
# (hack/release.sh) maps to v0.(N+27).P: knative-v1.23.1 prints v0.50.1.
# `func version -v` prints that and a "Knative: v1.N.P" line. Either way the
# func.yaml files need knative 1.23 or newer (func.yaml schema 0.36.0, the host
# builder), i.e. v0.50 or newer in func's own numbering.
func_knative_version() { # prints "<major> <minor> <what was read>", or nothing
  local out v major minor patch
  out=$(func version -v 2>/dev/null)
  v=$(sed -nE 's/^Knative:[[:space:]]*v?([0-9]+\.[0-9]+\.[0-9]+).*/\1/p' <<<"$out" | head -1)
  if [[ -n $v ]]; then
    IFS=. read -r major minor _ <<<"$v"
    echo "$major $minor func version -v says Knative: v$v"
    return
  fi
  out=$(func version 2>/dev/null)
  v=$(grep -oE '[0-9]+\.[0-9]+\.[0-9]+' <<<"$out" | head -1)
  [[ -n $v ]] || return 0
  IFS=. read -r major minor patch <<<"$v"
  if [[ $v == 0.0.0 ]]; then
    echo "1 999 func version says v0.0.0: a build from source without release version stamps, taken as new enough"
  elif (( major == 0 && minor >= 28 )); then
    echo "1 $(( minor - 27 )) func version says v$v: func's own numbering, = knative-v1.$(( minor - 27 )).$patch"
  elif (( major == 0 )); then
    echo "0 0 func version says v$v: func's own numbering, from before knative-v1.1"
  else
    echo "$major $minor func version says v$v: Knative's numbering"
  fi
}
if command -v func >/dev/null; then
  read -r kmajor kminor seen <<<"$(func_knative_version)"
  if [[ -z ${kmajor:-} ]]; then
    miss "func's version: neither 'func version -v' (a 'Knative: v1.N.P' line) nor 'func version' (vX.Y.Z) printed one; func knative-v1.23 or newer is needed"
  elif (( kmajor < 1 || (kmajor == 1 && kminor < 23) )); then
    miss "func is too old ($seen): knative-v1.23 or newer (v0.50 or newer in func's own numbering) is needed (func.yaml schema 0.36.0, host builder)"
  else
    echo "prerequisites: func is new enough ($seen)"
  fi
fi
if (( ${#missing[@]} )); then
  printf 'deploy: missing:\n' >&2; printf '  - %s\n' "${missing[@]}" >&2; exit 1
fi

# --- the cluster ----------------------------------------------------------------------
if ! kubectl version --request-timeout=10s >/dev/null 2>&1; then
  echo "deploy: kubectl reaches no cluster (context: $(kubectl config current-context 2>/dev/null || echo none))" >&2
  exit 1
fi

# CustomResourceDefinitions, by what installs them.
need_crd() { # crd what
  kubectl get crd "$1" >/dev/null 2>&1 || miss "$2 (no CRD $1)"
}
need_crd services.serving.knative.dev          "Knative Serving"
need_crd kafkasources.sources.knative.dev      "Knative Eventing's KafkaSource (eventing-kafka-broker, kafka source)"
need_crd kafkasinks.eventing.knative.dev       "Knative Eventing's KafkaSink (eventing-kafka-broker, kafka sink)"
need_crd kafkas.kafka.strimzi.io               "the Strimzi Kafka operator"
need_crd kafkanodepools.kafka.strimzi.io       "the Strimzi Kafka operator"
need_crd kafkatopics.kafka.strimzi.io          "the Strimzi Kafka operator"
need_crd gateways.networking.istio.io          "Istio"
need_crd virtualservices.networking.istio.io   "Istio"
need_crd peerauthentications.security.istio.io "Istio"
need_crd authorizationpolicies.security.istio.io "Istio"
need_crd telemetries.telemetry.istio.io        "Istio"
if kubectl get crd kafkas.kafka.strimzi.io >/dev/null 2>&1; then
  kubectl get crd kafkas.kafka.strimzi.io -o jsonpath='{.spec.versions[*].name}' | tr ' ' '\n' | grep -qx v1 ||
    miss "Strimzi 1.0 or newer (the manifests use kafka.strimzi.io/v1)"
fi

# Running components.
need_deploy() { # namespace deployment what
  kubectl -n "$1" get deployment "$2" >/dev/null 2>&1 || miss "$3 (no deployment $1/$2)"
}
need_deploy knative-serving activator           "Knative Serving"
need_deploy knative-serving net-istio-controller "Knative Serving's Istio networking layer (net-istio)"
need_deploy knative-eventing eventing-controller "Knative Eventing"
need_deploy knative-eventing kafka-controller   "Knative Eventing's Kafka controller (eventing-kafka-broker)"
need_deploy istio-system istiod                 "Istio"
need_deploy istio-system istio-ingressgateway   "Istio's ingress gateway (istioctl install -f infra/istio/mesh.yaml)"
kubectl -n istio-system get service knative-local-gateway >/dev/null 2>&1 ||
  miss "Knative's local gateway (service istio-system/knative-local-gateway, from net-istio)"
kubectl -n istio-system get serviceaccount istio-ingressgateway-service-account >/dev/null 2>&1 ||
  miss "the ingress gateway's service account istio-system/istio-ingressgateway-service-account (infra/mesh/authorizationpolicy.yaml allows it by name)"
# Strimzi's operator Deployment has the same name in the YAML install and the
# Helm chart, in whatever namespace it went to; its labels differ between the
# two (name=strimzi-cluster-operator is on its pods only), so find it by name.
# (infra/check/platform: StrimziClusterOperator.)
kubectl get deployment -A --field-selector metadata.name=strimzi-cluster-operator -o name 2>/dev/null | grep -q . ||
  miss "the Strimzi cluster operator (no deployment strimzi-cluster-operator in any namespace), watching the namespace ms-kafka"

# The mesh: the activator and the KafkaSource dispatcher need sidecars, or
# STRICT mTLS in ms-kafka refuses them (infra/mesh/peerauthentication.yaml).
for ns in knative-serving knative-eventing; do
  [[ $(kubectl get namespace "$ns" -o jsonpath='{.metadata.labels.istio-injection}' 2>/dev/null) == enabled ]] ||
    miss "namespace $ns labelled istio-injection=enabled, and its pods restarted (docs/deploy.md, 'Knative in the mesh')"
done
# Traces: the tracing provider of the mesh and Jaeger.
kubectl -n istio-system get configmap istio -o jsonpath='{.data.mesh}' 2>/dev/null | grep -q 'name: jaeger' ||
  miss "the mesh's tracing provider \"jaeger\" (istioctl install -f infra/istio/mesh.yaml)"
kubectl -n istio-system get service jaeger-collector >/dev/null 2>&1 ||
  miss "Jaeger (Istio's add-on samples/addons/jaeger.yaml: service istio-system/jaeger-collector)"

if (( ${#missing[@]} )); then
  printf 'deploy: the cluster lacks:\n' >&2
  printf '  - %s\n' "${missing[@]}" >&2
  printf 'docs/deploy.md lists the prerequisites with versions and how to install them.\n' >&2
  exit 1
fi
echo "prerequisites: all there"
