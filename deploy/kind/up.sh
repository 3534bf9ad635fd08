#!/usr/bin/env bash
# PodML on a local kind cluster, end to end:
#   1. build the three images from docker/ (platform, podml-trainer, kubeserve-base);
#   2. create the kind cluster (deploy/kind/kind-config.yaml), or reuse it when it exists;
#   3. load the images into its node;
#   4. install ingress-nginx (its kind manifest), then PostgreSQL, MinIO and the bucket
#      (deploy/kind/manifests/), with their Secrets;
#   5. `helm upgrade --install` charts/podml with deploy/kind/values.yaml, and wait for it.
# Run it again at will: every step is idempotent (the Secrets are created once and kept).
#
# Needs docker (a running engine), kind (>= 0.24, whose CNI enforces NetworkPolicies), kubectl and
# helm (3 or 4) on PATH, and the network for the base images and the ingress-nginx manifest.
# Settings (environment):
#   KIND_CLUSTER_NAME      the cluster (default podml; kind itself reads it too)
#   KIND_NODE_IMAGE        a kindest/node image to pin the Kubernetes version (default: kind's own)
#   SKIP_BUILD=1           load the images already built instead of building them
#   INGRESS_NGINX_VERSION  the ingress-nginx release whose kind manifest is applied
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$ROOT/deploy/kind"
CLUSTER="${KIND_CLUSTER_NAME:-podml}"
CONTEXT="kind-$CLUSTER"
# The chart's release, PostgreSQL and MinIO live here (deploy/kind/manifests name it); the chart
# tells the platform, whose users' NetworkPolicies admit the gateway from this namespace only.
NAMESPACE=podml
RELEASE=podml
URL=http://localhost
INGRESS_NGINX_VERSION="${INGRESS_NGINX_VERSION:-controller-v1.13.1}"
INGRESS_NGINX_MANIFEST="https://raw.githubusercontent.com/kubernetes/ingress-nginx/$INGRESS_NGINX_VERSION/deploy/static/provider/kind/deploy.yaml"

# image=Dockerfile, built with the repository as the context. The names are the ones
# deploy/kind/values.yaml gives the chart (tests/cluster/test_kind_recipe.py checks they agree).
IMAGES=(
  "podml:0.1.0=docker/platform.Dockerfile"
  "podml-trainer:0.1.0=docker/trainer.Dockerfile"
  "kubeserve-base:0.1.0=docker/kubeserve-base.Dockerfile"
)

