#!/usr/bin/env bash
# infra/box/test.sh — what `make test-cluster` runs: the cluster path
# (docs/deploy.md) executed against a real Kubernetes control plane, "the box",
# built from the Go module proxy (infra/box/build.sh) and run inside a private
# network namespace, so none of its ports touches the machine's network.
#
# The box: etcd (Debian's 3.4.23), kube-apiserver and kube-controller-manager
# v1.36.3, Knative Serving's and Eventing's controllers and webhooks
# (knative-v1.23.0), eventing-kafka-broker's controller and webhook (v0.50.1)
# against a real Apache Kafka (infra/local/kafka.sh), a local OCI registry. The
# API objects of the platforms are those their modules ship (config/ of each
# module); the processes behind their Deployments run here as local processes
# with the Deployment's own environment and service account.
#
# What the box has not: a kubelet, a scheduler, kube-proxy, images, Envoy. No
# pod ever runs: a Deployment gets its ReplicaSet and its Pods stay Pending.
# The test stops at what the control plane makes of the objects and says so.
#
# Environment:
#   BOX_KEEP=1   leave the box's state in .data/box after the run (logs are kept anyway)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
DATA=$ROOT/.data/box
step() { printf '\n▸ %s\n' "$*"; }
note() { printf '  %s\n' "$*"; }
fail() { printf '\nFAIL: %s\n' "$*" >&2; exit 1; }

