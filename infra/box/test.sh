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
#   BOX_NO_BUILD=1         use the binaries in .cache/box/bin as they are (no build step)
#   BOX_STOP=crds|knative|platform|prerequisites|deploy|assert
#                          stop after that stage (for working on the box itself)
#   BOX_NO_OWNER_CHECK=1   do not fail when the dead-letter KafkaSink owns its topic, to see
#                          what make undeploy then does to the topic
#   UNDEPLOY_BOUND         seconds make undeploy may take (default 180)
# The box's logs stay in .data/box/logs after the run.
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
  if [[ -n ${BOX_NO_BUILD:-} ]]; then BOX_BIN=$ROOT/.cache/box/bin; else
  BOX_BIN=$(infra/box/build.sh "$([[ ${BOX_STOP:-} == crds ]] && echo kube || echo all)"); fi
  export BOX_BIN
  built=$(date +%s)
  note "build: $(( built - started )) s"

  step "Apache Kafka's jars (infra/local/kafka.sh fetch, once)"
  infra/local/kafka.sh fetch

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
  # Inside the box Go cannot reach the module proxy: func's host build runs
  # once here first, so every module it needs is in the module cache.
  [[ ${BOX_STOP:-} == crds || ${BOX_STOP:-} == knative || ${BOX_STOP:-} == platform ]] || {
  step "func build once outside the box (fills Go's module cache; no push)"
  mkdir -p "$DATA/prewarm"
  git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf - | tar -xf - -C "$DATA/prewarm"
  (cd "$DATA/prewarm" && GOFLAGS="$(go env GOFLAGS) -mod=mod" "$BOX_BIN/func" build --builder host --registry 127.0.0.1:5000/ms-kafka) \
    >"$DATA/logs/prewarm.log" 2>&1 || { tail -n 20 "$DATA/logs/prewarm.log" >&2; fail "func build (outside the box) failed"; }
  rm -rf "$DATA/prewarm"
  }

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
  [[ -z ${remove_secrets:-} ]] || rm -rf "$ROOT/infra/secrets"
  [[ -z ${KAFKA_DIR:-} ]] || infra/local/kafka.sh stop >/dev/null 2>&1 || true
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

