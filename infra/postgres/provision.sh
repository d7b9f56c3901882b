#!/bin/sh
# provision.sh — the Postgres pod's init step, run by its "provision"
# container on every start (so a changed password in a Secret takes effect):
# one login role per function, owning a schema of the same name that only it
# can use — what shared/db.Provision does for the local stack. Idempotent.
#
# Reads: POSTGRES_DB, PGUSER and PGPASSWORD (the administrator), and
# <ROLE>_PASSWORD for each role named in ROLES. Connects to the server in
# the same pod over loopback, which Istio's sidecar leaves alone.
set -eu

export PGHOST=127.0.0.1 PGDATABASE="$POSTGRES_DB"
until pg_isready -q; do
  echo "provision: waiting for postgres"
  sleep 2
done

for role in $ROLES; do
  var=$(echo "$role" | tr '[:lower:]' '[:upper:]')_PASSWORD
  password=$(printenv "$var") || { echo "provision: $var is not set" >&2; exit 1; }
  # psql quotes :"role" as an identifier and :'password' as a literal.
  psql -X -q -v ON_ERROR_STOP=1 -v role="$role" -v password="$password" <<'SQL'
SET client_min_messages = warning;
SELECT format('CREATE ROLE %I LOGIN', :'role')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'role') \gexec
ALTER ROLE :"role" WITH LOGIN PASSWORD :'password';
CREATE SCHEMA IF NOT EXISTS :"role" AUTHORIZATION :"role";
REVOKE ALL ON SCHEMA :"role" FROM PUBLIC;
SQL
  echo "provision: role and schema $role ready"
done
# Nobody but the owners may create things in public.
psql -X -q -v ON_ERROR_STOP=1 -c 'REVOKE CREATE ON SCHEMA public FROM PUBLIC'

touch /tmp/provisioned
echo "provision: done"
# Stay up, so the pod is Ready (readiness probe: /tmp/provisioned) and this
# step runs again only when the pod restarts.
trap 'exit 0' TERM INT
while :; do sleep 3600 & wait $!; done
