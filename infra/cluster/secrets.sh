#!/usr/bin/env bash
# infra/cluster/secrets.sh — writes the env files from which infra/kustomization.yaml
# generates the Secrets: the Postgres administrator and one database role per
# function, each with a random password. Passwords never appear in a manifest
# and these files are git-ignored.
#
# Usage: infra/cluster/secrets.sh [--from-cluster] [DIR]
#   DIR             where to write (default infra/secrets)
#   --from-cluster  reuse the passwords of Secrets that already exist in the
#                   namespace ms-kafka (kubectl), so that a second `make deploy`
#                   — from this or another checkout — keeps the database usable
# A file that already exists is kept as it is.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
NAMESPACE=ms-kafka
DB=mskafka
HOST=postgres.$NAMESPACE.svc.cluster.local
from_cluster=false
if [[ ${1:-} == --from-cluster ]]; then from_cluster=true; shift; fi
DIR=${1:-$ROOT/infra/secrets}
mkdir -p "$DIR"

random() { od -An -tx1 -N24 /dev/urandom | tr -d ' \n'; }

# existing SECRET: the password stored in the cluster, or nothing.
existing() {
  $from_cluster || return 0
  kubectl -n "$NAMESPACE" get secret "$1" -o jsonpath='{.data.password}' 2>/dev/null | base64 -d 2>/dev/null || true
}

# write SECRET USER [URL]: SECRET.env with username, password and (for a
# function) the URL it connects with. sslmode=disable: inside the mesh the
# Istio sidecars encrypt the connection (mTLS, infra/mesh).
write() {
  local secret=$1 user=$2 file=$DIR/$1.env password
  [[ -e $file ]] && return 0
  password=$(existing "$secret")
  [[ -n $password ]] || password=$(random)
  umask 077
  {
    echo "username=$user"
    echo "password=$password"
    if [[ ${3:-} == url ]]; then
      echo "url=postgres://$user:$password@$HOST:5432/$DB?sslmode=disable"
    fi
  } >"$file"
  echo "secrets: wrote $file"
}

write postgres-admin postgres
# Each function's role is named after its schema (see shared/db.Provision).
write order-db orders url
write shipping-db shipping url
write invoicing-db invoicing url
