#!/usr/bin/env bash
# infra/box/build.sh — builds, once, every binary `make test-cluster` runs, into
# .cache/box/bin (nothing here is committed), and prints that directory.
#
# Each binary is built from the Go module proxy, through a go.mod of ours that
# pins its version:
#   infra/box/kube     k8s.io/kubernetes v1.36.3: kube-apiserver, kube-controller-manager, kubectl
#                      (its ./staging replaces point at the staging modules' v0.36.3)
#   infra/box/knative  knative.dev/serving v0.50.0 and knative.dev/eventing v0.50.0 (= knative-v1.23.0):
#                      their controllers and webhooks
#   infra/box/kafka    knative.dev/eventing-kafka-broker v0.50.1: kafka-controller, webhook-kafka,
#                      and the box's stand-in for the KafkaSink's data-plane ingress (sinkingress/)
#   infra/box/func     knative.dev/func v0.50.1 (= knative-v1.23.1): the func CLI
#   infra/box/helper   the box's OCI registry (go-containerregistry) and TCP forwarders
# and etcd is Debian's etcd-server 3.4.23, taken with `apt-get download` and
# unpacked (never installed: the package would start a service).
#
# A binary is rebuilt when its module's go.mod or go.sum changed (a stamp beside
# it holds their hash); Go's build cache makes a rebuild after a small change fast.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BOX=$ROOT/infra/box
BIN=${BOX_BIN:-$ROOT/.cache/box/bin}
ETCD_DEB_VERSION=3.4.23-4+b4
KUBE_VERSION=v1.36.3
mkdir -p "$BIN"

log() { echo "box build: $*" >&2; }
die() { echo "box build: error: $*" >&2; exit 1; }

export GOWORK=off GOFLAGS=-buildvcs=false CGO_ENABLED=0

# stamp MODULE_DIR: the hash of the module's go.mod, go.sum and Go files.
stamp() {
  (cd "$1" && find . -name '*.go' -o -name go.mod -o -name go.sum | LC_ALL=C sort | xargs cat) | sha256sum | cut -c1-16
}

# build MODULE OUT PKG [LDFLAGS]: go build PKG from infra/box/MODULE into $BIN/OUT.
build() {
  local module=$1 out=$2 pkg=$3 ldflags=${4:-} dir=$BOX/$1 want started
  want=$(stamp "$dir")
  if [[ -x $BIN/$out && $(cat "$BIN/$out.stamp" 2>/dev/null) == "$want" ]]; then
    return 0
  fi
  started=$(date +%s)
  log "building $out ($pkg, module infra/box/$module)"
  (cd "$dir" && go build -trimpath -ldflags="-s -w $ldflags" -o "$BIN/$out.tmp" "$pkg") >&2 ||
    die "go build $pkg in infra/box/$module failed"
  mv "$BIN/$out.tmp" "$BIN/$out"
  echo "$want" >"$BIN/$out.stamp"
  log "built $out in $(( $(date +%s) - started )) s"
}

etcd() {
  [[ -x $BIN/etcd && $(cat "$BIN/etcd.stamp" 2>/dev/null) == "$ETCD_DEB_VERSION" ]] && return 0
  local tmp
  tmp=$(mktemp -d)
  log "taking etcd from Debian's etcd-server $ETCD_DEB_VERSION (apt-get download, unpacked, not installed)"
  (cd "$tmp" && apt-get download "etcd-server=$ETCD_DEB_VERSION") >&2 2>&1 ||
    (apt-get update -qq >&2 && cd "$tmp" && apt-get download "etcd-server=$ETCD_DEB_VERSION" >&2) ||
    die "apt-get download etcd-server=$ETCD_DEB_VERSION failed"
  dpkg -x "$tmp"/etcd-server_*.deb "$tmp/x"
  cp "$tmp/x/usr/bin/etcd" "$BIN/etcd"
  echo "$ETCD_DEB_VERSION" >"$BIN/etcd.stamp"
  rm -rf "$tmp"
}

# Without these stamps the Kubernetes binaries call themselves v0.0.0-master.
kube_ldflags=""
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  kube_ldflags+=" -X $p.gitVersion=$KUBE_VERSION -X $p.gitMajor=1 -X $p.gitMinor=36 -X $p.gitTreeState=clean"
done
func_ldflags="-X knative.dev/func/pkg/version.Vers=v0.50.1 -X knative.dev/func/pkg/version.Kver=v1.23.1"

started=$(date +%s)
what=${1:-all}
etcd
build kube kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver "$kube_ldflags"
build kube kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager "$kube_ldflags"
build kube kubectl k8s.io/kubernetes/cmd/kubectl "$kube_ldflags"
build kafka sink-ingress ./sinkingress
build helper helper .
if [[ $what != kube ]]; then
  build knative serving-controller knative.dev/serving/cmd/controller
  build knative serving-webhook knative.dev/serving/cmd/webhook
  build knative eventing-controller knative.dev/eventing/cmd/controller
  build knative eventing-webhook knative.dev/eventing/cmd/webhook
  build kafka kafka-controller knative.dev/eventing-kafka-broker/control-plane/cmd/kafka-controller
  build kafka kafka-webhook knative.dev/eventing-kafka-broker/control-plane/cmd/webhook-kafka
  build func func knative.dev/func/cmd/func "$func_ldflags"
fi
log "all binaries in ${BIN#"$ROOT"/} ($(( $(date +%s) - started )) s)"
echo "$BIN"
