"""What both halves of the Kubernetes executor share: API calls with retries, creation that
tolerates "already exists", and the owners' namespaces (created on first use with their quota,
limits and network policies, `podml.kubernetes.namespaces`). A user's quota comes from
`quota_lookup` (an administrator's override or the defaults, `podml.quotas`); a ResourceQuota that
exists already is merge-patched to it, once per process. So are existing NetworkPolicies, to the
`egress` settings (the platform's and the Ingress controller's namespaces, the object store's and
the package index's CIDRs and ports): a changed setting reaches every namespace the process uses.

Every call has a deadline (`request_timeout`, `PODML_KUBERNETES_REQUEST_TIMEOUT_SECONDS`): the
client itself sets none, and an API server that accepts a connection but never answers would hold
the reconciler for good. Retried with backoff (`RETRY_DELAYS`, or longer when a 429 says
`Retry-After`): 429, 5xx, timeouts and connection errors (refused, reset, a server that hangs
up). Not retried, reported as an `ExecutorError` the owner reads: 403 (a quota or policy refusal)
and 422 (an object the API server finds invalid); 409 on create means it exists (adopted).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, Final, TypeVar

import aiohttp
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from podml.executors.base import ExecutorError
from podml.kubernetes.labels import user_label
from podml.kubernetes.namespaces import Egress, Quota, namespace_name, user_namespace_objects

log = logging.getLogger(__name__)
T = TypeVar("T")
RETRY_DELAYS: Final = (0.2, 0.5, 1.0, 2.0)
REQUEST_TIMEOUT: Final = 30.0  # seconds
MAX_RETRY_AFTER: Final = 10.0  # seconds: the most of a server's Retry-After that is honoured
RETRYABLE: Final = frozenset({429, 500, 502, 503, 504})
MERGE_PATCH: Final = "application/merge-patch+json"
QuotaLookup = Callable[[str], Awaitable[Quota]]


def api_message(exc: ApiException) -> str:
    """The API server's own words for a refusal."""
    try:
        body = json.loads(exc.body or "{}")
    except ValueError:
        body = {}
    message = body.get("message") if isinstance(body, dict) else None
    return str(message or exc.reason or f"HTTP {exc.status}")


