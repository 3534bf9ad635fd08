"""`Informer`: a list-then-watch cache of one kind of PodML object (client-go's reflector and store,
in small), so observing a job or a deployment costs no API call in the steady state.

* It lists the objects carrying a label (across namespaces), then watches from the list's
  resourceVersion. Each watch asks the server to end it after `resync_seconds` (and gives up on its
  own a little later, should a server or a proxy keep a dead stream open); the informer then lists
  again: the periodic resync, which repairs anything a watch missed.
* A watch the server refuses or breaks (410 Gone: the resourceVersion is too old; 403: the role
  may list but not watch; a dropped connection) is followed by a relist: 410 at once, anything else
  after `retry_seconds`. Until a list succeeds again, `synced` is False and readers go to the API.
* Readers use the cache as a hint, never as proof of absence: an object missing from it (created a
  moment ago, before its ADDED event) is read from the API by the caller.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import aiohttp
from kubernetes_asyncio import watch
from kubernetes_asyncio.client.exceptions import ApiException

from podml.executors.kubernetes_api import KubeApi, api_message

log = logging.getLogger(__name__)
Key = tuple[str, str]  # (namespace, name)


def _key(obj: Any) -> Key:
    return (obj.metadata.namespace or "", obj.metadata.name)


class Informer:
    def __init__(
        self,
        kube: KubeApi,
        what: str,
        list_call: Callable[..., Awaitable[Any]],
        *,
        label: str,
        resync_seconds: float = 30.0,
        retry_seconds: float = 2.0,
    ) -> None:
        self.kube = kube
        self.what = what
        self.list_call = list_call
        self.label = label
        self.resync_seconds = resync_seconds
        self.retry_seconds = retry_seconds
        self.synced = False
        self.lists = 0  # how many times it has listed (a resync is one)
        self._objects: dict[Key, Any] = {}
        self._index: dict[str, dict[Key, Any]] = {}  # label value -> its objects
        self.version = 0  # bumped on every change (readers may cache what they derive)
        self._task: asyncio.Task[None] | None = None

    # ---- reading ---------------------------------------------------------------------------------

    def get(self, namespace: str, name: str) -> Any | None:
        return self._objects.get((namespace, name)) if self.synced else None

    def select(self, value: str) -> Iterator[Any]:
        """The cached objects whose label (`self.label`) equals `value`."""
        yield from list(self._index.get(value, {}).values())

    # ---- running ---------------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name=f"informer {self.what}")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.synced = False

    async def _run(self) -> None:
        while True:
            try:
                version = await self._list()
                await self._watch(version)
            except ApiException as exc:
                if exc.status == 410:  # the list's version expired before the watch began: relist
                    continue
                self.synced = False
                log.warning("watching %s: %s %s; relisting", self.what, exc.status, api_message(exc))
                await asyncio.sleep(self.retry_seconds)
            except Exception as exc:  # a connection problem, a malformed event: relist later
                self.synced = False
                # Only the connection errors' words: other errors may quote an object, and a pod's
                # env holds signed URLs.
                detail = str(exc) if isinstance(exc, OSError | aiohttp.ClientError) else type(exc).__name__
                log.warning("watching %s: %s; relisting", self.what, detail)
                await asyncio.sleep(self.retry_seconds)

    async def _list(self) -> str | None:
        listed = await self.kube.call(f"list {self.what}", lambda: self.list_call(label_selector=self.label))
        self._objects = {}
        self._index = {}
        for obj in listed.items:
            if self.label in (obj.metadata.labels or {}):
                self._put(obj)
        self.version += 1
        self.synced = True
        self.lists += 1
        meta = listed.metadata
        return meta.resource_version if meta is not None else None

    async def _watch(self, version: str | None) -> None:
        arguments: dict[str, Any] = {
            "label_selector": self.label,
            "timeout_seconds": max(1, round(self.resync_seconds)),
            "allow_watch_bookmarks": True,
        }
        if version:
            arguments["resource_version"] = version
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.resync_seconds + min(5.0, self.resync_seconds)):
                async with watch.Watch().stream(self.list_call, **arguments) as stream:
                    async for event in stream:
                        self._apply(event)

    def _apply(self, event: dict[str, Any]) -> None:
        kind, obj = event["type"], event["object"]
        if kind == "BOOKMARK" or not hasattr(obj, "metadata"):
            return
        if self.label not in (obj.metadata.labels or {}):
            return
        if kind == "DELETED":
            self._drop(_key(obj))
        else:  # ADDED, MODIFIED
            self._put(obj)
        self.version += 1

    def _put(self, obj: Any) -> None:
        key = _key(obj)
        self._drop(key)  # its label may have changed
        self._objects[key] = obj
        self._index.setdefault(obj.metadata.labels[self.label], {})[key] = obj

    def _drop(self, key: Key) -> None:
        old = self._objects.pop(key, None)
        if old is not None:
            value = old.metadata.labels[self.label]
            same = self._index.get(value, {})
            same.pop(key, None)
            if not same:
                self._index.pop(value, None)
