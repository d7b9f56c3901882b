#!/usr/bin/env bash
# infra/local/test.sh [bench] — what `make test` (and `make bench`) runs: start a private PostgreSQL and a
# real Apache Kafka (fresh for every run), run all tests against them with
# REQUIRE_SERVERS=1 (so no server test can skip), and stop both at the end.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"

export PG_DIR=$ROOT/.data/test-postgres PG_PORT=${TEST_PG_PORT:-5434}
export KAFKA_DIR=$ROOT/.data/test-kafka KAFKA_PORT=${TEST_KAFKA_PORT:-19192}

source infra/local/servers.sh
started=$(date +%s)
cleanup() {
  kill $(jobs -p) 2>/dev/null || true   # background builds, when a step failed early
  stop_servers
}
trap cleanup EXIT

# Fresh servers: tests must not depend on what an earlier run left behind.
fresh_servers

# On a fresh machine most of the time goes to compiling: Jaeger (several
# minutes, once; cached in .cache/jaeger) and the Kubernetes, Knative and
# Istio packages of infra/check. Both start now, in the background, so they
# overlap with the downloads, the vet and the servers' start.
mode=${1:-test}
mkdir -p .data
if [[ $mode == test ]]; then
  infra/local/jaeger.sh bin > .data/jaeger-build.log 2>&1 &
  jaeger_build=$!
  (cd infra/check && go test -count=1 -run '^$' ./...) > .data/check-build.log 2>&1 &
  check_build=$!
fi

echo "▸ vetting (go vet, staticcheck)"
# Two modules: the product (the root, what func builds into the image) and
# its tools (tools/: the local platform, bench, chaos, load, system tests).
go vet ./...
go -C tools vet ./...
# staticcheck at a pinned version, fetched through the Go module proxy like
# every other dependency (cached after the first run).
go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...
(cd tools && go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...)

infra/local/chromium.sh   # the browser tests (tools/stack/systest) drive Debian's Chromium
infra/local/postgres.sh start
infra/local/kafka.sh start
DATABASE_URL=$(infra/local/postgres.sh url)
export DATABASE_URL
export KAFKA_BROKERS=127.0.0.1:$KAFKA_PORT
export REQUIRE_SERVERS=1

if [[ $mode == bench ]]; then
  # `make bench`: the same servers, benchmarks instead of tests.
  echo "▸ go test -bench . ./... (Postgres $DATABASE_URL, Kafka $KAFKA_BROKERS)"
  go test -run '^$' -bench . -benchmem -count=1 ./...
  go -C tools test -run '^$' -bench . -benchmem -count=1 ./...
  exit 0
fi

# The trace test (tools/stack/systest) reads its trace back from a real Jaeger.
echo "▸ waiting for the Jaeger build (only the first run builds it)"
if ! wait "$jaeger_build"; then
  cat .data/jaeger-build.log >&2
  exit 1
fi
JAEGER_BIN=$(tail -n 1 .data/jaeger-build.log)
export JAEGER_BIN

echo "▸ go test -race ./... (Postgres $DATABASE_URL, Kafka $KAFKA_BROKERS)"
go test -race -count=1 -timeout 12m ./...
go -C tools test -race -count=1 -timeout 12m ./...
# Every fuzz target briefly: the seed corpora replay in the run above
# already; this looks a little further (infra/local/fuzz.sh 10m for longer).
infra/local/fuzz.sh "${FUZZTIME:-3s}"
echo "▸ infra/check: the cluster manifests and func.yaml files, validated offline; the image build as func's host builder scaffolds it"
wait "$check_build" || true   # a compile error shows again just below
(cd infra/check && go test -count=1 ./...)

echo "▸ all tests passed in $(( $(date +%s) - started )) s"
