"""One replica of a local deployment, and the kubelet's probes of it.

- A launch is watched by its own task: `/ready` is polled every 20 ms until the model is loaded (then
  the replica is `ready`), or the loader's error comes back (the replica is killed and `failed` with
  that error). While the replica serves, the same task reads `/metrics` for the autoscaler, apart
  from the probes, since a saturated replica answers late and its concurrency is what counts.
- The periodic probe: resident memory over the limit is an OOM kill; `/health` is liveness (killed
  after `liveness_threshold` failures in a row); `/ready` is readiness (out of the traffic until it
  answers 200 again). A probe that gets no answer in time while the process is visibly busy (it
  reads, writes or uses CPU meanwhile) proves nothing either way: requests queue before it.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from podml.executors.base import ReplicaPhase, ReplicaStatus, ServingSpec
from podml.executors.local_serving_autoscale import RateMeter, busy_seconds
from podml.executors.local_serving_process import ReplicaProcess, activity, rss_bytes
from podml.resources import QuantityError, memory_bytes

_MIB = 1024 * 1024
SCRAPE_TIMEOUT = 5.0


@dataclass
class Replica:
    index: int
    spec: ServingSpec  # what it runs (its revision's environment, refreshed by same-revision applies)
    home: Path
    log_path: Path
    process: ReplicaProcess | None = None
    phase: ReplicaPhase = ReplicaPhase.STARTING
    restarts: int = 0
    reason: str | None = None  # the last failure (kept once it serves again, like Kubernetes' lastState)
    started_at: float | None = None
    retiring: bool = False  # taken out of traffic for good: stopping, then forgotten
    kill_reason: str | None = None  # why the platform killed it (instead of "killed by signal 9")
    load_error: str | None = None  # the loader's error, until a start succeeds
    failures: int = 0  # failed starts in a row
    backoff: float = 1.0
    restart_at: float | None = None
    stop_deadline: float | None = None
    ready_since: float | None = None
    liveness_failures: int = 0
    concurrency: float | None = None
    meter: RateMeter = field(default_factory=RateMeter)
    watcher: asyncio.Task[None] | None = None

    @property
    def name(self) -> str:
        return f"replica-{self.index}"

    @property
    def revision(self) -> int:
        return self.spec.revision

    @property
    def url(self) -> str | None:
        return self.process.url if self.process is not None else None

    @property
    def serves(self) -> bool:
        """It takes traffic when its revision does."""
        live = self.process is not None and self.process.alive
        return live and self.phase == ReplicaPhase.READY and not self.retiring

    def status(self) -> ReplicaStatus:
        return ReplicaStatus(
            name=self.name,
            revision=self.revision,
            phase=self.phase,
            restarts=self.restarts,
            reason=self.reason,
            started_at=self.started_at,
            url=self.url,
            pid=self.process.pid if self.process is not None else None,
        )

    def stop_watching(self) -> None:
        if self.watcher is not None:
            self.watcher.cancel()
            self.watcher = None


class Prober:
    def __init__(
        self,
        *,
        period: float,
        timeout: float,
        liveness_threshold: int,
        start_timeout: float,
        changed: Callable[[], None],
    ) -> None:
        self.period = period
        self.timeout = timeout
        self.liveness_threshold = liveness_threshold
        self.start_timeout = start_timeout
        self.changed = changed  # wakes the supervision loop
        self._http: httpx.AsyncClient | None = None

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def get(self, url: str, wait: float | None = None) -> httpx.Response | str:
        """The answer, or why there was none."""
        if self._http is None:  # no keep-alive: every probe is a new connection, as the kubelet's
            limits = httpx.Limits(max_keepalive_connections=0)
            self._http = httpx.AsyncClient(timeout=self.timeout, trust_env=False, limits=limits)
        wait = wait or self.timeout
        try:
            return await self._http.get(url, timeout=wait)
        except httpx.TimeoutException:
            return f"no answer within {wait:g} s"
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__

    # ---- a launch's own task -----------------------------------------------------------------------

    async def watch(self, replica: Replica, process: ReplicaProcess) -> None:
        """See the launch start, then read its metrics while it serves."""
        if await self._watch_start(replica, process):
            await self._scrape(replica, process)

    async def _watch_start(self, replica: Replica, process: ReplicaProcess) -> bool:
        started = time.monotonic()
        while process.alive and replica.process is process and replica.phase == ReplicaPhase.STARTING:
            answer = await self.get(f"{process.url}/ready", max(self.timeout, 1.0))
            if not process.alive or replica.process is not process or replica.phase != ReplicaPhase.STARTING:
                return False
            if isinstance(answer, httpx.Response):
                if answer.status_code == 200:
                    replica.phase = ReplicaPhase.READY
                    replica.ready_since = time.monotonic()
                    replica.failures = 0
                    replica.load_error = None
                    self.changed()
                    return True
                detail = _failed_detail(answer)
                if detail is not None:
                    replica.load_error = replica.kill_reason = detail
                    process.signal(signal.SIGKILL)
                    return False
            elif time.monotonic() - started > self.start_timeout:
                replica.kill_reason = f"did not start within {self.start_timeout:g} s"
                process.signal(signal.SIGKILL)
                return False
            await asyncio.sleep(0.02 if time.monotonic() - started < 5 else 0.25)
        return False

    async def _scrape(self, replica: Replica, process: ReplicaProcess) -> None:
        while process.alive and replica.process is process and not replica.retiring:
            if replica.phase == ReplicaPhase.READY:
                metrics = await self.get(f"{process.url}/metrics", max(SCRAPE_TIMEOUT, self.timeout))
                value = busy_seconds(metrics.text) if isinstance(metrics, httpx.Response) else None
                if value is not None:
                    rate = replica.meter.update(time.monotonic(), value)
                    if rate is not None:
                        replica.concurrency = rate
            await asyncio.sleep(self.period)

    # ---- the periodic probe ------------------------------------------------------------------------

    async def probe(self, replica: Replica) -> None:
        process = replica.process
        if process is None or not process.alive or replica.retiring or replica.kill_reason is not None:
            return  # nothing to probe, or killed already (its end is on its way)
        limit = memory_limit(replica.spec)
        rss = rss_bytes(process.pid)
        if limit is not None and rss is not None and rss > limit:
            replica.kill_reason = f"OOMKilled: used {rss // _MIB} MiB of {limit // _MIB} MiB"
            process.signal(signal.SIGKILL)
            return
        if replica.phase not in (ReplicaPhase.READY, ReplicaPhase.UNHEALTHY):
            return  # starting: its watcher follows /ready
        health = await self._busy_or(process, "/health")
        if health is None:
            return
        if not isinstance(health, httpx.Response) or health.status_code != 200:
            replica.liveness_failures += 1
            detail = health if isinstance(health, str) else f"HTTP {health.status_code}"
            if replica.liveness_failures >= self.liveness_threshold:
                replica.kill_reason = f"liveness probe failed: {detail}"
                process.signal(signal.SIGKILL)
                return
            count = f"{replica.liveness_failures} of {self.liveness_threshold}"
            replica.reason = f"liveness probe failed ({count}): {detail}"
            replica.phase = ReplicaPhase.UNHEALTHY  # a server that does not answer cannot serve
            replica.concurrency = None
            return
        replica.liveness_failures = 0
        ready = await self._busy_or(process, "/ready")
        if ready is None:
            return
        if isinstance(ready, httpx.Response) and ready.status_code == 200:
            if replica.phase != ReplicaPhase.READY:
                replica.ready_since = time.monotonic()
            replica.phase = ReplicaPhase.READY
            return
        if replica.phase == ReplicaPhase.READY:
            replica.reason = f"readiness probe failed: {ready if isinstance(ready, str) else _detail(ready)}"
        replica.phase = ReplicaPhase.UNHEALTHY
        replica.concurrency = None

    async def _busy_or(self, process: ReplicaProcess, path: str) -> httpx.Response | str | None:
        """The probe's answer or failure; None when it timed out while the process was busy."""
        before = activity(process.pid)
        answer = await self.get(f"{process.url}{path}")
        if isinstance(answer, str) and before is not None and activity(process.pid) not in (before, None):
            return None
        return answer


def memory_limit(spec: ServingSpec) -> int | None:
    try:
        return memory_bytes(spec.resources.memory_limit)
    except QuantityError:
        return None


def _failed_detail(answer: httpx.Response) -> str | None:
    """The loader's error when /ready says loading failed (503 `{"status": "failed", "detail"}`)."""
    try:
        document = answer.json()
    except ValueError:
        return None
    if isinstance(document, dict) and document.get("status") == "failed":
        return str(document.get("detail") or "loading the model failed")
    return None


def _detail(answer: httpx.Response) -> str:
    try:
        document = answer.json()
    except ValueError:
        document = None
    if isinstance(document, dict) and document.get("detail"):
        return f"HTTP {answer.status_code}: {document['detail']}"
    return f"HTTP {answer.status_code}"
