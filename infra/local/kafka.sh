#!/usr/bin/env bash
# infra/local/kafka.sh — a real single-node Apache Kafka 4.x broker for local development and tests.
#
# Usage: infra/local/kafka.sh fetch|start|stop|status|bootstrap
#        infra/local/kafka.sh run JAVA_CLASS [ARGS…]   (a Kafka tool from the same jars, e.g.
#            run org.apache.kafka.tools.TopicCommand --bootstrap-server "$(infra/local/kafka.sh bootstrap)" --list)
#
# Environment:
#   KAFKA_DIR   broker state: server.properties, logs/ (the partitions), server.log, kafka.pid
#               (default .data/apache-kafka; a relative path is taken from the repository root)
#   KAFKA_PORT  client listener on 127.0.0.1 (default 19092); the KRaft controller listens
#               on KAFKA_PORT+1
#   JAVA        the java binary (default: java on PATH; Kafka 4 brokers need Java 17+)
#   KAFKA_PEAK  1: compile the broker with C2 as well (sustained load, `make bench`); default
#               C1 only, which starts faster
#
# No Docker and no Kafka tarball here, so the broker runs from the Maven Central jars listed
# in infra/local/kafka/pom.xml, copied once into .cache/kafka/<version>/libs. It is KRaft
# mode, one process being both broker and controller, with a static controller quorum
# (controller.quorum.voters) so that a changed KAFKA_PORT just works at the next start.
# Topics are never auto-created; start makes `order` (5 partitions) and
# `order-dead-letter` (1 partition) when missing. Data is kept between runs; delete
# KAFKA_DIR to start afresh.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

