#!/usr/bin/env bash
# infra/cluster/undeploy.sh — what `make undeploy` runs: removes the three
# functions and everything in the namespace ms-kafka (Postgres and Kafka with
# their volumes, the topics, the KafkaSources), and the mTLS exceptions in the
# Knative namespaces. Knative's tracing settings (infra/platform) stay: they
# belong to the Knative installation.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
NAMESPACE=ms-kafka

command -v kubectl >/dev/null || { echo "undeploy: the 'kubectl' command is missing" >&2; exit 1; }
kubectl version --request-timeout=10s >/dev/null 2>&1 ||
  { echo "undeploy: kubectl reaches no cluster" >&2; exit 1; }

# The KafkaSources first, while the Kafka controller can still clean up their
# consumer groups; then the functions (func delete where func is installed).
kubectl -n "$NAMESPACE" delete kafkasource --all --ignore-not-found --wait=true
for fn in order shipping invoicing; do
  if command -v func >/dev/null; then
    func delete "$fn" --namespace "$NAMESPACE" 2>/dev/null || true
  fi
  kubectl -n "$NAMESPACE" delete ksvc "$fn" --ignore-not-found
done
kubectl -n knative-serving delete peerauthentication webhook-from-apiserver --ignore-not-found
kubectl -n knative-eventing delete peerauthentication webhook-from-apiserver kafka-webhook-from-apiserver --ignore-not-found
# Everything else lives in the namespace; the Strimzi operator removes the
# Kafka it runs there, and the volumes go with the namespace.
kubectl delete namespace "$NAMESPACE" --ignore-not-found --wait=true
rm -rf .data/deploy
echo "undeployed: the namespace $NAMESPACE is gone (the generated passwords in infra/secrets/ are kept; delete them for new ones)"
