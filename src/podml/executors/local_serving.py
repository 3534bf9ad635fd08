"""LocalServing: a deployment's replicas are model-server processes on loopback ports.

What Kubernetes does with a Deployment, a Service and an HPA, done by one supervision task:

- replicas are forked by a warm serving zygote (cold `python -m podml.serving` when the model has
  its own requirements, or when the zygote cannot start); see `local_serving_process`;
- kubelet probes: `/health` (liveness: three failures in a row and the replica is killed), `/ready`
  (readiness: only ready replicas take traffic; a model that fails to load makes the replica
  `failed` with the loader's error) and the process itself (an exit is noticed at once); resident
  memory over the limit is an OOM kill; a failed replica restarts after an exponential back-off;
- rolling updates: a higher revision starts new replicas, the old ones serve until enough new ones
  are ready, then traffic moves at once and the old ones drain (SIGTERM: the model server stops
  taking new connections after `SHUTDOWN_DRAIN_SECONDS` and finishes those in flight);
- autoscaling on in-flight requests (`local_serving_autoscale`).

`endpoints()` is an in-memory look-up in the process that applies specs; other processes (an API
replica beside `podml worker`) read `serving/<deployment_id>/endpoints.json`, written atomically
whenever the list changes, with the owner's pid so that a dead owner's list is not believed.
Replica logs are `serving/<deployment_id>/replica-<n>.log`; HOME and TMPDIR are `replica-<n>/`.
The pod-contract environment (with its signed URLs) is never logged nor written to disk here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import shutil
import signal
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from podml.executors.base import ReplicaPhase, ServingExecutor, ServingObservation, ServingSpec
from podml.executors.local import process_start_time
from podml.executors.local_serving_autoscale import Autoscaler, RateMeter
from podml.executors.local_serving_endpoints import EndpointsReader, write_endpoints
from podml.executors.local_serving_process import (
    ReplicaProcess,
    ServingZygote,
    exit_reason,
    last_line,
    replica_environment,
    spawn_cold,
)
from podml.executors.local_serving_replica import Prober, Replica
from podml.resources import QuantityError, cpu_cores

log = logging.getLogger(__name__)

BACKOFF_RESET_SECONDS = 10.0  # ready this long: the next failure restarts after the initial delay
CRASH_LOOP_FAILURES = 3  # failed starts in a row (other than load errors) that make a failure


@dataclass
class _Deployment:
    spec: ServingSpec
    directory: Path
    autoscaler: Autoscaler
    replicas: list[Replica] = field(default_factory=list)
    serving: int | None = None  # the revision that takes traffic
    endpoints: list[str] = field(default_factory=list)
    published: list[str] | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    next_index: int = 1
    deleted: bool = False


class LocalServing(ServingExecutor):
    """Local replicas under `root / "serving"` (see the module's docstring).

    `probe_period`: seconds between probes (and autoscaler measurements); `probe_timeout`: how long
    a probe waits; `liveness_threshold`: failed liveness probes in a row before a kill;
    `scale_down_delay`: how long lower demand must last before replicas are removed;
    `drain_seconds`: how long a stopping replica keeps its listener (`SHUTDOWN_DRAIN_SECONDS`; keep it
    above the half second other processes may take to see a new endpoints file); `stop_grace`: then
    how long until SIGKILL; `backoff_initial` / `backoff_max`: restart delays; `start_timeout`: how
    long a replica may take to load its model (requirements included).
    """

    name = "local"

    def __init__(
        self,
        root: Path,
        *,
        python: str = sys.executable,
        warm: bool = True,
        probe_period: float = 1.0,
        scale_down_delay: float = 60.0,
        drain_seconds: float = 1.0,
        stop_grace: float = 10.0,
        probe_timeout: float = 1.0,
        liveness_threshold: int = 3,
        backoff_initial: float = 1.0,
        backoff_max: float = 30.0,
        start_timeout: float = 900.0,
        environments_dir: Path | None = None,
    ) -> None:
        self.root = root / "serving"
        self.environments_dir = environments_dir or self.root / "environments"  # shared with builds
        self.python = python
        self.probe_period = probe_period
        self.scale_down_delay = scale_down_delay
        self.drain_seconds = drain_seconds
        self.stop_grace = stop_grace
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.zygote = ServingZygote(self.root, python) if warm else None
        self._deployments: dict[uuid.UUID, _Deployment] = {}
        self._reader = EndpointsReader(self.root)
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self.prober = Prober(
            period=probe_period,
            timeout=probe_timeout,
            liveness_threshold=liveness_threshold,
            start_timeout=start_timeout,
            changed=self._wake.set,
        )
        self._owner = (os.getpid(), process_start_time(os.getpid()))

    # ---- the interface ---------------------------------------------------------------------------

    async def prepare(self) -> None:
        """Start the warm zygote now rather than with the first replica (failures are not fatal)."""
        if self.zygote is not None:
            try:
                await self.zygote.ensure()
            except RuntimeError as exc:
                log.warning("warm serving unavailable (%s); replicas will start cold", exc)

    async def apply_serving(self, spec: ServingSpec) -> None:
        self._start()
        while True:
            now = time.monotonic()
            deployment = self._deployments.get(spec.deployment_id)
            if deployment is None:
                autoscaler = Autoscaler(
                    spec.replicas, spec.min_replicas, spec.max_replicas, spec.target_concurrency,
                    self.scale_down_delay, now,
                )  # fmt: skip
                deployment = _Deployment(spec, self.root / str(spec.deployment_id), autoscaler)
                self._deployments[spec.deployment_id] = deployment
            async with deployment.lock:
                if not deployment.deleted:  # else deleted while this waited: start afresh
                    await self._apply(deployment, spec, now)
                    break
        self._wake.set()

    async def _apply(self, deployment: _Deployment, spec: ServingSpec, now: float) -> None:
        """`spec` over what runs: a lower revision is stale; the same one only refreshes the spec and the
        bounds (nothing restarts); a higher one rolls out (`_reconcile`)."""
        await asyncio.to_thread(deployment.directory.mkdir, parents=True, exist_ok=True)
        current = deployment.spec
        if spec.revision < current.revision:
            log.warning(
                "deployment %s: ignoring revision %d (revision %d is applied)",
                spec.deployment_id, spec.revision, current.revision,
            )  # fmt: skip
            return
        deployment.spec = spec
        if spec.revision == current.revision:  # fresh URLs for future restarts; nothing restarts
            for replica in deployment.replicas:
                if replica.revision == spec.revision:
                    replica.spec = spec
        replicas = spec.replicas if spec.replicas != current.replicas else None
        deployment.autoscaler.configure(
            spec.min_replicas, spec.max_replicas, spec.target_concurrency, replicas, now
        )
        await self._reconcile(deployment)

    async def observe_serving(self, deployment_id: uuid.UUID) -> ServingObservation:
        deployment = self._deployments.get(deployment_id)
        if deployment is None or deployment.deleted:
            return ServingObservation(exists=False)
        serving = deployment.serving if deployment.serving is not None else deployment.spec.revision
        return ServingObservation(
            exists=True,
            revision=serving,
            desired_replicas=deployment.autoscaler.desired,
            replicas=tuple(replica.status() for replica in deployment.replicas),
            failure=self._failure(deployment),
        )

    async def delete_serving(self, deployment_id: uuid.UUID) -> None:
        deployment = self._deployments.get(deployment_id)
        self._reader.forget(deployment_id)
        if deployment is None:
            await asyncio.to_thread(shutil.rmtree, self.root / str(deployment_id), True)
            return
        async with deployment.lock:  # an apply waiting for it then starts afresh
            deployment.deleted = True
            await self._stop_all(deployment, self.drain_seconds + self.stop_grace)
            await asyncio.to_thread(shutil.rmtree, deployment.directory, True)
            if self._deployments.get(deployment_id) is deployment:
                del self._deployments[deployment_id]

    def endpoints(self, deployment_id: uuid.UUID) -> list[str]:
        deployment = self._deployments.get(deployment_id)
        if deployment is not None:
            return list(deployment.endpoints)
        return self._reader.endpoints(deployment_id)

    async def close(self) -> None:
        """Stop every replica (draining briefly) and the zygote; the state folders stay."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        deployments = list(self._deployments.values())
        await asyncio.gather(*(self._stop_all(d, self.drain_seconds + 2.0) for d in deployments))
        self._deployments.clear()
        if self.zygote is not None:
            await self.zygote.stop()
        await self.prober.aclose()

    # ---- supervision -----------------------------------------------------------------------------

    def _start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._supervise(), name="local-serving")

    async def _supervise(self) -> None:
        next_probe = time.monotonic() + self.probe_period
        while True:
            try:
                timeout = max(0.0, min(next_probe, self._next_deadline()) - time.monotonic())
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout)
                self._wake.clear()
                now = time.monotonic()
                probe = now >= next_probe
                if probe:
                    next_probe = now + self.probe_period
                deployments = list(self._deployments.values())
                results = await asyncio.gather(
                    *(self._tick(d, probe) for d in deployments), return_exceptions=True
                )
                for deployment, result in zip(deployments, results, strict=True):
                    if isinstance(result, Exception):
                        log.error(
                            "supervising deployment %s failed; continuing",
                            deployment.spec.deployment_id, exc_info=result,
                        )  # fmt: skip
                    elif isinstance(result, BaseException):
                        raise result
            except Exception:
                log.exception("the serving supervision loop failed; continuing")
                await asyncio.sleep(self.probe_period)

    def _next_deadline(self) -> float:
        deadlines = [
            moment
            for deployment in self._deployments.values()
            for replica in deployment.replicas
            for moment in (replica.restart_at, replica.stop_deadline)
            if moment is not None
        ]
        return min(deadlines, default=math.inf)

    async def _tick(self, deployment: _Deployment, probe: bool) -> None:
        if deployment.lock.locked():
            # An apply (which reconciles, then wakes this loop) or a delete (draining for a second
            # or more) has it: waiting here would hold up every other deployment's tick.
            return
        async with deployment.lock:
            if deployment.deleted:
                return
            if probe:
                await self._probe(deployment)
            await self._reconcile(deployment)

    async def _reconcile(self, deployment: _Deployment) -> None:
        now = time.monotonic()
        self._reap(deployment, now)
        spec = deployment.spec
        for replica in deployment.replicas:
            if replica.retiring or replica.process is not None:
                continue
            if replica.restart_at is not None and replica.restart_at <= now:
                replica.restarts += 1
                await self._launch(deployment, replica)
        want = deployment.autoscaler.desired
        wanted = [r for r in deployment.replicas if r.revision == spec.revision and not r.retiring]
        for _ in range(want - len(wanted)):
            replica = self._new_replica(deployment)
            wanted.append(replica)
            await self._launch(deployment, replica)
        retire: list[Replica] = []
        if len(wanted) > want:  # the least useful first: not started, starting, unhealthy, newest
            order = {ReplicaPhase.READY: 3, ReplicaPhase.UNHEALTHY: 2, ReplicaPhase.STARTING: 1}
            extra = sorted(wanted, key=lambda r: (order.get(r.phase, 0), -r.index))[: len(wanted) - want]
            retire.extend(extra)
        ready = [r for r in wanted if r.phase == ReplicaPhase.READY and r not in retire]
        if deployment.serving != spec.revision and ready:
            serving = [
                r
                for r in deployment.replicas
                if r.revision == deployment.serving and r.phase == ReplicaPhase.READY and not r.retiring
            ]
            if len(ready) >= want or not serving:
                log.info(
                    "deployment %s: revision %d takes the traffic (%d ready)",
                    spec.deployment_id, spec.revision, len(ready),
                )  # fmt: skip
                deployment.serving = spec.revision
        keep = {spec.revision, deployment.serving}
        retire.extend(r for r in deployment.replicas if r.revision not in keep and not r.retiring)
        for replica in retire:
            replica.retiring = True
            replica.phase = ReplicaPhase.STOPPING
            replica.restart_at = None
        await self._publish(deployment)
        for replica in retire:  # only once out of the published endpoints
            if replica.process is None:
                self._forget(deployment, replica)
                continue
            replica.process.signal(signal.SIGTERM)
            replica.stop_deadline = now + self.drain_seconds + self.stop_grace

    def _reap(self, deployment: _Deployment, now: float) -> None:
        """Take note of replicas that ended; schedule restarts; kill the stragglers of a drain."""
        for replica in list(deployment.replicas):
            process = replica.process
            if process is not None and not process.alive:
                self._ended(deployment, replica, process, now)
            elif replica.retiring and process is None:
                self._forget(deployment, replica)
            elif replica.retiring and process is not None and replica.stop_deadline is not None:
                if now >= replica.stop_deadline:
                    log.warning("deployment %s: %s did not stop in time; killing it",
                                deployment.spec.deployment_id, replica.name)  # fmt: skip
                    process.signal(signal.SIGKILL)
                    replica.stop_deadline = None
            elif (
                replica.phase == ReplicaPhase.READY
                and replica.ready_since is not None
                and now - replica.ready_since >= BACKOFF_RESET_SECONDS
            ):
                replica.backoff = self.backoff_initial

    def _ended(self, deployment: _Deployment, replica: Replica, process: ReplicaProcess, now: float) -> None:
        code = process.exited.result()
        replica.process = None
        replica.concurrency = None
        replica.meter = RateMeter()
        replica.stop_watching()
        if replica.retiring:
            self._forget(deployment, replica)
            return
        reason = replica.kill_reason
        if reason is None:
            reason = exit_reason(code)
            said = last_line(replica.log_path) if code > 0 else None
            if said:
                reason = f"{reason}: {said}"
        replica.kill_reason = None
        was_ready = replica.phase in (ReplicaPhase.READY, ReplicaPhase.UNHEALTHY)
        replica.phase = ReplicaPhase.UNHEALTHY if was_ready else ReplicaPhase.FAILED
        if not was_ready:
            replica.failures += 1
        replica.reason = reason
        replica.ready_since = None
        replica.restart_at = now + replica.backoff
        log.warning(
            "deployment %s: %s %s; restarting in %g s",
            deployment.spec.deployment_id, replica.name, reason, replica.backoff,
        )  # fmt: skip
        replica.backoff = min(replica.backoff * 2, self.backoff_max)

    def _forget(self, deployment: _Deployment, replica: Replica) -> None:
        if replica in deployment.replicas:
            deployment.replicas.remove(replica)
        shutil.rmtree(replica.home, ignore_errors=True)
        with contextlib.suppress(OSError):
            replica.log_path.unlink()

    def _new_replica(self, deployment: _Deployment) -> Replica:
        index = deployment.next_index
        deployment.next_index += 1
        replica = Replica(
            index=index,
            spec=deployment.spec,
            home=deployment.directory / f"replica-{index}",
            log_path=deployment.directory / f"replica-{index}.log",
            backoff=self.backoff_initial,
        )
        deployment.replicas.append(replica)
        return replica

    async def _launch(self, deployment: _Deployment, replica: Replica) -> None:
        spec = replica.spec
        threads = max(1, math.ceil(_cpus(spec)))
        await asyncio.to_thread(_fresh_home, replica.home)
        env = replica_environment(
            spec.env, replica.home, threads=threads, drain_seconds=self.drain_seconds,
            cache_dir=self.environments_dir,
        )  # fmt: skip
        cold = bool(env.get("REQUIREMENTS_URL", "").strip())
        process: ReplicaProcess | None = None
        if self.zygote is not None:
            try:
                process = await self.zygote.spawn(env, replica.log_path, replica.home, threads, cold)
            except (OSError, RuntimeError) as exc:
                log.warning("warm start unavailable (%s); starting %s cold", exc, replica.name)
        replica.restart_at = None
        replica.stop_deadline = None
        try:
            if process is None:
                process = await spawn_cold(self.python, env, replica.log_path, replica.home)
        except OSError as exc:
            replica.phase = ReplicaPhase.FAILED
            replica.reason = f"could not start the model server: {exc}"
            replica.failures += 1
            replica.restart_at = time.monotonic() + replica.backoff
            replica.backoff = min(replica.backoff * 2, self.backoff_max)
            return
        replica.process = process
        replica.phase = ReplicaPhase.STARTING
        replica.started_at = time.time()
        replica.liveness_failures = 0
        process.exited.add_done_callback(lambda _: self._wake.set())
        replica.watcher = asyncio.create_task(self.prober.watch(replica, process))

    # ---- probes and failures ------------------------------------------------------------------------

    async def _probe(self, deployment: _Deployment) -> None:
        await asyncio.gather(*(self.prober.probe(r) for r in list(deployment.replicas)))
        measured = [
            r.concurrency
            for r in deployment.replicas
            if r.revision == deployment.serving and r.serves and r.concurrency is not None
        ]
        if measured:
            deployment.autoscaler.observe(time.monotonic(), sum(measured))

    def _failure(self, deployment: _Deployment) -> str | None:
        """Why the wanted revision cannot become ready, once every replica of it keeps failing."""
        revision = deployment.spec.revision
        wanted = [r for r in deployment.replicas if r.revision == revision and not r.retiring]
        if not wanted or any(r.phase == ReplicaPhase.READY for r in wanted):
            return None
        if not all(r.load_error is not None or r.failures >= CRASH_LOOP_FAILURES for r in wanted):
            return None
        first = wanted[0]
        return first.load_error or f"the model server keeps failing: {first.reason}"

    # ---- endpoints ---------------------------------------------------------------------------------

    async def _publish(self, deployment: _Deployment) -> None:
        urls = [r.url for r in deployment.replicas if r.revision == deployment.serving and r.serves]
        deployment.endpoints = [url for url in urls if url is not None]
        if deployment.endpoints == deployment.published:
            return
        document = {
            "deployment_id": str(deployment.spec.deployment_id),
            "revision": deployment.serving,
            "endpoints": deployment.endpoints,
            "owner": {"pid": self._owner[0], "start_time": self._owner[1]},
            "updated_at": time.time(),
        }
        await asyncio.to_thread(write_endpoints, deployment.directory, document)
        deployment.published = deployment.endpoints

    async def _stop_all(self, deployment: _Deployment, grace: float) -> None:
        """Out of traffic first, then SIGTERM (drain), SIGKILL after `grace`; the replicas are gone."""
        for replica in deployment.replicas:
            replica.retiring = True
            replica.phase = ReplicaPhase.STOPPING
            replica.restart_at = None
        with contextlib.suppress(OSError):
            await self._publish(deployment)
        processes = [r.process for r in deployment.replicas if r.process is not None]
        for process in processes:
            process.signal(signal.SIGTERM)
        if processes:
            _, pending = await asyncio.wait([p.exited for p in processes], timeout=grace)
            for process in processes:
                process.signal(signal.SIGKILL)
            if pending:
                await asyncio.wait(pending, timeout=5)
        for replica in list(deployment.replicas):
            replica.stop_watching()
            replica.process = None
            self._forget(deployment, replica)


def _cpus(spec: ServingSpec) -> float:
    try:
        return cpu_cores(spec.resources.cpu_limit)
    except QuantityError:
        return 1.0


def _fresh_home(home: Path) -> None:
    shutil.rmtree(home / "tmp", ignore_errors=True)
    (home / "tmp").mkdir(parents=True, exist_ok=True)