say() { printf '\n==> %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }
k() { kubectl --context "$CONTEXT" "$@"; }

check_tools() {
  say "Checking the tools"
  local tool
  for tool in docker kind kubectl helm; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool is not on PATH (see deploy/kind/README.md)"
  done
  docker info >/dev/null 2>&1 || die "docker is installed but its engine does not answer (is it running?)"
  local version major minor
  version="$(kind version | sed -n 's/^kind v\([0-9]*\)\.\([0-9]*\).*/\1 \2/p')"
  if [[ -n "$version" ]]; then
    read -r major minor <<<"$version"
    if ((major == 0 && minor < 24)); then
      printf 'warning: kind %s.%s: NetworkPolicies are enforced only from kind 0.24 on\n' "$major" "$minor" >&2
    fi
  fi
}

build_images() {
  local entry image dockerfile
  for entry in "${IMAGES[@]}"; do
    image="${entry%%=*}"
    dockerfile="${entry#*=}"
    if [[ "${SKIP_BUILD:-0}" == "1" ]]; then
      docker image inspect "$image" >/dev/null 2>&1 || die "SKIP_BUILD=1 but $image is not built"
      continue
    fi
    say "Building $image from $dockerfile"
    docker build -f "$ROOT/$dockerfile" -t "$image" "$ROOT"
  done
}

create_cluster() {
  if kind get clusters 2>/dev/null | grep -qx "$CLUSTER"; then
    say "Reusing the kind cluster $CLUSTER"
  else
    say "Creating the kind cluster $CLUSTER"
    local args=(create cluster --name "$CLUSTER" --config "$HERE/kind-config.yaml" --wait 120s)
    if [[ -n "${KIND_NODE_IMAGE:-}" ]]; then
      args+=(--image "$KIND_NODE_IMAGE")
    fi
    kind "${args[@]}"
  fi
  k cluster-info >/dev/null
}

load_images() {
  local entry images=()
  for entry in "${IMAGES[@]}"; do
    images+=("${entry%%=*}")
  done
  say "Loading ${images[*]} into the node"
  kind load docker-image --name "$CLUSTER" "${images[@]}"
}

install_ingress_nginx() {
  say "Installing ingress-nginx ($INGRESS_NGINX_VERSION)"
  k apply -f "$INGRESS_NGINX_MANIFEST"
  # The platform's Ingress raises nginx's body size limit for dataset uploads itself
  # (ingress.annotations in deploy/kind/values.yaml); the controller keeps its defaults.
  k -n ingress-nginx rollout status deployment/ingress-nginx-controller --timeout=300s
  k -n ingress-nginx wait --for=condition=ready pod \
    --selector=app.kubernetes.io/component=controller --timeout=300s
}

random_hex() {
  od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'
}

ensure_namespace() {
  k create namespace "$NAMESPACE" --dry-run=client -o yaml | k apply -f -
}

ensure_secrets() {
  # Created once: PostgreSQL keeps the password of its first start, tokens the key they were signed with.
  if ! k -n "$NAMESPACE" get secret podml-postgres >/dev/null 2>&1; then
    say "Creating the Secrets podml-postgres and podml"
    local password secret_key
    password="$(random_hex 24)"
    secret_key="$(random_hex 32)"
    k -n "$NAMESPACE" create secret generic podml-postgres --from-literal=password="$password"
    k -n "$NAMESPACE" delete secret podml --ignore-not-found
    k -n "$NAMESPACE" create secret generic podml \
      --from-literal=secret-key="$secret_key" \
      --from-literal=database-url="postgresql+asyncpg://podml:$password@postgres.$NAMESPACE.svc.cluster.local:5432/podml"
  fi
  if ! k -n "$NAMESPACE" get secret podml-s3 >/dev/null 2>&1; then
    say "Creating the Secret podml-s3"
    local access_key secret_access_key
    access_key="podml-$(random_hex 6)"
    secret_access_key="$(random_hex 24)"
    k -n "$NAMESPACE" create secret generic podml-s3 \
      --from-literal=access-key-id="$access_key" \
      --from-literal=secret-access-key="$secret_access_key"
  fi
}

install_data_stores() {
  say "Installing PostgreSQL and MinIO"
  k apply -f "$HERE/manifests/postgres.yaml" -f "$HERE/manifests/minio.yaml"
  k -n "$NAMESPACE" rollout status statefulset/postgres --timeout=300s
  k -n "$NAMESPACE" rollout status statefulset/minio --timeout=300s
  say "Creating the bucket"
  k -n "$NAMESPACE" delete job podml-create-bucket --ignore-not-found
  k apply -f "$HERE/manifests/bucket.yaml"
  if ! k -n "$NAMESPACE" wait --for=condition=complete job/podml-create-bucket --timeout=300s; then
    k -n "$NAMESPACE" logs job/podml-create-bucket --tail=50 || true
    die "the bucket could not be created"
  fi
}

install_platform() {
  say "Installing charts/podml as $RELEASE in $NAMESPACE"
  helm --kube-context "$CONTEXT" upgrade --install "$RELEASE" "$ROOT/charts/podml" \
    --namespace "$NAMESPACE" -f "$HERE/values.yaml"
  # A new image under the same tag is a new image to the node: restart to pick it up.
  k -n "$NAMESPACE" rollout restart deployment/"$RELEASE"-api deployment/"$RELEASE"-worker
  local deployment
  for deployment in "$RELEASE"-api "$RELEASE"-worker; do
    if ! k -n "$NAMESPACE" rollout status deployment/"$deployment" --timeout=600s; then
      k -n "$NAMESPACE" describe deployment "$deployment" | tail -n 20 || true
      k -n "$NAMESPACE" logs deployment/"$deployment" --tail=50 || true
      die "$deployment did not become ready"
    fi
  done
}

wait_for_url() {
  say "Waiting for $URL/readyz"
  local _
  for _ in $(seq 1 60); do
    if curl -fsS -o /dev/null "$URL/readyz" 2>/dev/null; then
      return 0
    fi
    sleep 2
  done
  die "$URL/readyz does not answer: kubectl --context $CONTEXT -n $NAMESPACE get pods,ingress"
}

main() {
  check_tools
  build_images
  create_cluster
  load_images
  install_ingress_nginx
  ensure_namespace
  ensure_secrets
  install_data_stores
  install_platform
  if command -v curl >/dev/null 2>&1; then
    wait_for_url
  fi
  say "PodML is up at $URL"
  cat <<EOF
    web UI        $URL/
    API docs      $URL/docs
    kubectl       kubectl --context $CONTEXT -n $NAMESPACE get pods
    user spaces   kubectl --context $CONTEXT get namespaces -l app.kubernetes.io/managed-by=podml
    end to end    deploy/kind/e2e.sh
    tear down     deploy/kind/down.sh
EOF
}

main "$@"
