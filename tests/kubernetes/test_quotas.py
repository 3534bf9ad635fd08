"""Per-user quotas on Kubernetes, against kmock: a namespace is created with the user's override,
and changing an override merge-patches the ResourceQuota of a namespace that exists (at once, with
the API server's refusal reported rather than lost). Last, the same through the platform's HTTP API
with PODML_EXECUTOR=kubernetes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import kmock
from kmock._internal.rendering import Response
from kubernetes_asyncio import client
from kubernetes_asyncio.client import ApiClient

from podml.executors import factory
from podml.executors.kubernetes_api import KubeApi
from podml.kubernetes.labels import user_label
from podml.kubernetes.namespaces import QUOTA_NAME, Quota, namespace_name, resource_quota
from podml.main import create_app
from podml.quotas.kubernetes import KubernetesQuotas
from tests.conftest import make_settings
from tests.kubernetes.manifests import problems
from tests.quotas.helpers import new_admin, quota_url
from tests.support.api import Api

OWNER = "8f14e45f-ceea-467a-9575-8f5b1c3c1e2d"
OTHER = "0b3d1e9a-2f4c-4d6e-8a1b-9c0d2e3f4a5b"
RAISED = Quota(cpu="8", memory="16Gi", pods=20)
QUOTAS = kmock.resource("", "v1", "resourcequotas")


def _lookup(quotas: dict[str, Quota]) -> Callable[[str], Awaitable[Quota]]:
    async def quota_of(owner_sub: str) -> Quota:
        return quotas.get(owner_sub, Quota())

    return quota_of


def _hard(quota: Quota) -> dict[str, str]:
    expected = resource_quota(namespace_name(OWNER), user_label(OWNER), quota)
    assert problems(expected) == []  # what PodML writes is a valid ResourceQuota
    hard: dict[str, str] = expected["spec"]["hard"]
    return hard


async def _read(api: ApiClient, owner: str = OWNER) -> Any:
    return await client.CoreV1Api(api).read_namespaced_resource_quota(QUOTA_NAME, namespace_name(owner))


async def test_a_namespace_is_created_with_the_users_override(kube_api: ApiClient) -> None:
    kube = KubeApi(kube_api, retry_delays=(0.01,), quota_lookup=_lookup({OWNER: RAISED}))
    assert await kube.ensure_namespace(OWNER) == namespace_name(OWNER)
    await kube.ensure_namespace(OTHER)
    quota = await _read(kube_api)
    assert quota.spec.hard == _hard(RAISED)
    assert quota.spec.hard == {
        "requests.cpu": "8",
        "limits.cpu": "8",
        "requests.memory": "16Gi",
        "limits.memory": "16Gi",
        "pods": "20",
    }
    assert quota.metadata.labels["podml/user"] == OWNER
    assert (await _read(kube_api, OTHER)).spec.hard == _hard(Quota())  # no override: the defaults


async def test_changing_an_override_patches_the_existing_resource_quota(
    k8s: kmock.KubernetesEmulator, kube_api: ApiClient
) -> None:
    overrides: dict[str, Quota] = {}
    kube = KubeApi(kube_api, retry_delays=(0.01,), quota_lookup=_lookup(overrides))
    namespace = await kube.ensure_namespace(OWNER)
    assert (await _read(kube_api)).spec.hard == _hard(Quota())
    core = client.CoreV1Api(kube_api)
    # A cluster administrator's own limit on the object, and the usage the quota controller reports.
    await core.patch_namespaced_resource_quota(QUOTA_NAME, namespace, {"spec": {"hard": {"services": "3"}}})
    used = {
        "requests.cpu": "1",
        "limits.cpu": "2",
        "requests.memory": "1Gi",
        "limits.memory": "2Gi",
        "pods": "2",
    }
    await core.patch_namespaced_resource_quota_status(QUOTA_NAME, namespace, {"status": {"used": used}})

    overrides[OWNER] = RAISED
    cluster = KubernetesQuotas(kube)
    before = len(k8s["post", QUOTAS]), len(k8s["patch", QUOTAS])
    state = await cluster.apply(OWNER, RAISED)
    assert (state.namespace, state.status, state.message) == (namespace, "applied", None)
    assert state.used == used
    assert (await _read(kube_api)).spec.hard == {**_hard(RAISED), "services": "3"}  # merge patch: kept
    assert (len(k8s["post", QUOTAS]), len(k8s["patch", QUOTAS])) == (before[0], before[1] + 1)  # one patch
    request = list(k8s["patch", QUOTAS])[-1]
    assert request.headers["Content-Type"] == "application/merge-patch+json"
    assert request.data == {"spec": {"hard": _hard(RAISED)}}  # the limits only: nothing else is touched
    assert (await cluster.observe(OWNER, RAISED)).status == "applied"

    # Back to the defaults (the override removed).
    state = await cluster.apply(OWNER, Quota())
    assert state.status == "applied"
    assert (await _read(kube_api)).spec.hard == {**_hard(Quota()), "services": "3"}
    observed = await cluster.observe(OWNER, RAISED)  # what the platform now wants differs
    assert observed.status == "out_of_sync"
    assert observed.message is not None
    assert "limits.cpu=2" in observed.message
    assert (observed.hard or {})["pods"] == "5"
    assert observed.used == used


async def test_a_namespace_that_does_not_exist_yet_gets_the_override_when_created(
    kube_api: ApiClient,
) -> None:
    overrides = {OWNER: RAISED}
    kube = KubeApi(kube_api, retry_delays=(0.01,), quota_lookup=_lookup(overrides))
    cluster = KubernetesQuotas(kube)
    state = await cluster.apply(OWNER, RAISED)
    assert (state.status, state.namespace) == ("not_created", namespace_name(OWNER))
    assert (await cluster.observe(OWNER, RAISED)).status == "not_created"
    assert (await client.CoreV1Api(kube_api).list_namespace()).items == []  # the patch created nothing
    await kube.ensure_namespace(OWNER)
    assert (await _read(kube_api)).spec.hard == _hard(RAISED)


async def test_a_refused_patch_is_reported(k8s: kmock.KubernetesEmulator, kube_api: ApiClient) -> None:
    kube = KubeApi(kube_api, retry_delays=(0.01, 0.01), quota_lookup=_lookup({}))
    await kube.ensure_namespace(OWNER)
    cluster = KubernetesQuotas(kube)
    status = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 403, "reason": "Forbidden"}
    message = (
        'resourcequotas "podml-quota" is forbidden: User "system:serviceaccount:podml:podml" cannot patch'
    )
    k8s["patch", QUOTAS] << Response(status=403, payload={**status, "message": message})
    state = await cluster.apply(OWNER, RAISED)
    assert state.status == "failed"
    assert state.message is not None
    assert "the change is saved, but the cluster's ResourceQuota was not updated (403 " in state.message
    assert message in state.message
    assert len(k8s["patch", QUOTAS]) == 1  # a refusal is not retried
    # (kmock stores a write even when a reaction answers it, so the object is not checked here;
    # a ResourceQuota the cluster holds otherwise is `out_of_sync`, as the test above shows.)


async def test_server_errors_are_retried(k8s: kmock.KubernetesEmulator, kube_api: ApiClient) -> None:
    kube = KubeApi(kube_api, retry_delays=(0.01, 0.01, 0.01), quota_lookup=_lookup({}))
    await kube.ensure_namespace(OWNER)
    flaky = iter([Response(status=500), Response(status=503)])
    # Twice a server error, then the emulator itself (NotImplemented: "this reaction does not apply").
    k8s["patch", QUOTAS] << (lambda: next(flaky, NotImplemented))
    state = await KubernetesQuotas(kube).apply(OWNER, RAISED)
    assert (state.status, state.hard) == ("applied", _hard(RAISED))
    assert len(k8s["patch", QUOTAS]) == 3
    assert (await _read(kube_api)).spec.hard == _hard(RAISED)


async def test_another_process_re_applies_the_quota_when_it_first_uses_the_namespace(
    kube_api: ApiClient,
) -> None:
    """Repairs an update that failed: the ResourceQuota exists, the override is newer."""
    await KubeApi(kube_api, quota_lookup=_lookup({})).ensure_namespace(OWNER)
    assert (await _read(kube_api)).spec.hard == _hard(Quota())
    restarted = KubeApi(kube_api, quota_lookup=_lookup({OWNER: RAISED}))
    await restarted.ensure_namespace(OWNER)
    assert (await _read(kube_api)).spec.hard == _hard(RAISED)


async def test_the_admin_api_on_kubernetes(
    k8s_server: tuple[kmock.KubernetesEmulator, str], kube_api: ApiClient, tmp_path: Path
) -> None:
    """create_app wires the lookup into the executor's KubeApi and the cluster into the routes."""
    settings = make_settings(
        tmp_path / "data",
        f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}",
        executor="kubernetes",
        kubernetes_api_url=k8s_server[1],
    )
    app = create_app(settings)
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as http,
        ):
            await _admin_api_on_kubernetes(Api(http), app, kube_api)
    finally:
        factory._kube.clear()  # the API client belongs to this test's emulator


