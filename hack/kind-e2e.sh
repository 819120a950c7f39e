#!/usr/bin/env bash
# make kind-e2e: the e2e suite (tests/e2e) on a kind cluster, as a user with Docker runs it.
#
# Builds the runtime and operator images with docker from images/Containerfile (FROM the public
# Python slim image), creates the kind cluster of kind-cluster.yaml unless it exists, loads the
# images into its nodes, runs PostgreSQL, Redis and MinIO in the namespace club-servers
# (config/kind/, credentials generated once into the Secret club-servers), and runs the suite with
# the CLUB_E2E_* variables naming that cluster, its images and those servers
# (tests/support/e2e_cluster.py). The cluster is left running; `kind delete cluster --name NAME`
# removes it.
#
# Settings: KIND_CLUSTER (default club-platform), E2E_IMAGE_TAG (default e2e), PYTEST_ARGS.
set -euo pipefail

cd "$(dirname "$0")/.."
CLUSTER=${KIND_CLUSTER:-club-platform}
TAG=${E2E_IMAGE_TAG:-e2e}
RUNTIME_IMAGE="club-runtime:${TAG}"
OPERATOR_IMAGE="club-operator:${TAG}"
SERVERS=club-servers
PYTHON=${PYTHON:-.venv/bin/python}

say() { printf '==> %s\n' "$*"; }
fail() { printf 'kind-e2e: %s\n' "$*" >&2; exit 1; }

for tool in docker kind kubectl; do
  command -v "$tool" >/dev/null || fail "$tool is not on PATH: the kind path needs docker, kind and kubectl"
done
[[ -x $PYTHON ]] || fail "$PYTHON is missing: run make venv"
[[ $TAG != latest ]] || fail "E2E_IMAGE_TAG=latest would make the kubelet pull from a registry; pick another tag"

say "Images: docker build -f images/Containerfile (targets runtime and operator)"
docker build -f images/Containerfile --target runtime -t "$RUNTIME_IMAGE" .
docker build -f images/Containerfile --target operator -t "$OPERATOR_IMAGE" .

if kind get clusters 2>/dev/null | grep -qx "$CLUSTER"; then
  say "kind cluster $CLUSTER: already there"
else
  say "kind cluster $CLUSTER: creating it from kind-cluster.yaml"
  kind create cluster --name "$CLUSTER" --config kind-cluster.yaml --wait 180s
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
KUBECONFIG_FILE="$work/kubeconfig"
kind get kubeconfig --name "$CLUSTER" >"$KUBECONFIG_FILE"
kube() { kubectl --kubeconfig "$KUBECONFIG_FILE" "$@"; }

say "Loading the images into the cluster's nodes"
kind load docker-image --name "$CLUSTER" "$RUNTIME_IMAGE" "$OPERATOR_IMAGE"

say "PostgreSQL, Redis and MinIO in the namespace $SERVERS (config/kind/)"
kube get namespace "$SERVERS" >/dev/null 2>&1 || kube create namespace "$SERVERS"
if ! kube -n "$SERVERS" get secret club-servers >/dev/null 2>&1; then
  token() { "$PYTHON" -c 'import secrets; print(secrets.token_hex(24))'; }
  # Values through a file, not the command line.
  umask 077
  printf 'postgres-password=%s\nredis-password=%s\ns3-access-key=club-admin\ns3-secret-key=%s\n' \
    "$(token)" "$(token)" "$(token)" >"$work/servers.env"
  kube -n "$SERVERS" create secret generic club-servers --from-env-file="$work/servers.env" >/dev/null
fi
kube -n "$SERVERS" apply -f config/kind/
for server in postgres redis minio; do
  kube -n "$SERVERS" rollout status "deployment/$server" --timeout=300s
done

secret() { kube -n "$SERVERS" get secret club-servers -o "jsonpath={.data.$1}" | base64 -d; }
in_cluster="$SERVERS.svc.cluster.local"
export CLUB_E2E_KUBECONFIG="$KUBECONFIG_FILE"
export CLUB_E2E_RUNTIME_IMAGE="$RUNTIME_IMAGE"
export CLUB_E2E_OPERATOR_IMAGE="$OPERATOR_IMAGE"
CLUB_E2E_DATABASE_ADMIN_DSN="postgresql://postgres:$(secret postgres-password)@postgres.$in_cluster:5432/postgres"
CLUB_E2E_S3_ACCESS_KEY=$(secret s3-access-key)
CLUB_E2E_S3_SECRET_KEY=$(secret s3-secret-key)
CLUB_E2E_REDIS_URL="redis://:$(secret redis-password)@redis.$in_cluster:6379/0"
export CLUB_E2E_DATABASE_ADMIN_DSN CLUB_E2E_S3_ACCESS_KEY CLUB_E2E_S3_SECRET_KEY CLUB_E2E_REDIS_URL
export CLUB_E2E_S3_ENDPOINT="http://minio.$in_cluster:9000"

say "tests/e2e on kind cluster $CLUSTER"
# test_demo.py is `make demo`, the local stack's own; every other e2e test takes this cluster.
# shellcheck disable=SC2086 # PYTEST_ARGS is a list of arguments
"$PYTHON" -m pytest tests/e2e --ignore=tests/e2e/test_demo.py ${PYTEST_ARGS:-}
