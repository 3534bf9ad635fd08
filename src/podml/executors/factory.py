"""Builds the executor the settings ask for (the two Kubernetes halves share one API client)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from podml.config import Settings
from podml.executors.base import Executor, ServingExecutor
from podml.executors.local import LocalExecutor

if TYPE_CHECKING:
    from podml.executors.kubernetes_api import KubeApi
    from podml.kubernetes.namespaces import Egress

log = logging.getLogger(__name__)
_kube: dict[int, KubeApi] = {}


def egress(settings: Settings) -> Egress:
    """The users' NetworkPolicies' namespaces, CIDRs and ports, from the `PODML_KUBERNETES_*` settings."""
    from podml.kubernetes.namespaces import Egress

    return Egress(
        object_store_cidrs=settings.kubernetes_object_store_cidrs,
        object_store_ports=settings.kubernetes_object_store_ports,
        index_cidrs=settings.kubernetes_package_index_cidrs,
        index_ports=settings.kubernetes_package_index_ports,
        platform_namespace=settings.kubernetes_platform_namespace,
        ingress_namespace=settings.kubernetes_ingress_namespace,
    )


def kube_api(settings: Settings) -> KubeApi:
    """One `KubeApi` per settings object: in-cluster credentials, or `PODML_KUBERNETES_API_URL`."""
    found = _kube.get(id(settings))
    if found is None:
        from kubernetes_asyncio import client, config

        from podml.executors.kubernetes_api import KubeApi
        from podml.kubernetes.namespaces import Quota

        boundaries = egress(settings)
        warning = boundaries.object_store_is_anywhere()
        if warning:
            log.warning("Kubernetes: %s", warning)
        configuration = client.Configuration()
        if settings.kubernetes_api_url:
            configuration.host = settings.kubernetes_api_url.rstrip("/")
        else:
            config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        quota = Quota(
            cpu=settings.user_cpu_quota, memory=settings.user_memory_quota, pods=settings.user_pod_quota
        )
        found = _kube[id(settings)] = KubeApi(
            client.ApiClient(configuration),
            quota=quota,
            egress=boundaries,
            request_timeout=settings.kubernetes_request_timeout_seconds,
        )
    return found


def forget_kube_api(settings: Settings) -> None:
    """Drop the settings' client once the executors closed it: an app created again with the same
    settings (in one process) gets a new one, not the closed one."""
    _kube.pop(id(settings), None)


def build_executor(settings: Settings) -> Executor:
    if settings.executor == "local":
        return LocalExecutor(settings.executions_dir, environments_dir=settings.environments_dir)
    from podml.executors.kubernetes import KubernetesExecutor
    from podml.executors.kubernetes_api import KubeApi

    kube = kube_api(settings)
    assert isinstance(kube, KubeApi)
    return KubernetesExecutor(
        kube,
        trainer_image=settings.trainer_image,
        pull_policy=settings.image_pull_policy,
        resync_seconds=settings.kubernetes_resync_seconds,
    )


def build_serving(settings: Settings) -> ServingExecutor:
    if settings.executor == "local":
        from podml.executors.local_serving import LocalServing

        return LocalServing(
            settings.executions_dir,
            scale_down_delay=settings.scale_down_delay_seconds,
            environments_dir=settings.environments_dir,
        )
    from podml.executors.kubernetes_api import KubeApi
    from podml.executors.kubernetes_serving import KubernetesServing

    kube = kube_api(settings)
    assert isinstance(kube, KubeApi)
    return KubernetesServing(
        kube,
        serving_image=settings.serving_image,
        pull_policy=settings.image_pull_policy,
        resync_seconds=settings.kubernetes_resync_seconds,
        ingress_class=settings.kubernetes_ingress_class,
        ingress_host=settings.kubernetes_ingress_host,
    )