async def _admin_api_on_kubernetes(api: Api, app: Any, kube_api: ApiClient) -> None:
    admin, user = await new_admin(api, app), await api.new_user()
    url = quota_url(user.sub)
    namespace = namespace_name(user.sub)

    before = (await api.client.get(url, headers=admin.headers)).json()
    assert before["cluster"] == {
        "namespace": namespace,
        "status": "not_created",
        "message": "no namespace yet: it is created with this quota on the user's first job or deployment",
        "hard": None,
        "used": None,
    }
    response = await api.client.put(url, headers=admin.headers, json={"cpu": "4", "pods": 8})
    assert response.status_code == 200, response.text
    assert response.json()["cluster"]["status"] == "not_created"

    # The user's first job or deployment: the executor creates the namespace with the override.
    await factory.kube_api(app.state.settings).ensure_namespace(user.sub)
    wanted = Quota(cpu="4", memory="4Gi", pods=8)
    hard = resource_quota(namespace, user_label(user.sub), wanted)["spec"]["hard"]
    assert (await _read(kube_api, user.sub)).spec.hard == hard
    got = (await api.client.get(url, headers=admin.headers)).json()
    assert (got["cluster"]["status"], got["cluster"]["hard"]) == ("applied", hard)

    # A change takes effect at once: the existing ResourceQuota is patched.
    changed = await api.client.put(url, headers=admin.headers, json={"memory": "12Gi"})
    assert changed.status_code == 200, changed.text
    cluster = changed.json()["cluster"]
    assert (cluster["status"], cluster["hard"]["limits.memory"], cluster["hard"]["pods"]) == (
        "applied",
        "12Gi",
        "5",
    )
    assert (await _read(kube_api, user.sub)).spec.hard["limits.cpu"] == "2"

    reset = (await api.client.delete(url, headers=admin.headers)).json()
    assert (reset["source"], reset["cluster"]["status"]) == ("default", "applied")
    assert (await _read(kube_api, user.sub)).spec.hard == _hard(Quota())
