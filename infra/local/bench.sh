#!/usr/bin/env bash
# infra/local/bench.sh [tools/bench flags] — what `make bench` runs: a fresh private
# PostgreSQL (with commit timestamps and pg_stat_statements, so that delays and
# statements are read from the database itself) and a real Apache Kafka, then
# tools/bench against them. Results land in bench/results/ (git-ignored).
# It never fails on a figure; only on a server or a build that will not start.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"

export PG_DIR=$ROOT/.data/bench-postgres PG_PORT=${BENCH_PG_PORT:-5436}
export KAFKA_DIR=$ROOT/.data/bench-kafka KAFKA_PORT=${BENCH_KAFKA_PORT:-19292} KAFKA_PEAK=1
export PG_EXTRA_CONF="track_commit_timestamp = on
shared_preload_libraries = 'pg_stat_statements'
max_connections = 200"

source infra/local/servers.sh
trap stop_servers EXIT

# Fresh servers, so that one run's tables and topics do not weigh on the next.
fresh_servers

echo "▸ building bin/function, bin/stack and the bench"
CGO_ENABLED=0 go build -o bin/function ./cmd/function  # as the image is built
go -C tools build -o ../bin/stack ./stack
go -C tools build -o ../bin/bench ./bench

infra/local/postgres.sh start
infra/local/kafka.sh start
DATABASE_URL=$(infra/local/postgres.sh url) KAFKA_BROKERS=127.0.0.1:$KAFKA_PORT \
  bin/bench -root "$ROOT" -out "$ROOT/bench/results" "$@"