# until_ok SECONDS WHAT CMD…: retries CMD every half second until it succeeds;
# on failure the message is WHAT and, if set, what the command in $why prints
# then (e.g. why="conditions ksvc order" until_ok …).
until_ok() {
  local limit=$1 what=$2; shift 2
  local deadline=$(( $(date +%s) + limit ))
  until "$@" >/dev/null 2>&1; do
    (( $(date +%s) < deadline )) || fail "$what: not within ${limit}s${why:+: $(eval "$why" 2>&1)}"
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

# Every Knative process binds its health probes to :8080 (knative.dev/pkg
# injection.HealthCheckDefaultPort; only the first one gets it, the others go
# on without). The stand-in for the KafkaSink's data-plane ingress must have
# that port: it starts first and answers the health paths as well.
step "stand-in: the KafkaSink data plane's receiver (kafka-sink-ingress.knative-eventing.svc:8080 answering from the controller's contract, and its pods reported Ready; infra/box/kafka/sinkingress)"
echo "127.0.0.1 kafka-sink-ingress.knative-eventing.svc kafka-sink-ingress.knative-eventing.svc.cluster.local" >>"$DATA/hosts"
start sink-ingress env KUBECONFIG="$KUBECONFIG" sink-ingress 0.0.0.0:8080
until_ok 10 "the sink ingress stand-in listening" curl -fsS http://127.0.0.1:8080/health

# --- the platforms' CustomResourceDefinitions, from their modules ------------------------
step "CustomResourceDefinitions: Knative Serving, Eventing, eventing-kafka-broker, Istio (from their modules)"
crds=(
  "$SERVING_DIR"/config/core/300-resources/*.yaml
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
not_established() {
  kubectl get crd -o go-template='{{range .items}}{{$n := .metadata.name}}{{range .status.conditions}}{{if and (eq .type "Established") (ne .status "True")}}{{$n}}: {{.reason}} {{.message}}; {{end}}{{end}}{{end}}'
}
why=not_established until_ok 60 "the CRDs established" bash -c "[[ -z \$(kubectl get crd -o go-template='{{range .items}}{{range .status.conditions}}{{if and (eq .type \"Established\") (ne .status \"True\")}}x{{end}}{{end}}{{end}}') ]]"
note "$(kubectl get crd -o name | wc -l) CRDs established"

# check_infra: infra/ rendered as make deploy renders it, through the API
# server's schemas and (once they run) every webhook, as a server-side dry run.
check_infra() {
  step "infra/: rendered (kubectl kustomize, secrets from infra/cluster/secrets.sh in a temporary copy), server-side apply as a dry run with strict field validation through every webhook"
  mkdir -p "$DATA/render"
  cp -r infra/. "$DATA/render/"
  rm -rf "$DATA/render/secrets"
  infra/cluster/secrets.sh "$DATA/render/secrets" >/dev/null
  kubectl kustomize "$DATA/render" >"$DATA/infra.yaml"
  # The namespace first: a dry run does not create it for the objects in it.
  kubectl apply --server-side --field-manager=box -f "$ROOT/infra/namespace.yaml" >/dev/null
  out=$(kubectl apply --server-side --field-manager=ms-kafka-deploy --force-conflicts --dry-run=server --validate=strict -f "$DATA/infra.yaml" 2>&1) ||
    fail "infra/ refused by the API server or a webhook: $(grep -v 'serverside-applied' <<<"$out")"
  note "$(grep -c . <<<"$out") objects admitted (dry run)"
  kubectl delete namespace ms-kafka --wait=true >/dev/null
}

# infra/ cannot be checked before this: its objects live in Knative's
# namespaces too, and a v1 KafkaSource needs webhook-kafka's conversion.
[[ ${BOX_STOP:-} != crds ]] || { echo "box: stopped after the CRDs (BOX_STOP=crds)"; exit 0; }

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
# profiling and metrics ports; extra NAME=VALUE pairs override, and what
# follows -- is passed as arguments.
run_as() {
  local ns=$1 deploy=$2 bin=$3 sa token kc; shift 3
  sa=$(kubectl -n "$ns" get deployment "$deploy" -o jsonpath='{.spec.template.spec.serviceAccountName}')
  token=$(kubectl -n "$ns" create token "$sa" --duration=24h)
  kc=$DATA/$ns-$deploy.kubeconfig
  kubeconfig "$kc" "$token"
  local env=() args=()
  mapfile -t env < <(proc_env "$ns" "$deploy")
  env+=(KUBECONFIG="$kc" PROFILING_PORT=$((next_port)) METRICS_PROMETHEUS_PORT=$((next_port + 1)))
  while (( $# )); do
    if [[ $1 == -- ]]; then shift; args=("$@"); break; fi
    env+=("$1"); shift
  done
  next_port=$((next_port + 10))
  start "$ns-$deploy" env -i PATH="$PATH" HOME="$DATA" "${env[@]}" "$BIN/$bin" "${args[@]}"
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

# webhooks_ready SERVICE…: every webhook configuration and CRD conversion
# served by one of these webhook Services has a CA bundle (each Knative
# webhook writes its own into what it serves).
webhooks_ready() {
  local missing
  missing=$(
    kubectl get validatingwebhookconfigurations,mutatingwebhookconfigurations \
      -o go-template='{{range .items}}{{$n := .metadata.name}}{{range .webhooks}}{{if not .clientConfig.caBundle}}{{with .clientConfig.service}}{{.name}} {{$n}}{{"\n"}}{{end}}{{end}}{{end}}{{end}}'
    kubectl get crd -o go-template='{{range .items}}{{$n := .metadata.name}}{{with .spec.conversion}}{{with .webhook}}{{if not .clientConfig.caBundle}}{{.clientConfig.service.name}} {{$n}}{{"\n"}}{{end}}{{end}}{{end}}{{end}}'
  )
  local svc
  for svc in "$@"; do
    if grep -q "^$svc " <<<"$missing"; then
      echo "without a CA bundle: $(grep "^$svc " <<<"$missing" | cut -d' ' -f2 | tr '\n' ' ')"
      return 1
    fi
  done
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
apply_release serving "$S"/{200-roles,200-serviceaccount.yaml,300-knativecertificate.yaml,999-cache.yaml,configmaps,deployments,webhooks/secret.yaml} \
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
why="webhooks_ready webhook eventing-webhook" until_ok 90 "the webhook configurations reconciled by their webhooks (CA bundles)" webhooks_ready webhook eventing-webhook
run_as knative-serving controller serving-controller
run_as knative-eventing eventing-controller eventing-controller

[[ ${BOX_STOP:-} != knative ]] || { echo "box: stopped after Knative (BOX_STOP=knative)"; exit 0; }

step "Apache Kafka inside the box (infra/local/kafka.sh), where the KafkaSources look for it: ms-kafka-kafka-bootstrap.ms-kafka.svc:9092"
export KAFKA_DIR=$DATA/kafka KAFKA_PORT=9092
infra/local/kafka.sh start >"$LOGS/kafka-start.log" 2>&1 || fail "Kafka did not start: $(tail -5 "$LOGS/kafka-start.log")"
note "topics order (5 partitions) and order-dead-letter (1) made by kafka.sh: in the box they stand for infra/kafka/topics.yaml's KafkaTopics, which Strimzi's topic operator would create"

step "eventing-kafka-broker v0.50.1 (control-plane/config/eventing-kafka-broker, data-plane/config/{source,sink,channel,broker})"
K=$KAFKA_BROKER_DIR/control-plane/config/eventing-kafka-broker
apply_release kafka "$K"/{100-*,200-controller} "$K"/200-webhook/{100,200,400-webhook-secret,500}*.yaml
# Its two defaulting webhooks share one leader lease: with HA on, one of them
# never leads and v1 KafkaSources are refused.
run_as knative-eventing kafka-webhook-eventing kafka-webhook WEBHOOK_PORT=8445 -- --disable-ha
proxy_service knative-eventing kafka-webhook-eventing 443 8445
wait_webhook knative-eventing kafka-webhook-eventing-certs
apply_release kafka-webhooks "$K"/200-webhook/400-webhook-{defaulting,pod-defaulting,validation}.yaml
why="webhooks_ready kafka-webhook-eventing" until_ok 90 "the webhook configurations and CRD conversions reconciled by webhook-kafka (CA bundles)" webhooks_ready kafka-webhook-eventing
# The data plane after webhook-kafka: its pod-defaulting webhook gives each
# dispatcher pod the contract volume the controller's scheduler looks for.
apply_release kafka-data-plane "$KAFKA_BROKER_DIR"/data-plane/config/{source,sink,channel,broker}
run_as knative-eventing kafka-controller kafka-controller


# --- what the box cannot run ------------------------------------------------------------
# prerequisites.sh looks for these; the box has API objects with the names and
# labels of a real install (Istio 1.31 via istioctl, Strimzi's YAML install,
# net-istio, Istio's Jaeger add-on) and no process behind any of them, as
# for every Deployment here.
step "stand-ins for what the box cannot run (no process behind them): Istio (istiod, ingress gateway, knative-local-gateway, mesh config), net-istio's controller, Strimzi's cluster operator, Jaeger's collector"
kubectl apply --server-side --field-manager=box -f - >/dev/null <<'EOF2'
apiVersion: v1
kind: Namespace
metadata: {name: istio-system}
---
apiVersion: v1
kind: Namespace
metadata: {name: strimzi}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: istiod, namespace: istio-system, labels: {app: istiod, istio: pilot}}
spec:
  selector: {matchLabels: {app: istiod, istio: pilot}}
  template:
    metadata: {labels: {app: istiod, istio: pilot}}
    spec: {containers: [{name: discovery, image: "box.invalid/istio/pilot@sha256:0000000000000000000000000000000000000000000000000000000000000000"}]}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: istio-ingressgateway-service-account, namespace: istio-system}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: istio-ingressgateway, namespace: istio-system, labels: {app: istio-ingressgateway, istio: ingressgateway}}
spec:
  selector: {matchLabels: {app: istio-ingressgateway, istio: ingressgateway}}
  template:
    metadata: {labels: {app: istio-ingressgateway, istio: ingressgateway}}
    spec:
      serviceAccountName: istio-ingressgateway-service-account
      containers: [{name: istio-proxy, image: "box.invalid/istio/proxyv2@sha256:0000000000000000000000000000000000000000000000000000000000000000"}]
---
apiVersion: v1
kind: Service
metadata: {name: knative-local-gateway, namespace: istio-system, labels: {networking.knative.dev/ingress-provider: istio}}
spec:
  selector: {istio: ingressgateway}
  ports: [{name: http2, port: 80, targetPort: 8081}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: istio, namespace: istio-system}
data:
  mesh: |
    extensionProviders:
    - name: jaeger
      opentelemetry:
        service: jaeger-collector.istio-system.svc.cluster.local
        port: 4317
---
apiVersion: v1
kind: Service
metadata: {name: jaeger-collector, namespace: istio-system, labels: {app: jaeger}}
spec:
  selector: {app: jaeger}
  ports: [{name: otlp-http, port: 4318}, {name: otlp-grpc, port: 4317}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: net-istio-controller, namespace: knative-serving, labels: {app: net-istio-controller, networking.knative.dev/ingress-provider: istio}}
spec:
  selector: {matchLabels: {app: net-istio-controller}}
  template:
    metadata: {labels: {app: net-istio-controller}}
    spec: {containers: [{name: controller, image: "box.invalid/net-istio/controller@sha256:0000000000000000000000000000000000000000000000000000000000000000"}]}
---
# As Strimzi's YAML install (060-Deployment-strimzi-cluster-operator.yaml)
# labels it: "app: strimzi" on the Deployment, "name: strimzi-cluster-operator"
# only on its selector and pod template.
apiVersion: apps/v1
kind: Deployment
metadata: {name: strimzi-cluster-operator, namespace: strimzi, labels: {app: strimzi}}
spec:
  selector: {matchLabels: {name: strimzi-cluster-operator, strimzi.io/kind: cluster-operator}}
  template:
    metadata: {labels: {name: strimzi-cluster-operator, strimzi.io/kind: cluster-operator}}
    spec: {containers: [{name: strimzi-cluster-operator, image: "box.invalid/strimzi/operator@sha256:0000000000000000000000000000000000000000000000000000000000000000"}]}
EOF2
note "istio-system/istiod, istio-ingressgateway (+ its service account), knative-local-gateway, configmap istio (tracing provider jaeger), jaeger-collector;"
note "knative-serving/net-istio-controller; strimzi/strimzi-cluster-operator (labelled as Strimzi's YAML install labels it)"

# --- infra/ through the real API server and webhooks -------------------------------------
check_infra
[[ ${BOX_STOP:-} != platform ]] || { echo "box: stopped after the platform and the check of infra/ (BOX_STOP=platform)"; exit 0; }
step "docs/deploy.md, 'Knative in the mesh': the Knative namespaces labelled istio-injection=enabled"
kubectl label namespace knative-serving knative-eventing istio-injection=enabled --overwrite >/dev/null

step "the registry: an OCI registry (go-containerregistry) on 127.0.0.1:5000, inside the box"
start registry helper registry 127.0.0.1:5000
until_ok 10 "the registry answering" curl -fsS http://127.0.0.1:5000/v2/

step "infra/cluster/prerequisites.sh against the box"
if ! out=$(infra/cluster/prerequisites.sh 2>&1); then
  printf '%s\n' "$out" | sed 's/^/  | /'
  fail "infra/cluster/prerequisites.sh refused the box (above): every platform object it looks for is there, as a real install names and labels it"
fi
printf '%s\n' "$out" | sed 's/^/  | /'

[[ ${BOX_STOP:-} != prerequisites ]] || { echo "box: stopped after the prerequisites (BOX_STOP=prerequisites)"; exit 0; }

# --- make deploy ------------------------------------------------------------------------
# Two things in make deploy wait for what only running pods bring: kubectl's
# waits for Postgres, for Strimzi's Kafka and topics, for the Knative Services
# and the KafkaSources, and func deploy's own wait (up to 120 s) for its
# Knative Service to become Ready. In the box, shims in front of kubectl and
# func let make deploy go on past exactly these, and say so; the KafkaSink's
# wait is real (its controller, the real Kafka and the ingress stand-in make
# it Ready). Everything else reaches the real programs unchanged.
mkdir -p "$DATA/shim"
cat >"$DATA/shim/kubectl" <<'EOF2'
#!/usr/bin/env bash
# The box's kubectl: the real one, except for waits that need running pods.
if [[ $1 == wait || ( $1 == -n && $3 == wait ) || " $* " == *" rollout status "* ]]; then
  case " $* " in
    *" statefulset/postgres "*|*" kafka/"*|*" kafkatopic/"*|*" ksvc "*|*" kafkasource "*)
      echo "box: not waiting (needs running pods or Strimzi's operator; no kubelet here): kubectl $*" >&2
      exit 0 ;;
  esac
fi
exec "$BOX_BIN/kubectl" "$@"
EOF2
cat >"$DATA/shim/func" <<'EOF2'
#!/usr/bin/env bash
# The box's func: the real one; `func deploy` ends once the Knative Service it
# created has a Revision, instead of after its 120 s wait for Ready, which
# needs running pods.
[[ $1 == deploy ]] || exec "$BOX_BIN/func" "$@"
path=.
for (( i=1; i<=$#; i++ )); do [[ ${!i} == --path ]] && { j=$((i+1)); path=${!j}; }; done
name=$(sed -n 's/^name: *//p' "$path/func.yaml")
ns=$(sed -n 's/^namespace: *//p' "$path/func.yaml")
"$BOX_BIN/func" "$@" &
pid=$!
for _ in $(seq 240); do
  if ! kill -0 "$pid" 2>/dev/null; then wait "$pid"; exit $?; fi
  rev=$("$BOX_BIN/kubectl" -n "$ns" get ksvc "$name" -o jsonpath='{.status.latestCreatedRevisionName}' 2>/dev/null)
  if [[ -n $rev ]]; then
    sleep 1
    kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
    echo "box: func deploy created ksvc $ns/$name (revision $rev); not waiting for it to become Ready (needs running pods)" >&2
    exit 0
  fi
  sleep 0.5
done
kill "$pid" 2>/dev/null
echo "box: func deploy: ksvc $ns/$name has no revision after 120 s" >&2
exit 1
EOF2
chmod +x "$DATA/shim/kubectl" "$DATA/shim/func"

REGISTRY=127.0.0.1:5000/ms-kafka
# make deploy writes the passwords to infra/secrets/ (git-ignored); ones the
# box made are removed at the end, a user's own are left as they are.
[[ -e infra/secrets ]] || remove_secrets=1
step "make deploy REGISTRY=$REGISTRY (func builds and pushes; log: ${LOGS#"$ROOT"/}/deploy.log)"
deploy_started=$(date +%s)
# Go cannot reach the module proxy from inside the box; the module cache was
# filled before entering it.
if ! PATH=$DATA/shim:$PATH GOPROXY=off TIMEOUT=2m make deploy REGISTRY="$REGISTRY" >"$LOGS/deploy.log" 2>&1; then
  tail -n 30 "$LOGS/deploy.log" | sed 's/^/  | /'
  fail "make deploy failed (above; whole log: ${LOGS#"$ROOT"/}/deploy.log)"
fi
grep -E '^▸|^box:' "$LOGS/deploy.log" | sed 's/^/  | /'
note "make deploy: $(( $(date +%s) - deploy_started )) s"

[[ ${BOX_STOP:-} != deploy ]] || { echo "box: stopped after make deploy (BOX_STOP=deploy)"; exit 0; }

# --- what the control plane made of it ----------------------------------------------------
NS=ms-kafka
conditions() { # KIND NAME: its status conditions on one line
  kubectl -n "$NS" get "$1" "$2" -o go-template='{{range .status.conditions}}{{.type}}={{.status}}{{if .reason}} ({{.reason}}{{if .message}}: {{.message}}{{end}}){{end}}; {{end}}' 2>&1
}
# condition_is KIND NAME TYPE STATUS
condition_is() {
  [[ $(kubectl -n "$NS" get "$1" "$2" -o jsonpath="{.status.conditions[?(@.type=='$3')].status}" 2>/dev/null) == "$4" ]]
}

IMAGE=$(cat .data/deploy/src/.func/built-image)
step "the image func pushed: $IMAGE"
[[ $IMAGE == 127.0.0.1:5000/* ]] || fail "func reported no image in the box's registry: '$IMAGE'"
curl -fsS -o /dev/null -H 'Accept: application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json' \
  "http://127.0.0.1:5000/v2/${IMAGE#127.0.0.1:5000/}" 2>/dev/null ||
  curl -fsS -o /dev/null "http://127.0.0.1:5000/v2/$(sed 's#^127.0.0.1:5000/##; s#@#/manifests/#' <<<"$IMAGE")" ||
  fail "the registry has no manifest for $IMAGE"
note "manifest in the registry"

# What make deploy patches into each Knative Service's revision template.
retention=$(sed -n 's/^ *autoscaling.knative.dev\/scale-to-zero-pod-retention-period: *//p' infra/functions/revision-template.yaml)
[[ -n $retention ]] || fail "infra/functions/revision-template.yaml has no scale-to-zero-pod-retention-period"
version=${IMAGE##*@sha256:}
version=${version:0:12}
for fn in shipping invoicing order; do
  step "function $fn: Knative Service → Configuration, Revision, Deployment (serving's controller), ReplicaSet, Pod (kube-controller-manager)"
  kubectl -n "$NS" get ksvc "$fn" >/dev/null 2>&1 || fail "ksvc $NS/$fn does not exist after make deploy"
  # The scale-to-zero patch makes a second revision; wait for the controller to see it.
  revision_with_retention() {
    local rev
    rev=$(kubectl -n "$NS" get ksvc "$fn" -o jsonpath='{.status.latestCreatedRevisionName}')
    [[ -n $rev && $(kubectl -n "$NS" get revision "$rev" -o jsonpath='{.metadata.annotations.autoscaling\.knative\.dev/scale-to-zero-pod-retention-period}') == "$retention" ]]
  }
  why="conditions ksvc $fn" until_ok 60 "ksvc $NS/$fn: a Revision with scale-to-zero-pod-retention-period $retention" revision_with_retention
  rev=$(kubectl -n "$NS" get ksvc "$fn" -o jsonpath='{.status.latestCreatedRevisionName}')
  kubectl -n "$NS" get configuration "$fn" >/dev/null || fail "ksvc $NS/$fn: no Configuration ($(conditions ksvc "$fn"))"
  why="conditions revision $rev" until_ok 60 "revision $NS/$rev: no Deployment $rev-deployment" kubectl -n "$NS" get deployment "$rev-deployment"
  image=$(kubectl -n "$NS" get deployment "$rev-deployment" -o jsonpath='{.spec.template.spec.containers[?(@.name=="user-container")].image}')
  [[ $image == "$IMAGE" ]] || fail "deployment $NS/$rev-deployment runs '$image', not the image func pushed ($IMAGE)"
  anns=$(kubectl -n "$NS" get revision "$rev" -o go-template='{{range $k, $v := .metadata.annotations}}{{if or (eq $k "autoscaling.knative.dev/min-scale") (eq $k "autoscaling.knative.dev/max-scale") (eq $k "autoscaling.knative.dev/target") (eq $k "autoscaling.knative.dev/metric") (eq $k "autoscaling.knative.dev/scale-to-zero-pod-retention-period")}}{{$k}}={{$v}} {{end}}{{end}}')
  [[ $anns == *min-scale=0* ]] || fail "revision $NS/$rev: no autoscaling.knative.dev/min-scale=0 (annotations: $anns)"
  [[ $(kubectl -n "$NS" get revision "$rev" -o jsonpath='{.metadata.labels.version}') == "$version" ]] ||
    fail "revision $NS/$rev: label version is '$(kubectl -n "$NS" get revision "$rev" -o jsonpath='{.metadata.labels.version}')', not the image's $version"
  [[ $(kubectl -n "$NS" get deployment "$rev-deployment" -o jsonpath='{.spec.template.metadata.annotations.prometheus\.io/scrape}') == true ]] ||
    fail "deployment $NS/$rev-deployment: its pods lack prometheus.io/scrape=true"
  until_ok 60 "deployment $NS/$rev-deployment: no ReplicaSet (kube-controller-manager)" \
    bash -c "kubectl -n $NS get replicaset -l serving.knative.dev/revision=$rev -o name | grep -q ."
  vis=$(kubectl -n "$NS" get ksvc "$fn" -o jsonpath='{.metadata.labels.networking\.knative\.dev/visibility}')
  [[ $vis == cluster-local ]] ||
    fail "ksvc $NS/$fn: label networking.knative.dev/visibility is '$vis', not cluster-local (Knative's own ingress would serve it to the outside)"
  why="conditions route $fn" until_ok 30 "route $NS/$fn: no URL (serving's controller)" \
    bash -c "kubectl -n $NS get route $fn -o jsonpath='{.status.url}' | grep -q ."
  url=$(kubectl -n "$NS" get route "$fn" -o jsonpath='{.status.url}')
  [[ $url == "http://$fn.$NS.svc.cluster.local" ]] ||
    fail "route $NS/$fn: URL $url, not the cluster-local http://$fn.$NS.svc.cluster.local"
  note "route $fn: $url (cluster-local)"
  note "ksvc $fn → configuration $fn → revision $rev (version $version) → deployment $rev-deployment (image by digest, ${anns% }, prometheus.io/scrape)"
  note "revision $rev: $(conditions revision "$rev")"
  pods=$(kubectl -n "$NS" get pods -l serving.knative.dev/revision="$rev" -o jsonpath='{range .items[*]}{.metadata.name}={.status.phase} {end}')
  note "pods: ${pods:-none (scaled to zero)} — no scheduler or kubelet in the box: pods never run"
done

step "the dead-letter KafkaSink: reconciled by eventing-kafka-broker's controller against the real Kafka"
condition_is kafkasink order-dead-letter Ready True || fail "kafkasink $NS/order-dead-letter not Ready: $(conditions kafkasink order-dead-letter)"
note "kafkasink order-dead-letter: $(conditions kafkasink order-dead-letter)"
owner=$(kubectl -n "$NS" get kafkasink order-dead-letter -o jsonpath='{.status.annotations.eventing\.knative\.dev/topic\.owner}')
# With numPartitions and replicationFactor the sink owns its topic, and its
# finalizer deletes the topic with every dead letter on it.
[[ $owner == external || -n ${BOX_NO_OWNER_CHECK:-} ]] ||
  fail "kafkasink $NS/order-dead-letter owns its topic (status annotation eventing.knative.dev/topic.owner=$owner): deleting the sink deletes topic order-dead-letter and its records (infra/eventing/dead-letter.yaml: numPartitions/replicationFactor)"
note "topic order-dead-letter is not the sink's (eventing.knative.dev/topic.owner=$owner): the KafkaTopic's"

for src in order-to-shipping order-to-invoicing; do
  step "KafkaSource $src: admitted (v1, converted by webhook-kafka), reconciled by the Kafka controller"
  group=$(kubectl -n "$NS" get kafkasource "$src" -o jsonpath='{.spec.consumerGroup}')
  uid=$(kubectl -n "$NS" get kafkasource "$src" -o jsonpath='{.metadata.uid}')
  why="conditions kafkasource $src" until_ok 60 "kafkasource $NS/$src: no ConsumerGroup" \
    bash -c "kubectl -n $NS get consumergroup $uid >/dev/null"
  cg_group=$(kubectl -n "$NS" get consumergroup "$uid" -o jsonpath='{.spec.template.spec.configs.Configs.group\.id}')
  [[ $cg_group == "$group" ]] || fail "consumergroup $NS/$uid (of kafkasource $src) has group.id '$cg_group', the KafkaSource says '$group' (spec.template.spec: $(kubectl -n $NS get consumergroup $uid -o jsonpath='{.spec.template.spec}'))"
  topics=$(kubectl -n "$NS" get consumergroup "$uid" -o jsonpath='{.spec.template.spec.topics}')
  [[ $topics == '["order"]' ]] || fail "consumergroup $NS/$uid (of kafkasource $src) reads topics $topics, not [\"order\"]"
  dls=$(kubectl -n "$NS" get consumergroup "$uid" -o jsonpath='{.spec.template.spec.delivery.deadLetterSink.ref.kind}/{.spec.template.spec.delivery.deadLetterSink.ref.name}')
  [[ $dls == KafkaSink/order-dead-letter ]] || fail "consumergroup $NS/$uid (of kafkasource $src): dead letter sink '$dls', not KafkaSink/order-dead-letter"
  note "consumergroup $uid: group.id $group, topics $topics, dead letters to $dls"
  note "kafkasource $src: $(conditions kafkasource "$src")"
  note "(not Ready in the box: its consumers are scheduled only onto running kafka-source-dispatcher pods, and the"
  note " Knative Service has no address without a networking layer: net-istio and Istio do not run here)"
done

step "PingSource order-outbox-drain: admitted, reconciled by eventing's controller"
kubectl -n "$NS" get pingsource order-outbox-drain >/dev/null || fail "pingsource $NS/order-outbox-drain does not exist"
note "pingsource order-outbox-drain: $(conditions pingsource order-outbox-drain)"
note "(SinkProvided=False NotFound in the box: the sink, ksvc order, has no address without a networking layer)"

[[ ${BOX_STOP:-} != assert ]] || { echo "box: stopped before make undeploy (BOX_STOP=assert)"; exit 0; }

# --- make undeploy ------------------------------------------------------------------------
kafka_tool() { infra/local/kafka.sh run "$@" --bootstrap-server 127.0.0.1:9092; }
dead_letter_records() { # the number of records on order-dead-letter, or nothing if the topic is gone
  kafka_tool org.apache.kafka.tools.GetOffsetShell --topic order-dead-letter 2>/dev/null |
    awk -F: '/^order-dead-letter:/ {n += $3; seen = 1} END {if (seen) print n+0}' || true
}
step "a record on order-dead-letter, as an event a sink refused would leave it"
echo "box: a dead-lettered event" | kafka_tool org.apache.kafka.tools.ConsoleProducer --topic order-dead-letter >/dev/null 2>&1 ||
  fail "could not write to topic order-dead-letter"
before=$(dead_letter_records)
note "order-dead-letter holds $before record(s)"

UNDEPLOY_BOUND=${UNDEPLOY_BOUND:-180}
step "make undeploy (bound: ${UNDEPLOY_BOUND} s; log: ${LOGS#"$ROOT"/}/undeploy.log)"
undeploy_started=$(date +%s)
if ! PATH=$DATA/shim:$PATH timeout "$UNDEPLOY_BOUND" make undeploy >"$LOGS/undeploy.log" 2>&1; then
  tail -n 20 "$LOGS/undeploy.log" | sed 's/^/  | /'
  stuck=$(kubectl get all,kafkasource,kafkasink,consumergroup,kafkatopic,kafka -n "$NS" -o go-template='{{range .items}}{{.kind}}/{{.metadata.name}} finalizers={{.metadata.finalizers}} {{end}}' 2>&1)
  fail "make undeploy did not finish within ${UNDEPLOY_BOUND} s; namespace $NS: $(kubectl get namespace "$NS" -o jsonpath='{.status.phase} {.status.conditions[*].message}' 2>&1); left: $stuck"
fi
note "make undeploy: $(( $(date +%s) - undeploy_started )) s"
! kubectl get namespace "$NS" >/dev/null 2>&1 || fail "namespace $NS still exists after make undeploy: $(kubectl get namespace "$NS" -o jsonpath='{.status.conditions[*].message}')"
note "namespace $NS is gone: every finalizer was released by its controller"
after=$(dead_letter_records)
[[ -n $after ]] || fail "topic order-dead-letter is gone after make undeploy: the dead-letter KafkaSink owned it and its deletion deleted the topic and its $before record(s) (infra/eventing/dead-letter.yaml: numPartitions/replicationFactor make the sink own its topic)"
(( after >= before )) || fail "topic order-dead-letter lost records in make undeploy ($before before, $after after)"
note "topic order-dead-letter and its $after record(s) are still in Kafka"

echo
echo "What the box did not do: run any pod (no scheduler, kubelet, images or Envoy), so nothing here checks"
echo "readiness probes, Istio's routing, mTLS or authorization, Strimzi's operator, or a real delivery."