if [[ ${1:-} != inside ]]; then
  # --- outside the box: everything that needs the network ------------------------------
  started=$(date +%s)
  [[ $(id -u) == 0 ]] || fail "the box needs root (unshare --net --mount)"
  step "building the box's binaries (once; cached in .cache/box/bin)"
  BOX_BIN=$(infra/box/build.sh)
  export BOX_BIN
  built=$(date +%s)
  note "build: $(( built - started )) s"

  step "the platforms' manifests from their Go modules"
  modir() { (cd "infra/box/$1" && GOWORK=off go mod download -json "$2" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p'); }
  export SERVING_DIR EVENTING_DIR NETWORKING_DIR CACHING_DIR KAFKA_BROKER_DIR ISTIO_API_DIR
  SERVING_DIR=$(modir knative knative.dev/serving)
  EVENTING_DIR=$(modir knative knative.dev/eventing)
  NETWORKING_DIR=$(modir knative knative.dev/networking)
  CACHING_DIR=$(modir knative knative.dev/caching)
  KAFKA_BROKER_DIR=$(modir kafka knative.dev/eventing-kafka-broker)
  ISTIO_API_DIR=$(cd infra/box/knative && GOWORK=off go mod download -json istio.io/api@v1.31.4 | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
  for d in SERVING_DIR EVENTING_DIR NETWORKING_DIR CACHING_DIR KAFKA_BROKER_DIR ISTIO_API_DIR; do
    [[ -d ${!d} ]] || fail "no module directory for $d"
    note "${!d#"$(go env GOMODCACHE)"/}"
  done

  rm -rf "$DATA" && mkdir -p "$DATA/logs"
  step "entering a private network namespace (unshare --net --mount): the box runs there"
  unshare --net --mount --propagation private -- "$0" inside
  echo "▸ make test-cluster passed in $(( $(date +%s) - started )) s (build $(( built - started )) s)"
  exit 0
fi

# --- inside the box's network namespace -------------------------------------------------
BIN=$BOX_BIN
export PATH=$BIN:$PATH
PKI=$DATA/pki
LOGS=$DATA/logs
mkdir -p "$PKI" "$LOGS"
SERVICE_CIDR=10.96.0.0/16   # on this namespace's loopback only
ADVERTISE=10.97.0.1
KUBECONFIG=$DATA/admin.kubeconfig
export KUBECONFIG

pids=()
cleanup() {
  local rc=$?
  for (( i=${#pids[@]}-1; i>=0; i-- )); do kill -TERM "${pids[i]}" 2>/dev/null || true; done
  sleep 1
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  if (( rc != 0 )); then
    echo "the box's logs: ${LOGS#"$ROOT"/}/" >&2
  fi
  exit $rc
}
trap cleanup EXIT

# start NAME CMD…: runs CMD in the background, its output in $LOGS/NAME.log.
start() {
  local name=$1; shift
  "$@" >"$LOGS/$name.log" 2>&1 &
  pids+=($!)
}

# until_ok SECONDS WHAT CMD…: retries CMD every half second until it succeeds.
until_ok() {
  local limit=$1 what=$2; shift 2
  local deadline=$(( $(date +%s) + limit ))
  until "$@" >/dev/null 2>&1; do
    (( $(date +%s) < deadline )) || fail "$what: not within ${limit}s"
    sleep 0.5
  done
}

step "network: loopback up, the service range $SERVICE_CIDR and $ADVERTISE on it; /etc/hosts of the box"
ip link set lo up
ip route add local "$SERVICE_CIDR" dev lo
ip addr add "$ADVERTISE/32" dev lo
# Names the box's processes resolve without cluster DNS: the Kafka the
# KafkaSources name (infra/eventing) is the local broker.
cat >"$DATA/hosts" <<EOF
127.0.0.1 localhost
127.0.0.1 ms-kafka-kafka-bootstrap.ms-kafka.svc ms-kafka-kafka-bootstrap.ms-kafka.svc.cluster.local
EOF
mount --bind "$DATA/hosts" /etc/hosts

step "etcd $(etcd --version | sed -n 's/^etcd Version: //p')"
start etcd etcd --data-dir "$DATA/etcd" --listen-client-urls http://127.0.0.1:2379 \
  --advertise-client-urls http://127.0.0.1:2379 --listen-peer-urls http://127.0.0.1:2380 \
  --initial-advertise-peer-urls http://127.0.0.1:2380 --initial-cluster default=http://127.0.0.1:2380
until_ok 30 "etcd answering" curl -fsS http://127.0.0.1:2379/health

step "kube-apiserver $(kube-apiserver --version | awk '{print $2}')"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=box-apiserver \
  -addext "subjectAltName=IP:127.0.0.1,IP:10.96.0.1,IP:$ADVERTISE,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:localhost" \
  -addext basicConstraints=critical,CA:TRUE \
  -keyout "$PKI/apiserver.key" -out "$PKI/apiserver.crt" 2>/dev/null
openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null
openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
ADMIN_TOKEN=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
echo "$ADMIN_TOKEN,box-admin,box-admin,system:masters" >"$PKI/tokens.csv"
start kube-apiserver kube-apiserver \
  --etcd-servers=http://127.0.0.1:2379 --bind-address=0.0.0.0 --secure-port=6443 \
  --advertise-address="$ADVERTISE" --service-cluster-ip-range="$SERVICE_CIDR" \
  --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
  --token-auth-file="$PKI/tokens.csv" --authorization-mode=RBAC --allow-privileged=true \
  --service-account-issuer=https://kubernetes.default.svc --service-account-key-file="$PKI/sa.pub" \
  --service-account-signing-key-file="$PKI/sa.key" --cert-dir="$PKI"
kubeconfig() { # FILE TOKEN
  cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: box
  cluster: {server: "https://127.0.0.1:6443", certificate-authority: "$PKI/apiserver.crt"}
users:
- name: user
  user: {token: "$2"}
contexts:
- name: box
  context: {cluster: box, user: user}
current-context: box
EOF
}
kubeconfig "$KUBECONFIG" "$ADMIN_TOKEN"
until_ok 90 "kube-apiserver ready" kubectl get --raw /readyz

step "kube-controller-manager (namespaces, service accounts, garbage collection, Deployments → ReplicaSets → Pods)"
mkdir -p "$DATA/flex"
start kube-controller-manager kube-controller-manager \
  --kubeconfig="$KUBECONFIG" --authentication-kubeconfig="$KUBECONFIG" --authorization-kubeconfig="$KUBECONFIG" \
  --leader-elect=false --bind-address=127.0.0.1 --secure-port=10257 \
  --service-account-private-key-file="$PKI/sa.key" --root-ca-file="$PKI/apiserver.crt" \
  --use-service-account-credentials=true --flex-volume-plugin-dir="$DATA/flex" \
  --service-cluster-ip-range="$SERVICE_CIDR"
until_ok 60 "the namespace default's ServiceAccount (kube-controller-manager)" kubectl -n default get serviceaccount default
note "kubectl $(kubectl version --client -o json | sed -n 's/.*"gitVersion": "\(.*\)".*/\1/p' | head -1)"

# --- the platforms' CustomResourceDefinitions, from their modules ------------------------
step "CustomResourceDefinitions: Knative Serving, Eventing, eventing-kafka-broker, Istio (from their modules)"
crds=(
  "$SERVING_DIR"/config/core/300-resources/*.yaml
  "$SERVING_DIR"/config/core/300-knativecertificate.yaml
  "$NETWORKING_DIR"/config/{certificate,domain-claim,ingress,serverlessservice}.yaml
  "$CACHING_DIR"/config/image.yaml
  "$EVENTING_DIR"/config/core/resources/*.yaml
  "$KAFKA_BROKER_DIR"/control-plane/config/eventing-kafka-broker/100-*/100-kafka-{source,sink,channel}.yaml
  "$KAFKA_BROKER_DIR"/control-plane/config/eventing-kafka-broker/100-kafka-internal/*.yaml
  "$ISTIO_API_DIR"/kubernetes/customresourcedefinitions.gen.yaml
)
for f in "${crds[@]}"; do
  out=$(kubectl apply --server-side --field-manager=box -f "$f" 2>&1) || fail "applying the CRDs of ${f#"$(go env GOMODCACHE)"/}: $out"
done
# Strimzi ships its CRDs in no Go module (and Maven Central's io.strimzi:api
# jar holds only Java classes): stand-in CRDs of the same names without a
# schema, so Kafka, KafkaNodePool and KafkaTopic objects are stored but their
# fields are not validated here.
for kind in Kafka:kafkas KafkaNodePool:kafkanodepools KafkaTopic:kafkatopics; do
  k=${kind%%:*} plural=${kind#*:}
  kubectl apply --server-side --field-manager=box -f - >/dev/null <<EOF
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: $plural.kafka.strimzi.io
  labels: {box.stand-in: "true"}
spec:
  group: kafka.strimzi.io
  scope: Namespaced
  names: {kind: $k, plural: $plural, listKind: ${k}List, singular: $(tr '[:upper:]' '[:lower:]' <<<"$k")}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
EOF
done
note "Strimzi: stand-in CRDs kafkas, kafkanodepools, kafkatopics.kafka.strimzi.io (v1, no schema: fields not validated)"
until_ok 60 "the CRDs established" kubectl wait crd --all --for=condition=Established --timeout=5s
note "$(kubectl get crd -o name | wc -l) CRDs established"

# --- the platforms' own objects, from their modules --------------------------------------
# The release manifests are the modules' config/ trees, with ko:// image
# references (resolved by ko at release time) replaced by a name by digest.
release() { # DIR…: the YAML files below each DIR, images resolved, as one stream
  find "$@" -name '*.yaml' | LC_ALL=C sort | while read -r f; do
    sed -E 's#ko://([^" ]+)#box.invalid/\1@sha256:0000000000000000000000000000000000000000000000000000000000000000#g' "$f"
    printf '\n---\n'
  done
}
apply_release() { # WHAT DIR…
  local what=$1 out; shift
  release "$@" >"$DATA/release-$what.yaml"
  out=$(kubectl apply --server-side --field-manager=box -f "$DATA/release-$what.yaml" 2>&1) ||
    fail "installing $what from its module: $out"
}

# proc_env NAMESPACE DEPLOYMENT [CONTAINER_INDEX]: the environment of the
# Deployment's container, as NAME=VALUE lines; fieldRefs resolved as for a
# pod named <deployment>-box.
proc_env() {
  kubectl -n "$1" get deployment "$2" -o go-template="{{range (index .spec.template.spec.containers ${3:-0}).env}}{{.name}}={{if .value}}{{.value}}{{else if .valueFrom}}{{if .valueFrom.fieldRef}}@{{.valueFrom.fieldRef.fieldPath}}{{end}}{{end}}{{\"\n\"}}{{end}}" |
    sed -e "s/=@metadata.name\$/=$2-box/" -e "s/=@metadata.namespace\$/=$1/" -e '/=@/d'
}

next_port=18000
# run_as NAMESPACE DEPLOYMENT BINARY [NAME=VALUE…]: runs BINARY as the process
# behind the Deployment: its environment, its service account's token, its own
# profiling and metrics ports; extra NAME=VALUE pairs override.
run_as() {
  local ns=$1 deploy=$2 bin=$3 sa token kc; shift 3
  sa=$(kubectl -n "$ns" get deployment "$deploy" -o jsonpath='{.spec.template.spec.serviceAccountName}')
  token=$(kubectl -n "$ns" create token "$sa" --duration=24h)
  kc=$DATA/$ns-$deploy.kubeconfig
  kubeconfig "$kc" "$token"
  local env=()
  mapfile -t env < <(proc_env "$ns" "$deploy")
  env+=(KUBECONFIG="$kc" PROFILING_PORT=$((next_port)) METRICS_PROMETHEUS_PORT=$((next_port + 1)) "$@")
  next_port=$((next_port + 10))
  start "$ns-$deploy" env -i PATH="$PATH" HOME="$DATA" "${env[@]}" "$BIN/$bin"
  note "$ns/$deploy: $bin as serviceaccount $sa (log: ${LOGS#"$ROOT"/}/$ns-$deploy.log)"
}

# proxy_service NAMESPACE SERVICE PORT LOCAL_PORT: the Service's cluster IP and
# port forwarded to the local port of its process (no kube-proxy here).
proxy_service() {
  local ip
  ip=$(kubectl -n "$1" get service "$2" -o jsonpath='{.spec.clusterIP}')
  start "proxy-$1-$2" helper proxy "$ip:$3=127.0.0.1:$4"
  note "service $1/$2: $ip:$3 forwarded to 127.0.0.1:$4"
}

# webhooks_ready: every webhook configuration names a CA bundle (each Knative
# webhook writes its own into the configurations it owns).
webhooks_ready() {
  ! kubectl get validatingwebhookconfigurations,mutatingwebhookconfigurations \
      -o go-template='{{range .items}}{{$n := .metadata.name}}{{range .webhooks}}{{if not .clientConfig.caBundle}}{{$n}} {{end}}{{end}}{{end}}' | grep -q .
}

# wait_webhook NAMESPACE SECRET: the webhook has written its certificate.
wait_webhook() {
  until_ok 90 "webhook certificate $1/$2" \
    bash -c "[[ -n \$(kubectl -n $1 get secret $2 -o jsonpath='{.data.server-cert\.pem}') ]]"
}

# Each release in two parts: everything but the webhook configurations, then
# (once its webhook runs) those, as a release applied in one go would settle.
step "Knative Serving (knative.dev/serving v0.50.0 config/core, config-network of knative.dev/networking)"
S=$SERVING_DIR/config/core
apply_release serving-namespace "$S/100-namespace.yaml"
apply_release serving "$S"/{200-roles,200-serviceaccount.yaml,999-cache.yaml,configmaps,deployments,webhooks/secret.yaml} \
  "$NETWORKING_DIR/config/config-network.yaml"
step "Knative Eventing (knative.dev/eventing v0.50.0 config/core)"
E=$EVENTING_DIR/config/core
apply_release eventing-namespace "$E/100-namespace.yaml"
apply_release eventing "$E"/{200-*.yaml,configmaps,deployments,roles,webhooks/secret.yaml}

step "Knative's webhooks and controllers: local processes, each with its Deployment's environment and service account"
run_as knative-serving webhook serving-webhook WEBHOOK_PORT=8443
proxy_service knative-serving webhook 443 8443
run_as knative-eventing eventing-webhook eventing-webhook WEBHOOK_PORT=8444
proxy_service knative-eventing eventing-webhook 443 8444
wait_webhook knative-serving webhook-certs
wait_webhook knative-eventing eventing-webhook-certs
apply_release serving-webhooks "$S/webhooks"
apply_release eventing-webhooks "$E/webhooks"
until_ok 90 "the webhook configurations reconciled by their webhooks (CA bundles)" webhooks_ready
run_as knative-serving controller serving-controller
run_as knative-eventing eventing-controller eventing-controller

if [[ ${BOX_LAYER:-} == 1 ]]; then
  step "infra/: rendered (kubectl kustomize, secrets from infra/cluster/secrets.sh in a temporary copy) and applied server-side with strict validation"
  cp -r infra "$DATA/infra"
  rm -rf "$DATA/infra/secrets"
  infra/cluster/secrets.sh "$DATA/infra/secrets" >/dev/null
  kubectl kustomize "$DATA/infra" >"$DATA/infra.yaml"
  out=$(kubectl apply --server-side --field-manager=ms-kafka-deploy --validate=strict -f "$DATA/infra.yaml" 2>&1) ||
    fail "server-side apply of infra/: $out"
  note "$(grep -c . <<<"$out") objects applied"
  echo "1 layer passed"
  exit 0
fi
