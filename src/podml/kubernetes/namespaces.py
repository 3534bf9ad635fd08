"""A user's namespace `user-<id>` and what isolates it: created on first use.

* Pod Security `restricted`, enforced (labels on the namespace);
* a ResourceQuota (the brief's defaults: 2 CPU, 4Gi, 5 pods; per-user overrides by an admin)
  counting requests and limits, so a job or deployment over it is refused by the API server with
  a reason the platform shows;
* a LimitRange giving containers without resources the replica defaults (nothing PodML creates
  lacks them, but a quota on limits refuses such pods otherwise);
* NetworkPolicies: no ingress except from the platform's namespace (the gateway) to model servers,
  and from the Ingress controller's namespace to public deployments' model servers (pods labelled
  `podml/public: "true"`, the target of their Ingress); no egress except DNS and the object store,
  plus the package index for pods labelled `podml/needs-index: "true"` (a deployment whose model
  declares requirements). The namespaces, CIDRs and ports are settings (`Egress`, built by
  `podml.executors.factory.kube_api` from the `PODML_KUBERNETES_*` variables).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any, Final

from podml.kubernetes.labels import LABEL_USER

LABEL_NEEDS_INDEX: Final = "podml/needs-index"
# "true" on a public deployment's model-server pods, "false" on a private one's: the value is always
# written, so that the merge patch of a deployment turned private replaces "true".
LABEL_PUBLIC: Final = "podml/public"
MODEL_SERVER_NAME: Final = "model-serving"  # the model servers' app.kubernetes.io/name
QUOTA_NAME: Final = "podml-quota"


@dataclass(frozen=True)
class Quota:
    """A namespace's hard limits: CPU and memory (requests and limits alike) and pods."""

    cpu: str = "2"
    memory: str = "4Gi"
    pods: int = 5


@dataclass(frozen=True)
class Egress:
    """The users' network boundaries: where pods may connect (the object store and the package
    index, as CIDRs and TCP ports) and which namespaces may connect to model servers (the platform's,
    and the Ingress controller's to public ones)."""

    object_store_cidrs: tuple[str, ...] = ("0.0.0.0/0",)
    object_store_ports: tuple[int, ...] = (443, 9000)
    index_cidrs: tuple[str, ...] = ("0.0.0.0/0",)
    index_ports: tuple[int, ...] = (443,)
    platform_namespace: str = "podml"
    ingress_namespace: str = "ingress-nginx"

    def __post_init__(self) -> None:
        # An empty `to` or `ports` in a NetworkPolicy rule means "any": never write one.
        for name in ("object_store_cidrs", "object_store_ports", "index_cidrs", "index_ports"):
            if not getattr(self, name):
                raise ValueError(f"Egress.{name} is empty: it would admit every address or port")

    def object_store_is_anywhere(self) -> str | None:
        """A warning when the object store's rule admits every address: every pod, a user's training
        code included, may then reach any host on those ports (the package index too, if a port is
        shared). Narrow it to the store's CIDRs where they are known (MinIO in the cluster, a VPC
        endpoint for S3)."""
        if not any(ipaddress.ip_network(c, strict=False).prefixlen == 0 for c in self.object_store_cidrs):
            return None
        ports = ", ".join(str(p) for p in self.object_store_ports)
        return (
            f"the users' pods may reach any host on TCP {ports} (the object store's egress CIDRs admit "
            "every address): set PODML_KUBERNETES_OBJECT_STORE_CIDRS (chart: executor.egress.objectStore) "
            "to the object store's addresses"
        )


def namespace_name(user_id: str) -> str:
    cleaned = "".join(c if c.isalnum() else "-" for c in user_id.lower()).strip("-")
    return f"user-{cleaned}"[:63].rstrip("-")


def _labels(user: str) -> dict[str, str]:
    return {"app.kubernetes.io/managed-by": "podml", LABEL_USER: user}


def namespace(name: str, user: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": name,
            "labels": {
                **_labels(user),
                "pod-security.kubernetes.io/enforce": "restricted",
                "pod-security.kubernetes.io/enforce-version": "latest",
                "pod-security.kubernetes.io/warn": "restricted",
                "pod-security.kubernetes.io/audit": "restricted",
            },
        },
    }


def resource_quota(name: str, user: str, quota: Quota) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": QUOTA_NAME, "namespace": name, "labels": _labels(user)},
        "spec": {
            "hard": {
                "requests.cpu": quota.cpu,
                "limits.cpu": quota.cpu,
                "requests.memory": quota.memory,
                "limits.memory": quota.memory,
                "pods": str(quota.pods),
            }
        },
    }


def limit_range(name: str, user: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": {"name": "podml-defaults", "namespace": name, "labels": _labels(user)},
        "spec": {
            "limits": [
                {
                    "type": "Container",
                    "default": {"cpu": "1", "memory": "1Gi"},
                    "defaultRequest": {"cpu": "100m", "memory": "256Mi"},
                }
            ]
        },
    }


def _peers(cidrs: tuple[str, ...], ports: tuple[int, ...]) -> dict[str, Any]:
    return {
        "to": [{"ipBlock": {"cidr": cidr}} for cidr in cidrs],
        "ports": [{"protocol": "TCP", "port": port} for port in ports],
    }


def network_policies(name: str, user: str, egress: Egress) -> list[dict[str, Any]]:
    dns = {
        "to": [{"namespaceSelector": {}, "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
    }

    def policy(policy_name: str, spec: dict[str, Any]) -> dict[str, Any]:
        return {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": policy_name, "namespace": name, "labels": _labels(user)},
            "spec": spec,
        }

    def from_namespace(namespace: str) -> dict[str, Any]:
        return {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}}

    http = [{"protocol": "TCP", "port": "http"}]
    model_servers = {"app.kubernetes.io/name": MODEL_SERVER_NAME}
    return [
        policy("default-deny", {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}),
        policy(
            "allow-dns-and-object-store",
            {
                "podSelector": {},
                "policyTypes": ["Egress"],
                "egress": [dns, _peers(egress.object_store_cidrs, egress.object_store_ports)],
            },
        ),
        policy(
            "allow-package-index",
            {
                "podSelector": {"matchLabels": {LABEL_NEEDS_INDEX: "true"}},
                "policyTypes": ["Egress"],
                "egress": [_peers(egress.index_cidrs, egress.index_ports)],
            },
        ),
        policy(
            "allow-gateway-to-model-servers",
            {
                "podSelector": {"matchLabels": model_servers},
                "policyTypes": ["Ingress"],
                "ingress": [{"from": [from_namespace(egress.platform_namespace)], "ports": http}],
            },
        ),
        # A public deployment's Ingress sends the controller's traffic straight to its model server.
        policy(
            "allow-ingress-controller-to-public-model-servers",
            {
                "podSelector": {"matchLabels": {**model_servers, LABEL_PUBLIC: "true"}},
                "policyTypes": ["Ingress"],
                "ingress": [{"from": [from_namespace(egress.ingress_namespace)], "ports": http}],
            },
        ),
    ]


def user_namespace_objects(
    user_id: str, user: str, quota: Quota | None = None, egress: Egress | None = None
) -> list[dict[str, Any]]:
    """Everything created with a user's namespace, in order (the namespace first)."""
    name = namespace_name(user_id)
    return [
        namespace(name, user),
        resource_quota(name, user, quota or Quota()),
        limit_range(name, user),
        *network_policies(name, user, egress or Egress()),
    ]
