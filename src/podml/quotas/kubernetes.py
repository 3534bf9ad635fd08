"""A user's ResourceQuota (`podml-quota` in `user-<sub>`), written and read for the quota routes.

A change is a merge patch of `spec.hard` only: limits someone else added to the object (a cluster
administrator's `services`, say) stay. A namespace that does not exist yet is left alone: `KubeApi`
creates it with the user's quota on first use.
"""

from __future__ import annotations

from typing import Any

from kubernetes_asyncio.client.exceptions import ApiException

from podml.executors.base import ExecutorError
from podml.executors.kubernetes_api import MERGE_PATCH, KubeApi, api_message
from podml.kubernetes.labels import user_label
from podml.kubernetes.namespaces import QUOTA_NAME, Quota, namespace_name, resource_quota
from podml.quotas.cluster import ClusterState
from podml.quotas.schemas import same_quantity

NOT_CREATED = "no namespace yet: it is created with this quota on the user's first job or deployment"


def _hard(owner_sub: str, quota: Quota) -> dict[str, str]:
    obj = resource_quota(namespace_name(owner_sub), user_label(owner_sub), quota)
    hard: dict[str, str] = obj["spec"]["hard"]
    return hard


def _observed(namespace: str, obj: Any, wanted: dict[str, str]) -> ClusterState:
    hard: dict[str, str] = dict((obj.spec.hard if obj.spec else None) or {})
    used = dict(obj.status.used) if obj.status is not None and obj.status.used else None
    differ = sorted(key for key, value in wanted.items() if not same_quantity(hard.get(key, ""), value))
    if differ:
        found = ", ".join(f"{key}={hard.get(key, '(none)')}" for key in differ)
        message = f"the cluster has {found}; PUT the quota again to re-apply it"
        return ClusterState(namespace, "out_of_sync", message, hard, used)
    return ClusterState(namespace, "applied", None, hard, used)


class KubernetesQuotas:
    """`QuotaCluster` on Kubernetes, through the executor's `KubeApi` (its retries and client)."""

    def __init__(self, kube: KubeApi) -> None:
        self.kube = kube

    async def apply(self, owner_sub: str, quota: Quota) -> ClusterState:
        namespace = namespace_name(owner_sub)
        wanted = _hard(owner_sub, quota)
        body = {"spec": {"hard": wanted}}
        core = self.kube.core
        try:
            # Any: the client's stubs do not declare `_content_type`.
            patch: Any = core.patch_namespaced_resource_quota
            patched = await self.kube.call(
                f"ResourceQuota {QUOTA_NAME}",
                lambda: patch(QUOTA_NAME, namespace, body, _content_type=MERGE_PATCH),
            )
        except ApiException as exc:
            if exc.status == 404:
                return ClusterState(namespace, "not_created", NOT_CREATED)
            return self._failed(namespace, f"{exc.status} {api_message(exc)}")
        except ExecutorError as exc:
            return self._failed(namespace, str(exc))
        return _observed(namespace, patched, wanted)

    async def observe(self, owner_sub: str, quota: Quota) -> ClusterState:
        namespace = namespace_name(owner_sub)
        try:
            found = await self.kube.call(
                f"ResourceQuota {QUOTA_NAME}",
                lambda: self.kube.core.read_namespaced_resource_quota(QUOTA_NAME, namespace),
            )
        except ApiException as exc:
            if exc.status == 404:
                return ClusterState(namespace, "not_created", NOT_CREATED)
            return ClusterState(namespace, "failed", f"could not read the ResourceQuota: {api_message(exc)}")
        except ExecutorError as exc:
            return ClusterState(namespace, "failed", f"could not read the ResourceQuota: {exc}")
        return _observed(namespace, found, _hard(owner_sub, quota))

    @staticmethod
    def _failed(namespace: str, why: str) -> ClusterState:
        return ClusterState(
            namespace,
            "failed",
            f"the change is saved, but the cluster's ResourceQuota was not updated ({why}); send it "
            "again to retry (each platform process also re-applies it when it first uses the namespace)",
        )
