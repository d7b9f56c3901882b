#!/usr/bin/env bash
# infra/cluster/undeploy.sh — what `make undeploy` runs: removes the three
# functions and everything in the namespace ms-kafka (Postgres and Kafka with
# their volumes, the topics, the KafkaSources), and what infra/ put in the
# platform's namespaces. Knative's tracing settings (infra/platform's
# config-observability) stay: they belong to the Knative installation.
#
# The order is the one the finalizers need (infra/check/platform:
# Finalizers): objects whose finalizer a controller releases only while
# Kafka runs go first — the KafkaSources (their consumer groups), the
# dead-letter KafkaSink, the KafkaTopics (released by Strimzi's topic
# operator, which runs in ms-kafka and dies with it) — and the namespace
# last. Every wait is bounded (TIMEOUT each, default 3m) and says what is
# stuck and how to release it. infra/check holds this script to that order.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
NAMESPACE=ms-kafka
TIMEOUT=${TIMEOUT:-3m}

command -v kubectl >/dev/null || { echo "undeploy: the 'kubectl' command is missing" >&2; exit 1; }
kubectl version --request-timeout=10s >/dev/null 2>&1 ||
  { echo "undeploy: kubectl reaches no cluster" >&2; exit 1; }

step() { printf '▸ %s\n' "$*"; }

# stuck KIND: what of KIND is left in the namespace, with its finalizers and
# the command that releases them by hand — for when its controller is gone.
stuck() {
  echo "undeploy: $1 still in $NAMESPACE after $TIMEOUT:" >&2
  kubectl -n "$NAMESPACE" get "$1" -o custom-columns='NAME:.metadata.name,FINALIZERS:.metadata.finalizers,DELETING SINCE:.metadata.deletionTimestamp' >&2 || true
  echo "  The controller that releases these finalizers is not done (see docs/deploy.md, 'When it does not work')." >&2
  echo "  To release them by hand (the controller's cleanup is then skipped):" >&2
  echo "    kubectl -n $NAMESPACE patch $1 <name> --type=merge -p '{\"metadata\":{\"finalizers\":null}}'" >&2
  exit 1
}

# remove KIND: delete every KIND in the namespace and wait, bounded.
remove() {
  step "deleting the $1 objects (waiting up to $TIMEOUT)"
  kubectl -n "$NAMESPACE" delete "$1" --all --ignore-not-found --wait=true --timeout="$TIMEOUT" || stuck "$1"
}

if kubectl get namespace "$NAMESPACE" >/dev/null 2>&1; then
  # While Kafka and the controllers run: the consumer groups, the sink, the topics.
  remove kafkasource
  remove kafkasink
  remove pingsource
  remove kafkatopic
  # Then the functions (func delete where func is installed).
  for fn in order shipping invoicing; do
    if command -v func >/dev/null; then
      func delete "$fn" --namespace "$NAMESPACE" 2>/dev/null || true
    fi
    kubectl -n "$NAMESPACE" delete ksvc "$fn" --ignore-not-found --wait=true --timeout="$TIMEOUT" || stuck ksvc
  done
fi

# What infra/ put outside the namespace, besides Knative's own ConfigMaps.
step "deleting what infra/ put in the platform's namespaces"
kubectl -n knative-eventing delete peerauthentication webhook-from-apiserver kafka-webhook-from-apiserver --ignore-not-found --timeout="$TIMEOUT"
kubectl -n knative-eventing delete service ms-kafka-dispatcher-metrics --ignore-not-found --timeout="$TIMEOUT"
kubectl -n istio-system delete authorizationpolicy ms-kafka-entry --ignore-not-found --timeout="$TIMEOUT"
kubectl -n istio-system delete telemetry ms-kafka-ingress-tracing --ignore-not-found --timeout="$TIMEOUT"
kubectl -n knative-serving delete telemetry ms-kafka-activator-tracing --ignore-not-found --timeout="$TIMEOUT"
kubectl -n knative-eventing delete telemetry ms-kafka-dispatcher-tracing --ignore-not-found --timeout="$TIMEOUT"

# Everything else lives in the namespace; the Strimzi operator removes the
# Kafka it runs there, and the volumes go with the namespace.
step "deleting the namespace $NAMESPACE (waiting up to $TIMEOUT)"
if ! kubectl delete namespace "$NAMESPACE" --ignore-not-found --wait=true --timeout="$TIMEOUT"; then
  echo "undeploy: the namespace $NAMESPACE is still Terminating after $TIMEOUT. What holds it:" >&2
  kubectl get namespace "$NAMESPACE" -o jsonpath='{range .status.conditions[*]}  {.type}: {.message}{"\n"}{end}' >&2 || true
  echo "  Objects left, with their finalizers:" >&2
  kubectl api-resources --verbs=list --namespaced -o name 2>/dev/null |
    xargs -r -n1 kubectl -n "$NAMESPACE" get --ignore-not-found -o custom-columns='KIND:.kind,NAME:.metadata.name,FINALIZERS:.metadata.finalizers' --no-headers 2>/dev/null >&2 || true
  echo "  Release a finalizer whose controller is gone with:" >&2
  echo "    kubectl -n $NAMESPACE patch <kind> <name> --type=merge -p '{\"metadata\":{\"finalizers\":null}}'" >&2
  exit 1
fi
rm -rf .data/deploy
echo "undeployed: the namespace $NAMESPACE is gone (the generated passwords in infra/secrets/ are kept; delete them for new ones)"
