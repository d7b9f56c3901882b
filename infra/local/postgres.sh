#!/usr/bin/env bash
# infra/local/postgres.sh — a private PostgreSQL 15 cluster for local development and tests.
#
# Usage: infra/local/postgres.sh start|stop|crash|status|url|dir
#
# Environment:
#   PG_DIR   where the cluster lives (default .data/postgres; a relative path is taken
#            from the repository root). Holds data/ (the cluster), run/ (the unix socket)
#            and postgres.log.
#   PG_PORT  TCP port on 127.0.0.1 (default 5433, so it never clashes with a system
#            PostgreSQL on 5432).
#   PG_BIN   PostgreSQL server binaries (default /usr/lib/postgresql/15/bin).
#   PG_EXTRA_CONF  extra postgresql.conf lines, applied at every start (make bench
#            turns on track_commit_timestamp and pg_stat_statements with it).
#
# The cluster keeps its data between runs; delete PG_DIR to start afresh.
# `url` prints the admin URL: postgres://mskafka@127.0.0.1:$PG_PORT/mskafka?sslmode=disable
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

PG_DIR=${PG_DIR:-.data/postgres}
[[ $PG_DIR == /* ]] || PG_DIR=$ROOT/$PG_DIR
PG_PORT=${PG_PORT:-5433}
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}

log() { echo "postgres: $*" >&2; }
die() { echo "postgres: error: $*" >&2; exit 1; }

# --- who runs the server -----------------------------------------------------------
# initdb and pg_ctl refuse to run as root. As root we run them as an unprivileged user:
# Debian's `postgres` user if the system has one, else we create it as a system user.
# Anyone else runs the cluster as themselves.
if [[ $(id -u) -eq 0 ]]; then
  PG_USER=postgres
else
  PG_USER=$(id -un)
fi

# reachable DIR: can PG_USER enter DIR (or, where it does not exist yet, its
# nearest existing parent) and every directory above it?
reachable() {
  local d=$1
  while [[ ! -e $d ]]; do d=$(dirname "$d"); done
  runuser -u "$PG_USER" -- test -x "$d"
}

# A checkout under a closed directory (such as /root, mode 700) is out of the
# server user's reach. The cluster then lives under /var/tmp instead, at a
# path derived from PG_DIR, so that start, url and stop all find it again.
if [[ $(id -u) -eq 0 ]] && id -u "$PG_USER" >/dev/null 2>&1 && ! reachable "$PG_DIR"; then
  PG_DIR=/var/tmp/ms-kafka-postgres/$(printf %s "$PG_DIR" | md5sum | cut -c1-12)
fi

DATA=$PG_DIR/data
SOCK_DIR=$PG_DIR/run
LOG_FILE=$PG_DIR/postgres.log
ROLE=mskafka
DB=mskafka


usage() {
  echo "usage: $0 start|stop|crash|status|url|dir" >&2
  exit 2
}

ensure_pg_user() {
  [[ $(id -u) -eq 0 ]] || return 0
  if ! id -u "$PG_USER" >/dev/null 2>&1; then
    log "creating system user $PG_USER to run the server (initdb refuses root)"
    useradd --system --user-group --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin "$PG_USER"
  fi
}

# Run a PostgreSQL binary as PG_USER, from a directory that user can enter
# (the caller's cwd may be /root, which the server user cannot read).
as_pg() {
  if [[ $(id -u) -eq 0 ]]; then
    (cd "$PG_DIR" && runuser -u "$PG_USER" -- "$@")
  else
    (cd "$PG_DIR" && "$@")
  fi
}

# As root: give PG_USER the cluster directory (and only that; parents are left alone),
# and fail clearly when a parent directory is closed to it, e.g. a repository under /root.
prepare_dir() {
  mkdir -p "$PG_DIR"
  [[ $(id -u) -eq 0 ]] || return 0
  if [[ $(stat -c %U "$PG_DIR") != "$PG_USER" ]] ||
     [[ -e $DATA && $(stat -c %U "$DATA") != "$PG_USER" ]]; then
    chown -R "$PG_USER:" "$PG_DIR"
  fi
  if ! runuser -u "$PG_USER" -- test -w "$PG_DIR" -a -x "$PG_DIR"; then
    # Walk down from / so that we name the first closed directory, not a child of it.
    local d="" part
    local -a parts
    IFS=/ read -r -a parts <<<"${PG_DIR#/}"
    for part in "${parts[@]}"; do
      d=$d/$part
      if ! runuser -u "$PG_USER" -- test -x "$d"; then
        die "user $PG_USER cannot enter $d (mode $(stat -c %A "$d")), so it cannot reach $PG_DIR.
  Put the repository somewhere $PG_USER can traverse, set PG_DIR to such a place,
  or allow it with: chmod o+x $d"
      fi
    done
    die "user $PG_USER cannot write to $PG_DIR"
  fi
}

check_bin() {
  [[ -x $PG_BIN/pg_ctl ]] ||
    die "no PostgreSQL binaries in $PG_BIN (apt-get install postgresql-15, or set PG_BIN)"
}

is_running() {
  [[ -f $DATA/PG_VERSION ]] || return 1
  as_pg "$PG_BIN/pg_ctl" status -D "$DATA" >/dev/null 2>&1
}

init_cluster() {
  [[ -f $DATA/PG_VERSION ]] && return 0
  # A unix socket path is limited to 107 bytes; a deep checkout would otherwise fail at
  # start with an obscure message.
  local sock="$SOCK_DIR/.s.PGSQL.$PG_PORT"
  (( ${#sock} <= 107 )) || die "socket path too long (${#sock} > 107 bytes): $sock; use a shorter PG_DIR"

  log "initialising cluster in $DATA (first run only)…"
  rm -rf "$DATA"   # a half-made cluster from an interrupted initdb
  # Authentication is `trust` for local socket and 127.0.0.1/::1 connections: this is a
  # private development cluster that listens on loopback only, and the tests and the
  # functions connect without passwords. Never expose it beyond this machine.
  as_pg "$PG_BIN/initdb" -D "$DATA" -U postgres --auth=trust \
    --encoding=UTF8 --no-locale >"$PG_DIR/initdb.log" 2>&1 ||
    { cat "$PG_DIR/initdb.log" >&2; die "initdb failed (log above, also in $PG_DIR/initdb.log)"; }
  # Our settings go in a file of their own that start rewrites, so that a changed
  # PG_PORT or PG_DIR takes effect at the next start.
  echo "include_if_exists = 'local.conf'" >>"$DATA/postgresql.conf"
}

write_local_conf() {
  # Small settings for a 2-core development machine; fsync stays on so that a killed
  # machine does not leave a corrupt cluster behind.
  cat >"$DATA/local.conf" <<EOF
# Written by infra/local/postgres.sh at every start; edits here are overwritten.
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$SOCK_DIR'
max_connections = 100
shared_buffers = 64MB
fsync = on
logging_collector = off
log_min_messages = warning
log_connections = off
${PG_EXTRA_CONF:-}
EOF
  [[ $(id -u) -ne 0 ]] || chown "$PG_USER:" "$DATA/local.conf"
}

psql_admin() {
  "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$SOCK_DIR" -p "$PG_PORT" -U postgres -d postgres "$@"
}

ensure_role_and_db() {
  # Idempotent, so a first start interrupted between initdb and here heals itself.
  local have_role have_db
  have_role=$(psql_admin -tAc "SELECT 1 FROM pg_roles WHERE rolname = '$ROLE'")
  if [[ $have_role != 1 ]]; then
    log "creating superuser role $ROLE"
    psql_admin -c "CREATE ROLE $ROLE WITH LOGIN SUPERUSER"
  fi
  have_db=$(psql_admin -tAc "SELECT 1 FROM pg_database WHERE datname = '$DB'")
  if [[ $have_db != 1 ]]; then
    log "creating database $DB"
    psql_admin -c "CREATE DATABASE $DB OWNER $ROLE"
  fi
}

cmd_start() {
  check_bin
  ensure_pg_user
  prepare_dir
  if is_running; then
    log "already running (port $PG_PORT, data $DATA)"
    ensure_role_and_db
    return 0
  fi
  init_cluster
  mkdir -p "$SOCK_DIR"
  [[ $(id -u) -ne 0 ]] || chown "$PG_USER:" "$SOCK_DIR"
  write_local_conf
  log "starting on 127.0.0.1:$PG_PORT (log $LOG_FILE)…"
  if ! as_pg "$PG_BIN/pg_ctl" start -w -t 60 -D "$DATA" -l "$LOG_FILE" >/dev/null; then
    tail -n 20 "$LOG_FILE" >&2 || true
    die "server did not start (log above, also in $LOG_FILE)"
  fi
  ensure_role_and_db
  log "ready: $(cmd_url)"
}

cmd_stop() {
  if ! is_running; then
    log "not running"
    return 0
  fi
  log "stopping…"
  # fast: roll back open transactions and disconnect clients, then a clean checkpoint.
  as_pg "$PG_BIN/pg_ctl" stop -w -t 60 -m fast -D "$DATA" >/dev/null
  log "stopped"
}

# crash: stop the way a power cut would (pg_ctl stop -m immediate: no checkpoint,
# connections cut); the next start runs crash recovery. For fault drills.
cmd_crash() {
  if ! is_running; then
    log "not running"
    return 0
  fi
  log "stopping at once (immediate mode)…"
  as_pg "$PG_BIN/pg_ctl" stop -w -t 60 -m immediate -D "$DATA" >/dev/null
  log "stopped"
}

cmd_status() {
  if is_running; then
    log "running (port $PG_PORT, data $DATA)"
    return 0
  fi
  log "not running"
  return 3
}

cmd_url() {
  echo "postgres://$ROLE@127.0.0.1:$PG_PORT/$DB?sslmode=disable"
}

[[ $# -eq 1 ]] || usage
case $1 in
  start) cmd_start ;;
  stop) cmd_stop ;;
  crash) cmd_crash ;;
  status) cmd_status ;;
  url) cmd_url ;;
  dir) echo "$PG_DIR" ;;   # where the cluster really lives (see the /var/tmp fallback above)
  *) usage ;;
esac
