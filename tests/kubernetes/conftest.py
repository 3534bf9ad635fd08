"""kmock 0.8's Kubernetes API emulator on loopback, with the real `kubernetes_asyncio` client over
real HTTP. Its known gaps are fixed here, each with a comment; nothing patches the client.
`kubernetes_emulator` is also what the root conftest's `live` fixture runs the platform on when it
is parametrised with the Kubernetes executor."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any, cast

import kmock
import pytest
from kmock._internal import apps, parsing
from kmock._internal.rendering import Request, Response
from kubernetes_asyncio.client import ApiClient, Configuration

_parse_path = parsing.parse_path
_guess_k8s = parsing.guess_k8s
RESOURCES = (
    "v1/namespaces",
    "v1/pods",
    "v1/events",
    "v1/secrets",
    "v1/services",
    "v1/resourcequotas",
    "v1/limitranges",
    "batch/v1/jobs",
    "apps/v1/deployments",
    "autoscaling/v2/horizontalpodautoscalers",
    "networking.k8s.io/v1/networkpolicies",
    "networking.k8s.io/v1/ingresses",
)


def _parse_path_with_namespaces(path: str) -> parsing.ParsedPath:
    # Gap 1: kmock parses `/api/v1/namespaces[/<name>]` as "namespace <name> of no resource" and
    # answers 500 (create, list) or 404 (read, delete). Namespaces are cluster-scoped objects of
    # the core group: parse them as such.
    parts = path.strip("/").split("/")
    if parts[:3] == ["api", "v1", "namespaces"] and len(parts) in (3, 4):
        return parsing.ParsedPath("", "v1", "namespaces", None, parts[3] if len(parts) == 4 else None, None)
    return _parse_path(path)


def _guess_k8s_any_watch_spelling(
    k8s: parsing.ParsedPath, method: Any, query: dict[str, str]
) -> kmock.action | None:
    # Gap 3: kmock takes a request for a watch only when it says `watch=true`; the Python client
    # writes `watch=True`, and the API server accepts both. Without this a watch is served as a
    # list: one JSON document, which the client's watch cannot read as events.
    if str(query.get("watch", "")).lower() in ("true", "1"):
        query = {**query, "watch": "true"}
    return _guess_k8s(k8s, method, query)


# Gap 4 (not fixed, not needed): kmock has no PUT (replace). PodML never replaces an object; it
# creates, merge-patches and deletes. Nor does kmock end a watch after `timeoutSeconds`; the
# informer ends its own watches a little after that (`kubernetes_watch`), so the resync still runs.


def refuse(
    k8s: kmock.KubernetesEmulator,
    code: int,
    reason: str,
    message: str,
    times: int = 1,
    retry_after: float | None = None,
) -> Callable[[Request], Any]:
    """A reaction answering the next `times` creates or patches with the API server's Status.

    Gap 5: an API server refuses (429, 5xx, 403, 422) before it stores anything, but kmock stores
    the object (or the patch) before any injected reaction answers, so a retried create would meet
    409 and pass by adoption. The refused write is undone here: a retry meets what a cluster holds."""
    left = [times]

    def answer(request: Request) -> Any:
        if left[0] == 0:
            return NotImplemented  # the emulator answers from now on
        left[0] -= 1
        assert request.resource is not None
        if request.action == kmock.action.CREATE:
            del k8s.objects[request.resource, request.namespace, request.data["metadata"]["name"]]
        else:  # a patch: its version goes
            del k8s.objects[request.resource, request.namespace, str(request.name), -1]
        status = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure"}
        payload = {**status, "code": code, "reason": reason, "message": message}
        headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
        return Response(status=code, payload=payload, headers=headers)

    return answer


@asynccontextmanager
async def kubernetes_emulator() -> AsyncIterator[tuple[kmock.KubernetesEmulator, str]]:
    """kmock with its gaps fixed, serving on loopback: (the emulator, its URL)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(parsing, "parse_path", _parse_path_with_namespaces)
        patch.setattr(parsing, "guess_k8s", _guess_k8s_any_watch_spelling)
        async with kmock.KubernetesEmulator() as emulator, apps.Server(emulator) as server:
            # Gap 2: a list of a kind nobody has created yet answers 404 ("not declared") where a
            # cluster answers an empty list: declare every kind PodML uses.
            for kind in RESOURCES:
                emulator.resources[kind] = cast(Any, {})
            yield emulator, str(server.url).rstrip("/")


@contextmanager
def kubernetes_emulator_thread() -> Iterator[tuple[kmock.KubernetesEmulator, str]]:
    """`kubernetes_emulator` on an event loop of its own, in a thread: an API server that answers
    at its own pace, not when the platform under test (on the caller's loop) lets it."""
    started = threading.Event()
    found: list[tuple[kmock.KubernetesEmulator, str, asyncio.AbstractEventLoop, asyncio.Event]] = []

    async def serve() -> None:
        stop = asyncio.Event()
        async with kubernetes_emulator() as (emulator, url):
            found.append((emulator, url, asyncio.get_running_loop(), stop))
            started.set()
            await stop.wait()

    thread = threading.Thread(target=asyncio.run, args=(serve(),), name="kubernetes-api", daemon=True)
    thread.start()
    started.wait(30)
    assert found, "the emulator did not start"
    emulator, url, loop, stop = found[0]
    try:
        yield emulator, url
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(30)


@pytest.fixture
async def k8s_server() -> AsyncIterator[tuple[kmock.KubernetesEmulator, str]]:
    async with kubernetes_emulator() as running:
        yield running


@pytest.fixture
def k8s(k8s_server: tuple[kmock.KubernetesEmulator, str]) -> kmock.KubernetesEmulator:
    return k8s_server[0]


@pytest.fixture
async def kube_api(k8s_server: tuple[kmock.KubernetesEmulator, str]) -> AsyncIterator[ApiClient]:
    async with ApiClient(Configuration(host=k8s_server[1])) as api:
        yield api
