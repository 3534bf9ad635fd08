#!/usr/bin/env bash
# Deletes the kind cluster of deploy/kind/up.sh, with everything in it (the platform, PostgreSQL's
# and MinIO's volumes, the users' namespaces). The images stay in the local Docker engine.
set -euo pipefail

CLUSTER="${KIND_CLUSTER_NAME:-podml}"
command -v kind >/dev/null 2>&1 || { echo "error: kind is not on PATH" >&2; exit 1; }
if kind get clusters 2>/dev/null | grep -qx "$CLUSTER"; then
  kind delete cluster --name "$CLUSTER"
else
  echo "no kind cluster named $CLUSTER"
fi
