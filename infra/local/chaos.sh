#!/usr/bin/env bash
# infra/local/chaos.sh — what `make test-chaos` runs: fault drills against the local stack
# on a fresh private PostgreSQL and a fresh Apache Kafka, each on ports and in a directory
# of its own (so it can run beside `make run` and `make test`), then everything is stopped.
#
# tools/chaos does the work: it starts bin/stack, places orders at a steady rate through the
# gateway, injects one fault per drill (Kafka kill -9 and SIGTERM, Postgres immediate
# restart, a failing sink, poison records, cancellations under fault), heals it and checks
# the exact set of orders, shipments and invoices. Its table goes to artifacts/chaos.md,
# the stack's output to artifacts/chaos-stack.log.
#
# Environment (defaults in brackets):
#   CHAOS_PG_PORT [5437]  CHAOS_KAFKA_PORT [19392]  CHAOS_GATEWAY_PORT [22080] (functions on the
#   next three ports)  CHAOS_METRICS_PORT [22464]  CHAOS_FUNCTION_BIN [bin/function, built here];
#   CHAOS_RATE, CHAOS_DRILLS, … as `bin/chaos --help` lists.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"

export PG_DIR=$ROOT/.data/chaos/postgres PG_PORT=${CHAOS_PG_PORT:-5437}
export KAFKA_DIR=$ROOT/.data/chaos/kafka KAFKA_PORT=${CHAOS_KAFKA_PORT:-19392}
gateway_port=${CHAOS_GATEWAY_PORT:-22080}

source infra/local/servers.sh
started=$(date +%s)
pid_file=$ROOT/.data/chaos/stack.pid
cleanup() {
  # The stack runs in its own process group; tools/chaos stops it, unless it was killed.
  if [[ -f $pid_file ]] && kill -0 "$(<"$pid_file")" 2>/dev/null; then
    kill -TERM -- "-$(<"$pid_file")" 2>/dev/null || true
    sleep 2
    kill -KILL -- "-$(<"$pid_file")" 2>/dev/null || true
  fi
  stop_servers
}
trap cleanup EXIT

# Fresh servers: a drill's checks must not meet an earlier run's orders.
fresh_servers "$ROOT/.data/chaos/stack"
mkdir -p "$ROOT/.data/chaos" artifacts

# CHAOS_FUNCTION_BIN: drill a function binary built elsewhere (another branch) under this stack.
function_bin=${CHAOS_FUNCTION_BIN:-$ROOT/bin/function}
echo "▸ building bin/function, bin/stack, bin/chaos"
[[ -n ${CHAOS_FUNCTION_BIN:-} ]] || CGO_ENABLED=0 go build -o bin/function ./cmd/function  # as the image is built
go -C tools build -o ../bin/stack ./stack
go -C tools build -o ../bin/chaos ./chaos

infra/local/postgres.sh start
infra/local/kafka.sh start

export DATABASE_URL
DATABASE_URL=$(infra/local/postgres.sh url)
export KAFKA_BROKERS=127.0.0.1:$KAFKA_PORT
export GATEWAY_ADDR=127.0.0.1:$gateway_port FUNCTION_PORT=$((gateway_port + 1))
export DISPATCH_METRICS_ADDR=127.0.0.1:${CHAOS_METRICS_PORT:-22464}
export DATA_DIR=$ROOT/.data/chaos/stack REPO_ROOT=$ROOT FUNCTION_BIN=$function_bin
export OUTBOX_INTERVAL=${OUTBOX_INTERVAL:-1s}
export CHAOS_STACK_PID=$pid_file
: >artifacts/chaos-stack.log

echo "▸ drills (Postgres $DATABASE_URL, Kafka $KAFKA_BROKERS, gateway http://$GATEWAY_ADDR)"
status=0
bin/chaos || status=$?
# The fuzz targets, longer than make test runs them (CHAOS_FUZZTIME each).
infra/local/fuzz.sh "${CHAOS_FUZZTIME:-20s}" || status=1
echo "▸ test-chaos finished in $(( $(date +%s) - started )) s (table in artifacts/chaos.md)"
exit "$status"