class KubeApi:
    def __init__(
        self,
        api: client.ApiClient,
        *,
        quota: Quota | None = None,
        quota_lookup: QuotaLookup | None = None,
        egress: Egress | None = None,
        retry_delays: tuple[float, ...] = RETRY_DELAYS,
        request_timeout: float = REQUEST_TIMEOUT,
    ) -> None:
        self.api = api
        self.core = client.CoreV1Api(api)
        self.batch = client.BatchV1Api(api)
        self.apps = client.AppsV1Api(api)
        self.autoscaling = client.AutoscalingV2Api(api)
        self.networking = client.NetworkingV1Api(api)
        self.quota = quota or Quota()
        # A user's own quota (an administrator's override, `podml.quotas`); `self.quota` without one.
        self.quota_lookup = quota_lookup
        self.egress = egress or Egress()
        self.retry_delays = retry_delays
        self.request_timeout = request_timeout
        self._namespaces: set[str] = set()

    async def call(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        for attempt, delay in enumerate((*self.retry_delays, None)):
            try:
                return await asyncio.wait_for(call(), self.request_timeout)
            except ApiException as exc:
                if exc.status not in RETRYABLE or delay is None:
                    raise
                delay = max(delay, retry_after(exc))
                log.warning(
                    "%s: %s (%s); retry %d in %.1f s", what, exc.status, api_message(exc), attempt + 1, delay
                )
            except (TimeoutError, OSError, aiohttp.ClientError) as exc:
                if delay is None:
                    answer = (
                        f"no answer in {self.request_timeout:g} s"
                        if isinstance(exc, TimeoutError)
                        else repr(exc)
                    )
                    raise ExecutorError(f"{what}: the Kubernetes API did not answer ({answer})") from exc
                log.warning("%s: %r; retry %d in %.1f s", what, exc, attempt + 1, delay)
            await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    async def ask(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        """`call` (retried as above); what the API server still refuses is an ExecutorError in its
        words: "could not <what>: <status> <message>"."""
        found = await self.ask_unless_absent(what, call, absent=frozenset())
        assert found is not None
        return found

    async def ask_unless_absent(
        self, what: str, call: Callable[[], Awaitable[T]], *, absent: frozenset[int] = frozenset({404})
    ) -> T | None:
        """`ask`, with None when the answer's status is in `absent` (404: no such object)."""
        try:
            return await self.call(what, call)
        except ApiException as exc:
            if exc.status in absent:
                return None
            raise ExecutorError(f"could not {what}: {exc.status} {api_message(exc)}") from exc

    async def create(self, what: str, create: Callable[[], Awaitable[Any]]) -> bool:
        """Create an object; False when it exists already (409). Refusals become ExecutorErrors."""
        try:
            await self.call(what, create)
        except ApiException as exc:
            if exc.status == 409:
                return False
            raise refused(what, exc) from exc
        return True

    async def ensure_namespace(self, owner_sub: str) -> str:
        """The owner's namespace, created (with its quota, limits and policies) on first use."""
        name = namespace_name(owner_sub)
        if name in self._namespaces:
            return name
        creators: dict[str, Callable[[Any], Awaitable[Any]]] = {
            "Namespace": self.core.create_namespace,
            "ResourceQuota": partial(self.core.create_namespaced_resource_quota, name),
            "LimitRange": partial(self.core.create_namespaced_limit_range, name),
            "NetworkPolicy": partial(self.networking.create_namespaced_network_policy, name),
        }
        quota = await self.quota_lookup(owner_sub) if self.quota_lookup is not None else self.quota
        for obj in user_namespace_objects(owner_sub, user_label(owner_sub), quota, self.egress):
            what = f"{obj['kind']} {obj['metadata']['name']}"
            created = await self.create(what, partial(creators[obj["kind"]], obj))
            if not created and obj["kind"] in ("ResourceQuota", "NetworkPolicy"):
                await self._reapply(name, obj)
        self._namespaces.add(name)
        return name

    async def _reapply(self, namespace: str, obj: dict[str, Any]) -> None:
        """Bring an existing ResourceQuota or NetworkPolicy to the current settings (best effort):
        a merge patch of its spec (a quota's `hard`, a policy's rule lists, replaced whole; limits a
        cluster administrator added to the quota stay)."""
        kind, name, body = obj["kind"], obj["metadata"]["name"], {"spec": obj["spec"]}
        # Any: the client's `_content_type` is untyped.
        patch: Any = (
            self.core.patch_namespaced_resource_quota
            if kind == "ResourceQuota"
            else self.networking.patch_namespaced_network_policy
        )
        try:
            await self.call(f"{kind} {name}", lambda: patch(name, namespace, body, _content_type=MERGE_PATCH))
        except (ApiException, ExecutorError) as exc:
            log.warning("could not re-apply %s %s of namespace %s: %s", kind, name, namespace, exc)

    async def close(self) -> None:
        await self.api.close()


def retry_after(exc: ApiException) -> float:
    """The pause a throttling API server asks for (`Retry-After`, in seconds; API Priority and
    Fairness sends one with 429), at most `MAX_RETRY_AFTER`; 0 when it asks for none."""
    value = exc.headers.get("Retry-After") if exc.headers is not None else None
    try:
        return min(max(float(value), 0.0), MAX_RETRY_AFTER) if value is not None else 0.0
    except ValueError:  # an HTTP date: rare from an API server; our own back-off then
        return 0.0


def refused(what: str, exc: ApiException) -> ExecutorError:
    if exc.status in (403, 422):
        return ExecutorError(f"Kubernetes refused the {what}: {api_message(exc)}")
    return ExecutorError(f"could not write the {what}: {exc.status} {api_message(exc)}")
