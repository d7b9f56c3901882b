# infra/local/servers.sh — sourced by test.sh, bench.sh and chaos.sh, which each run
# against a private PostgreSQL and Apache Kafka of their own (PG_DIR/PG_PORT and
# KAFKA_DIR/KAFKA_PORT, exported by the caller). Run from the repository root.

# stop_servers stops both, whatever state they are in.
stop_servers() {
  infra/local/postgres.sh stop || true
  infra/local/kafka.sh stop || true
}

# fresh_servers stops both and removes their data, and any further paths given,
# so that a run never meets what an earlier one left behind.
fresh_servers() {
  infra/local/postgres.sh stop 2>/dev/null || true
  infra/local/kafka.sh stop 2>/dev/null || true
  rm -rf "$(infra/local/postgres.sh dir)" "$KAFKA_DIR" "$@"
}
