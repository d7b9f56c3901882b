#!/usr/bin/env bash
# infra/local/jaeger.sh — a local Jaeger v2 (all-in-one, in-memory) for `make run OBSERVE=1`
# and the trace test.
#
# Usage: infra/local/jaeger.sh build|start|stop|status|bin|run
#   (run: in the foreground, as the tests do; start: in the background)
#
# Environment:
#   JAEGER_VERSION     the jaegertracing/jaeger module version to build (default v1.76.0)
#   JAEGER_BIN         use this binary instead of building one
#   JAEGER_DIR         state: config.yaml, jaeger.log, jaeger.pid (default .data/jaeger; a
#                      relative path is taken from the repository root)
#   JAEGER_OTLP_PORT   OTLP/HTTP receiver on 127.0.0.1 (default 4318)
#   JAEGER_QUERY_PORT  query API (HTTP) on 127.0.0.1 (default 16686); its gRPC API listens
#                      on JAEGER_QUERY_PORT-1
#
# `build` compiles cmd/jaeger from the Go module proxy once, into
# .cache/jaeger/<version>/jaeger (`bin` prints that path, building it if needed). Jaeger's
# go.mod has a replace directive, so `go install pkg@version` refuses it; the script builds
# it as a tool of a throw-away module instead. The module holds no web UI assets: the UI
# answers with a placeholder, but the query API (/api/services, /api/traces, /api/v3/…)
# works, and that is what the tests read.
#
# `start` runs it with a config of its own: only an OTLP/HTTP receiver and the query API,
# both on loopback, an in-memory store of at most 10000 traces, and no self-telemetry
# listeners, so two instances on other ports run side by side. Traces live only as long as
# the process.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

JAEGER_VERSION=${JAEGER_VERSION:-v1.76.0}
JAEGER_DIR=${JAEGER_DIR:-.data/jaeger}
[[ $JAEGER_DIR == /* ]] || JAEGER_DIR=$ROOT/$JAEGER_DIR
OTLP_PORT=${JAEGER_OTLP_PORT:-4318}
QUERY_PORT=${JAEGER_QUERY_PORT:-16686}
QUERY_GRPC_PORT=$((QUERY_PORT - 1))

CACHE=$ROOT/.cache/jaeger/$JAEGER_VERSION
BIN=${JAEGER_BIN:-$CACHE/jaeger}
PID_FILE=$JAEGER_DIR/jaeger.pid
LOG_FILE=$JAEGER_DIR/jaeger.log
CONFIG=$JAEGER_DIR/config.yaml
START_TIMEOUT=${JAEGER_START_TIMEOUT:-60}   # seconds, for the query API to answer
STOP_TIMEOUT=10                             # seconds of SIGTERM grace before SIGKILL

log() { echo "jaeger: $*" >&2; }
die() { echo "jaeger: error: $*" >&2; exit 1; }

usage() {
  sed -n '5,6p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

build() {
  [[ -x $BIN ]] && return 0
  [[ -z ${JAEGER_BIN:-} ]] || die "JAEGER_BIN=$JAEGER_BIN is not an executable"
  command -v go >/dev/null 2>&1 || die "no go on PATH"
  local mod=$CACHE/build started
  started=$(date +%s)
  log "building github.com/jaegertracing/jaeger/cmd/jaeger@$JAEGER_VERSION once (several minutes on 2 cores)"
  rm -rf "$mod" && mkdir -p "$mod"
  printf 'module jaegerbuild\n\ngo 1.26\n' >"$mod/go.mod"
  (
    cd "$mod"
    export GOWORK=off GOFLAGS=-buildvcs=false
    go get -tool "github.com/jaegertracing/jaeger/cmd/jaeger@$JAEGER_VERSION"
    go build -trimpath -o "$BIN.tmp" github.com/jaegertracing/jaeger/cmd/jaeger
  ) >&2 || die "build of jaeger $JAEGER_VERSION failed"
  mv "$BIN.tmp" "$BIN"
  rm -rf "$mod"
  log "built $BIN in $(( $(date +%s) - started )) s"
}

running() {
  [[ -f $PID_FILE ]] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null
}

answers() {
  curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$QUERY_PORT/api/services" 2>/dev/null
}

write_config() {
  cat >"$CONFIG" <<YAML
# Written by infra/local/jaeger.sh; every listener on loopback.
service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    resource:
      service.name: jaeger
    metrics:
      level: none
    logs:
      level: warn

extensions:
  jaeger_query:
    enable_tracing: false
    storage:
      traces: memstore
    http:
      endpoint: 127.0.0.1:$QUERY_PORT
    grpc:
      endpoint: 127.0.0.1:$QUERY_GRPC_PORT
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: 10000

receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:$OTLP_PORT

processors:
  batch:
    timeout: 100ms

exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
YAML
}

# run replaces the shell with Jaeger, so a caller that started the script holds
# Jaeger's own pid.
run() {
  build
  mkdir -p "$JAEGER_DIR"
  write_config
  # A development tracer needs little memory; the limit keeps the GC from letting it grow.
  GOMEMLIMIT=${JAEGER_GOMEMLIMIT:-256MiB} exec "$BIN" --config "$CONFIG"
}

start() {
  if running; then
    log "already running (pid $(cat "$PID_FILE")), query API on 127.0.0.1:$QUERY_PORT"
    return 0
  fi
  build
  mkdir -p "$JAEGER_DIR"
  setsid "${BASH_SOURCE[0]}" run >"$LOG_FILE" 2>&1 </dev/null &
  echo $! >"$PID_FILE"
  local waited=0
  until answers; do
    if ! running; then
      tail -n 20 "$LOG_FILE" >&2 || true
      die "exited at start (log: $LOG_FILE)"
    fi
    (( waited++ < START_TIMEOUT * 5 )) || die "query API not answering after ${START_TIMEOUT}s (log: $LOG_FILE)"
    sleep 0.2
  done
  log "ready: OTLP/HTTP on http://127.0.0.1:$OTLP_PORT, query API on http://127.0.0.1:$QUERY_PORT"
}

stop() {
  running || { rm -f "$PID_FILE"; return 0; }
  local pid waited=0
  pid=$(cat "$PID_FILE")
  kill -TERM "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null; do
    if (( waited++ >= STOP_TIMEOUT * 10 )); then
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.1
  done
  rm -f "$PID_FILE"
  log "stopped"
}

case ${1:-} in
  build) build ;;
  bin) build; echo "$BIN" ;;
  start) start ;;
  run) run ;;
  stop) stop ;;
  status)
    if running && answers; then
      echo "running (pid $(cat "$PID_FILE")), query API on http://127.0.0.1:$QUERY_PORT"
    else
      echo "not running"; exit 1
    fi ;;
  *) usage ;;
esac