KAFKA_DIR=${KAFKA_DIR:-.data/apache-kafka}
[[ $KAFKA_DIR == /* ]] || KAFKA_DIR=$ROOT/$KAFKA_DIR
KAFKA_PORT=${KAFKA_PORT:-19092}
CONTROLLER_PORT=$((KAFKA_PORT + 1))
JAVA=${JAVA:-java}
BOOTSTRAP=127.0.0.1:$KAFKA_PORT

POM=$ROOT/infra/local/kafka/pom.xml
# The pom is the one place that names the Kafka version.
KAFKA_VERSION=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$POM" | head -n 1)
LIBS=$ROOT/.cache/kafka/$KAFKA_VERSION/libs

PID_FILE=$KAFKA_DIR/kafka.pid
LOG_DIRS=$KAFKA_DIR/logs
START_TIMEOUT=${KAFKA_START_TIMEOUT:-90}   # seconds, for the broker to answer
STOP_TIMEOUT=30                            # seconds of SIGTERM grace before SIGKILL

# Topics the system needs: name:partitions.
TOPICS=(order:5 order-dead-letter:1)

# JVMs start faster with the serial GC and the C1 compiler only. Measured on 2 cores, a
# warm `start` (broker up, topics listed) takes ~3.0 s with these flags against ~3.7 s
# with the JVM defaults. A broker under sustained load (`make bench`, KAFKA_PEAK=1)
# keeps C2: its compiled code costs the broker markedly less CPU per record.
FAST_JVM=(-XX:+UseSerialGC -Xshare:auto -Djava.awt.headless=true)
[[ ${KAFKA_PEAK:-} == 1 ]] || FAST_JVM+=(-XX:TieredStopAtLevel=1)

log() { echo "kafka: $*" >&2; }
die() { echo "kafka: error: $*" >&2; exit 1; }

usage() {
  sed -n '4,6p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

check_java() {
  command -v "$JAVA" >/dev/null 2>&1 || die "no java on PATH (Kafka $KAFKA_VERSION needs Java 17+)"
  local major
  major=$("$JAVA" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n 1)
  [[ -n $major && $major -ge 17 ]] || die "Kafka $KAFKA_VERSION needs Java 17+, $JAVA is version ${major:-unknown}"
}

# --- fetch: the jars, once per Kafka version ------------------------------------------
cmd_fetch() {
  [[ -n $KAFKA_VERSION ]] || die "no <kafka.version> in $POM"
  if [[ -f $LIBS/.complete ]]; then
    return 0
  fi
  command -v mvn >/dev/null 2>&1 || die "mvn not found (apt-get install maven)"
  log "fetching Kafka $KAFKA_VERSION jars into ${LIBS#"$ROOT"/} (first run only, ~1 min)…"
  # Copy into a scratch dir and rename at the end, so an interrupted fetch never leaves
  # a half-filled libs/ that later runs would take for complete.
  local tmp=$LIBS.tmp.$$ mvn_log
  mvn_log=$(dirname "$LIBS")/fetch.log
  mkdir -p "$(dirname "$LIBS")"
  rm -rf "$tmp"
  if ! mvn -B -q --no-transfer-progress -Dstyle.color=never -f "$POM" \
      dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp" \
      >"$mvn_log" 2>&1; then
    rm -rf "$tmp"
    tail -n 30 "$mvn_log" >&2
    die "mvn could not fetch the Kafka jars (log above, also in $mvn_log)"
  fi
  touch "$tmp/.complete"
  if [[ -f $LIBS/.complete ]]; then
    # Another kafka.sh fetched the same version meanwhile; keep its copy (a broker may
    # be running from it).
    rm -rf "$tmp"
    return 0
  fi
  rm -rf "$LIBS"
  mv "$tmp" "$LIBS"
  log "fetched $(find "$LIBS" -name '*.jar' | wc -l) jars"
}

# --- config ---------------------------------------------------------------------------
write_config() {
  mkdir -p "$KAFKA_DIR" "$LOG_DIRS"
  # Rewritten at every start so that KAFKA_PORT/KAFKA_DIR changes take effect; the cluster
  # itself (ids, topics, offsets) lives in logs/ and is kept.
  cat >"$KAFKA_DIR/server.properties" <<EOF
# Written by infra/local/kafka.sh at every start; edits here are overwritten.
# KRaft, one node that is both broker and controller, loopback only.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT

# Partition data and the KRaft metadata log.
log.dirs=$LOG_DIRS

# Topics are created explicitly (by this script or the code under test), never by a typo.
auto.create.topics.enable=false
num.partitions=1
default.replication.factor=1

# One broker: every internal topic has a single replica.
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
min.insync.replicas=1

# Two cores: a few threads do the work the defaults (3 network, 8 I/O) spread thin.
num.network.threads=2
num.io.threads=2

# Consumers join at once instead of waiting 3 s for more members (tests start fast).
group.initial.rebalance.delay.ms=0

# After an unclean exit (SIGKILL, a machine restored without its processes) the restarted
# broker cannot register until the controller expires its old session: 9 s by default,
# i.e. a 13 s start instead of 3 s. Broker and controller share this process, so a
# shorter session costs nothing.
broker.heartbeat.interval.ms=1000
broker.session.timeout.ms=4000
EOF

  # The broker logs INFO to a size-capped file, nothing to the console.
  cat >"$KAFKA_DIR/log4j2.properties" <<EOF
# Written by infra/local/kafka.sh at every start.
status = warn
appender.file.type = RollingFile
appender.file.name = file
appender.file.fileName = $KAFKA_DIR/server.log
appender.file.filePattern = $KAFKA_DIR/server.log.%i
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
appender.file.policies.type = Policies
appender.file.policies.size.type = SizeBasedTriggeringPolicy
appender.file.policies.size.size = 10MB
appender.file.strategy.type = DefaultRolloverStrategy
appender.file.strategy.max = 3
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
# One line per request at DEBUG/TRACE only; keep them out.
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.requestchannel.name = kafka.network.RequestChannel\$
logger.requestchannel.level = WARN
EOF

  # Command-line tools: warnings and errors only, on stderr.
  cat >"$KAFKA_DIR/tools-log4j2.properties" <<EOF
# Written by infra/local/kafka.sh at every start.
status = error
appender.err.type = Console
appender.err.name = stderr
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.err.ref = stderr
EOF
}

# A random cluster id as Kafka writes them: 16 random bytes, base64url without padding
# (22 characters). Like Kafka's Uuid.randomUuid, avoid a leading '-' that a command line
# would take for an option.
new_cluster_id() {
  local id
  while :; do
    id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
    [[ $id != -* ]] && break
  done
  echo "$id"
}

format_storage() {
  [[ -f $LOG_DIRS/meta.properties ]] && return 0
  local id
  id=$(new_cluster_id)
  log "formatting storage in ${LOG_DIRS} (cluster id $id, first run only)…"
  if ! run_class kafka.tools.StorageTool format -t "$id" -c "$KAFKA_DIR/server.properties" \
      >"$KAFKA_DIR/format.log" 2>&1; then
    cat "$KAFKA_DIR/format.log" >&2
    die "storage format failed"
  fi
}

# --- processes ------------------------------------------------------------------------
# Run a Java class from the Kafka jars (a tool), quietly logged.
run_class() {
  local cls=$1
  shift
  local log_conf=$KAFKA_DIR/tools-log4j2.properties
  [[ -f $log_conf ]] || write_config
  "$JAVA" -Xms32m -Xmx256m "${FAST_JVM[@]}" -Dlog4j2.configurationFile="$log_conf" \
    -cp "$LIBS/*" "$cls" "$@"
}

broker_pid() {
  [[ -f $PID_FILE ]] || return 1
  local pid
  pid=$(<"$PID_FILE")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  # The pid must still be our broker: after a machine restore a stale pid file can name
  # an unrelated process.
  kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'kafka\.Kafka' || return 1
  echo "$pid"
}

port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

topics_tool() {
  run_class org.apache.kafka.tools.TopicCommand --bootstrap-server "$BOOTSTRAP" "$@"
}

ensure_topics() {
  local existing spec name parts
  # Listing topics goes through the broker's metadata, so it succeeding means the broker
  # is really serving clients, not just accepting connections.
  # The admin client retries until the broker answers, for at most 60 s
  # (default.api.timeout.ms).
  if ! existing=$(topics_tool --list); then
    die "broker accepts connections but cannot list topics (see $KAFKA_DIR/server.log)"
  fi
  for spec in "${TOPICS[@]}"; do
    name=${spec%%:*}
    parts=${spec##*:}
    if grep -qx -- "$name" <<<"$existing"; then
      continue
    fi
    log "creating topic $name ($parts partitions)"
    topics_tool --create --if-not-exists --topic "$name" --partitions "$parts" \
      --replication-factor 1 >/dev/null
  done
}

cmd_start() {
  check_java
  cmd_fetch
  local pid
  if pid=$(broker_pid); then
    log "already running (pid $pid, $BOOTSTRAP)"
    return 0
  fi
  if port_open "$KAFKA_PORT" || port_open "$CONTROLLER_PORT"; then
    die "port $KAFKA_PORT or $CONTROLLER_PORT is already taken by another process; set KAFKA_PORT"
  fi
  write_config
  format_storage

  log "starting broker on $BOOTSTRAP (log ${KAFKA_DIR}/server.log)…"
  # setsid: the broker gets its own session, so a Ctrl-C or the end of the calling
  # shell does not take it down; only `stop` does.
  (
    cd "$KAFKA_DIR"
    exec setsid "$JAVA" -Xms256m -Xmx512m "${FAST_JVM[@]}" \
      -Dlog4j2.configurationFile="$KAFKA_DIR/log4j2.properties" \
      -Dkafka.logs.dir="$KAFKA_DIR" \
      -cp "$LIBS/*" kafka.Kafka "$KAFKA_DIR/server.properties"
  ) </dev/null >"$KAFKA_DIR/kafka.out" 2>&1 &
  pid=$!
  echo "$pid" >"$PID_FILE"

  # Wait for the client port; fail fast if the JVM dies (bad config, port clash, lock).
  local waited=0
  until port_open "$KAFKA_PORT"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$PID_FILE"
      tail -n 20 "$KAFKA_DIR/kafka.out" "$KAFKA_DIR/server.log" >&2 2>/dev/null || true
      die "broker exited during startup (see $KAFKA_DIR/server.log and kafka.out)"
    fi
    if (( waited >= START_TIMEOUT * 5 )); then
      die "broker did not open $BOOTSTRAP within ${START_TIMEOUT}s (see $KAFKA_DIR/server.log); it is still running as pid $pid"
    fi
    sleep 0.2
    waited=$((waited + 1))
  done
  log "port open, checking the broker answers and the topics exist…"
  ensure_topics
  log "ready on $BOOTSTRAP (pid $pid)"
}

cmd_stop() {
  local pid
  if ! pid=$(broker_pid); then
    rm -f "$PID_FILE"
    log "not running"
    return 0
  fi
  log "stopping (pid $pid)…"
  # SIGTERM runs Kafka's controlled shutdown (flushes logs, writes clean-shutdown
  # markers, so the next start skips log recovery).
  kill -TERM "$pid" 2>/dev/null || true
  local i
  for ((i = 0; i < STOP_TIMEOUT * 5; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "still running after ${STOP_TIMEOUT}s, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
  fi
  rm -f "$PID_FILE"
  log "stopped"
}

cmd_status() {
  local pid
  if pid=$(broker_pid); then
    log "running (pid $pid, $BOOTSTRAP)"
    return 0
  fi
  log "not running"
  return 3
}

[[ $# -ge 1 ]] || usage
case $1 in
  fetch) [[ $# -eq 1 ]] || usage; cmd_fetch ;;
  start) [[ $# -eq 1 ]] || usage; cmd_start ;;
  stop) [[ $# -eq 1 ]] || usage; cmd_stop ;;
  status) [[ $# -eq 1 ]] || usage; cmd_status ;;
  bootstrap) [[ $# -eq 1 ]] || usage; echo "$BOOTSTRAP" ;;
  run)
    [[ $# -ge 2 ]] || usage
    shift
    cmd_fetch
    run_class "$@"
    ;;
  *) usage ;;
esac
