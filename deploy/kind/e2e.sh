#!/usr/bin/env bash
# The real-cluster end-to-end tests (tests/cluster) against the platform that deploy/kind/up.sh
# installed: a user registers over HTTP, uploads a CSV, trains (a Job `train-<id>` in their
# namespace), deploys the version (a Deployment `model-<id>`), predicts and deletes it.
# The tests read the cluster through KUBECONFIG (a kubeconfig of the kind cluster, written to a
# temporary file) and reach the platform at PODML_CLUSTER_URL. Extra arguments go to pytest.
# Needs the test extras in .venv (`make install-test`), or PYTEST pointing at a pytest that has them.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CLUSTER="${KIND_CLUSTER_NAME:-podml}"
PYTEST="${PYTEST:-$ROOT/.venv/bin/pytest}"
export PODML_CLUSTER_URL="${PODML_CLUSTER_URL:-http://localhost}"

command -v kind >/dev/null 2>&1 || { echo "error: kind is not on PATH" >&2; exit 1; }
[[ -x "$PYTEST" ]] || { echo "error: $PYTEST not found: run 'make install-test' first" >&2; exit 1; }
kind get clusters 2>/dev/null | grep -qx "$CLUSTER" \
  || { echo "error: no kind cluster $CLUSTER: run deploy/kind/up.sh first" >&2; exit 1; }

KUBECONFIG="$(mktemp)"
export KUBECONFIG
trap 'rm -f "$KUBECONFIG"' EXIT
kind get kubeconfig --name "$CLUSTER" >"$KUBECONFIG"

cd "$ROOT"
"$PYTEST" tests/cluster -v -p no:cacheprovider "$@"
