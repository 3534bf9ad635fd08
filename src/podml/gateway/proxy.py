"""The prediction gateway's data path: pick a ready replica, forward the call, count it.

Balancing is least-outstanding-requests (as Envoy's LEAST_REQUEST and KServe's activator do): the
replica with the fewest calls in flight from this gateway gets the next one, ties rotating. A call
that cannot reach its replica (connection refused or reset: a replica that just died or stopped) is
retried once on another one; predictions are pure functions of the body, so a retry is safe. The
replica's own answers, 4xx included, pass through unchanged; with no ready replica the answer is
503 with the deployment's status and reason, and a `Retry-After`.
"""

from __future__ import annotations

import itertools
import json
import logging
import time
from dataclasses import dataclass

from podml.executors.base import ServingExecutor
from podml.gateway.access import Target
from podml.gateway.stats import StatsRecorder
from podml.gateway.upstream import UpstreamPool, UpstreamUnavailable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    content_type: str
    headers: dict[str, str] | None = None


def _error(status: int, detail: str, v2: bool, headers: dict[str, str] | None = None) -> Answer:
    key = "error" if v2 else "detail"
    return Answer(status, json.dumps({key: detail}).encode(), "application/json", headers)


class Proxy:
    def __init__(self, serving: ServingExecutor, stats: StatsRecorder, timeout: float) -> None:
        self.serving = serving
        self.stats = stats
        self.timeout = timeout
        self._outstanding: dict[str, int] = {}
        self._turn = itertools.count()
        self.pool = UpstreamPool(timeout)

    async def close(self) -> None:
        self.pool.close()

    def _pick(self, urls: list[str], tried: set[str]) -> str | None:
        """The candidate with the fewest calls in flight; among equals, the next in turn."""
        best: str | None = None
        fewest = 1 << 30
        count = len(urls)
        offset = next(self._turn) % count if count else 0
        for i in range(count):
            url = urls[(offset + i) % count]
            if url in tried:
                continue
            busy = self._outstanding.get(url, 0)
            if busy < fewest:
                best, fewest = url, busy
        return best

    async def forward(
        self,
        target: Target,
        method: str,
        path: str,
        query: str,
        body: bytes,
        content_type: str | None,
        v2: bool = False,
    ) -> Answer:
        started = time.perf_counter()
        answer = await self._forward(target, method, path, query, body, content_type, v2)
        self.stats.record(target.id, answer.status, (time.perf_counter() - started) * 1000.0)
        return answer

    async def _forward(
        self,
        target: Target,
        method: str,
        path: str,
        query: str,
        body: bytes,
        content_type: str | None,
        v2: bool,
    ) -> Answer:
        urls = self.serving.endpoints(target.id)
        if not urls:
            return self._unavailable(target, v2)
        tried: set[str] = set()
        last_error = ""
        target_path = f"{path}?{query}" if query else path
        for _ in range(min(len(urls), 3)):
            url = self._pick(urls, tried)
            if url is None:
                break
            tried.add(url)
            self._outstanding[url] = self._outstanding.get(url, 0) + 1
            try:
                reply = await self.pool.request(url, method, target_path, body, content_type)
                if reply.status == 503 and len(tried) < len(urls):
                    last_error = "a replica was not ready"  # stopping or restarting: try another
                    continue
                return Answer(reply.status, reply.body, reply.content_type)
            except UpstreamUnavailable as exc:
                last_error = str(exc)
                log.info("deployment %s: replica unreachable (%s); trying another", target.id, last_error)
            except TimeoutError:
                return _error(504, f"the model did not answer within {self.timeout:g} s", v2)
            finally:
                left = self._outstanding.get(url, 1) - 1
                if left > 0:
                    self._outstanding[url] = left
                else:
                    self._outstanding.pop(url, None)
        if not self.serving.endpoints(target.id):
            return self._unavailable(target, v2)
        return _error(502, f"could not reach a replica of this deployment ({last_error})", v2)

    def _unavailable(self, target: Target, v2: bool) -> Answer:
        why = f"{target.status}: {target.reason}" if target.reason else target.status
        return _error(503, f"no ready replica for this deployment ({why})", v2, {"Retry-After": "1"})
