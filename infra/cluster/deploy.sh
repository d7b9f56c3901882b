#!/usr/bin/env bash
# infra/cluster/deploy.sh — what `make deploy` runs: build and push the one
# image with func, deploy it as the three functions, apply infra/.
# docs/deploy.md explains each step and what to install first.
#
# Environment:
#   REGISTRY  where func pushes the image, e.g. ghcr.io/alice (required unless IMAGE is set)
#   IMAGE     an image already built and pushed, as name@sha256:digest: skip the build
#   TIMEOUT   how long to wait for each part to become ready (default 10m)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
NAMESPACE=ms-kafka
FUNCTIONS=(shipping invoicing order)
TIMEOUT=${TIMEOUT:-10m}
WORK=$ROOT/.data/deploy

# The go flags func's host builder must run go with. It builds in a scaffold
# (.func/build) whose go.mod pins the versions of func's Go template (at
# knative-v1.23.1 e.g. golang.org/x/sys v0.47.0, while this module needs
# v0.48.0); func adds the requirements the scaffold lacks but never raises a
# pinned one, so in go's default -mod=readonly mode the build stops at
# "go: updates to go.mod needed". With -mod=mod go raises them to what this
# module requires. func passes go only its own environment: build.buildEnvs in
# func.yaml reach the pack and s2i builders, not the host builder. make test
# builds the same scaffold with these flags (infra/check/scaffold).
FUNC_BUILD_GOFLAGS=-mod=mod

step() { printf '\n▸ %s\n' "$*"; }
die() { printf '\ndeploy: %s\n' "$*" >&2; exit 1; }

# --- 1. prerequisites -----------------------------------------------------------------
infra/cluster/prerequisites.sh

# --- 2. the image ---------------------------------------------------------------------
if [[ -n ${IMAGE:-} ]]; then
  [[ $IMAGE == *@sha256:* ]] || die "IMAGE=$IMAGE: give the image by digest (name@sha256:…), as func prints it after a push"
  step "image: $IMAGE (given, not built)"
else
  [[ -n ${REGISTRY:-} ]] || die "REGISTRY is not set: the registry func pushes the image to, e.g.
  make deploy REGISTRY=ghcr.io/<you>     (log in first: docker login, podman login or func's --username/--password)
or deploy an image you built before:
  make deploy IMAGE=<name>@sha256:<digest>"
  # func build rewrites the func.yaml it builds (registry, schema comment) and
  # puts everything in the function's directory into the image: build from a
  # copy of the files git knows (tracked or not ignored), so the work tree
  # stays clean and .data/, bin/ stay out of the image.
  step "image: building with func (host builder) from a copy of the work tree in $WORK/src"
  rm -rf "$WORK/src" && mkdir -p "$WORK/src"
  git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf - | tar -xf - -C "$WORK/src"
  GOFLAGS="$(go env GOFLAGS) $FUNC_BUILD_GOFLAGS" \
    func build --path "$WORK/src" --builder host --registry "$REGISTRY" --push
  IMAGE=$(cat "$WORK/src/.func/built-image" 2>/dev/null || true)
  [[ $IMAGE == *@sha256:* ]] || die "func build did not report a pushed image by digest (found '${IMAGE}' in $WORK/src/.func/built-image)"
  step "image: $IMAGE"
fi

# --- 3. the platform objects: namespace, secrets, Postgres, Kafka, KafkaSources, Istio --
step "secrets: generating passwords (kept if the cluster has them already)"
infra/cluster/secrets.sh --from-cluster

# Server-side apply: only the fields written here are set, so Knative's own
# ConfigMaps (infra/platform) keep their other keys.
step "kubectl apply --server-side -k infra"
kubectl apply --server-side --field-manager=ms-kafka-deploy --force-conflicts -k infra

step "waiting for Postgres and Kafka (up to $TIMEOUT)"
kubectl -n "$NAMESPACE" rollout status statefulset/postgres --timeout="$TIMEOUT"
kubectl -n "$NAMESPACE" wait kafka/ms-kafka --for=condition=Ready --timeout="$TIMEOUT"
kubectl -n "$NAMESPACE" wait kafkatopic/order kafkatopic/order-dead-letter --for=condition=Ready --timeout="$TIMEOUT"

# --- 4. the functions -----------------------------------------------------------------
# func deploy writes back to the func.yaml it deploys (image, namespace, a
# schema comment) and creates .func/ beside it: deploy copies, so
# functions/<name>/func.yaml stays as committed. With an image by digest func
# neither builds nor pushes (and refuses --push=true).
mkdir -p "$WORK"
version=${IMAGE##*@sha256:}
sed "s/^\(        version:\) unset\$/\1 \"${version:0:12}\"/" infra/functions/revision-template.yaml >"$WORK/revision-template.yaml"
grep -q "version: \"${version:0:12}\"" "$WORK/revision-template.yaml" ||
  die "infra/functions/revision-template.yaml has no 'version: unset' line for the image's version"
for fn in "${FUNCTIONS[@]}"; do
  step "function $fn: func deploy --image … --build=false --push=false"
  mkdir -p "$WORK/$fn"
  cp "functions/$fn/func.yaml" "$WORK/$fn/func.yaml"
  func deploy --path "$WORK/$fn" --image "$IMAGE" --build=false --push=false
  # What the pods need that func cannot set: the scale-to-zero retention,
  # the scrape and sidecar annotations, and the version label Kiali shows,
  # here the image's digest (see infra/functions/revision-template.yaml).
  kubectl -n "$NAMESPACE" patch ksvc "$fn" --type=merge --patch-file "$WORK/revision-template.yaml"
done
for fn in "${FUNCTIONS[@]}"; do
  kubectl -n "$NAMESPACE" wait ksvc "$fn" --for=condition=Ready --timeout="$TIMEOUT"
done

step "waiting for the KafkaSources"
kubectl -n "$NAMESPACE" wait kafkasource --all --for=condition=Ready --timeout="$TIMEOUT"
kubectl -n "$NAMESPACE" wait kafkasink/order-dead-letter --for=condition=Ready --timeout="$TIMEOUT"

cat <<EOF

Deployed. Open the menu through Istio's ingress gateway:
  kubectl -n istio-system port-forward svc/istio-ingressgateway 8080:80
  then http://127.0.0.1:8080/
Kiali, Jaeger, Grafana: istioctl dashboard kiali | jaeger | grafana
Load: make load URL=http://127.0.0.1:8080
The rest (the order topic, scaling to zero, cleaning up): docs/deploy.md
EOF
