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
- autoscaling on in-flight requests (`local_serving_autoscale`);
- the replicas' bookkeeping (restarts after a back-off, crash loops, drain deadlines) is
  `local_serving_deployment`'s.

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
from pathlib import Path

from podml.executors.base import ReplicaPhase, ServingExecutor, ServingObservation, ServingSpec
from podml.executors.local import process_start_time
from podml.executors.local_serving_autoscale import Autoscaler
from podml.executors.local_serving_deployment import ServedDeployment
from podml.executors.local_serving_endpoints import EndpointsReader, write_endpoints
from podml.executors.local_serving_process import (
    ReplicaProcess,
    ServingZygote,
    fresh_home,
    replica_environment,
    replica_threads,
    spawn_cold,
)
from podml.executors.local_serving_replica import Prober, Replica

log = logging.getLogger(__name__)


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
        self._deployments: dict[uuid.UUID, ServedDeployment] = {}
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
                deployment = ServedDeployment(
                    spec, self.root / str(spec.deployment_id), autoscaler,
                    self.backoff_initial, self.backoff_max,
                )  # fmt: skip
                self._deployments[spec.deployment_id] = deployment
            async with deployment.lock:
                if not deployment.deleted:  # else deleted while this waited: start afresh
                    await self._apply(deployment, spec, now)
                    break
        self._wake.set()

    async def _apply(self, deployment: ServedDeployment, spec: ServingSpec, now: float) -> None:
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
            failure=deployment.failure(),
        )

    async def delete_serving(
        self, deployment_id: uuid.UUID, *, owner_sub: str | None = None, revision: int | None = None
    ) -> None:
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

    async def _tick(self, deployment: ServedDeployment, probe: bool) -> None:
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

    async def _reconcile(self, deployment: ServedDeployment) -> None:
        now = time.monotonic()
        deployment.reap(now)
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
            replica = deployment.new_replica()
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
                deployment.forget(replica)
                continue
            replica.process.signal(signal.SIGTERM)
            replica.stop_deadline = now + self.drain_seconds + self.stop_grace

    async def _launch(self, deployment: ServedDeployment, replica: Replica) -> None:
        spec = replica.spec
        threads = replica_threads(spec.resources.cpu_limit)
        await asyncio.to_thread(fresh_home, replica.home)
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
            deployment.start_failed(replica, f"could not start the model server: {exc}", time.monotonic())
            return
        replica.process = process
        replica.phase = ReplicaPhase.STARTING
        replica.started_at = time.time()
        replica.liveness_failures = 0
        process.exited.add_done_callback(lambda _: self._wake.set())
        replica.watcher = asyncio.create_task(self.prober.watch(replica, process))

    # ---- probes and failures ------------------------------------------------------------------------

    async def _probe(self, deployment: ServedDeployment) -> None:
        await asyncio.gather(*(self.prober.probe(r) for r in list(deployment.replicas)))
        measured = [
            r.concurrency
            for r in deployment.replicas
            if r.revision == deployment.serving and r.serves and r.concurrency is not None
        ]
        if measured:
            deployment.autoscaler.observe(time.monotonic(), sum(measured))

    # ---- endpoints ---------------------------------------------------------------------------------

    async def _publish(self, deployment: ServedDeployment) -> None:
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

    async def _stop_all(self, deployment: ServedDeployment, grace: float) -> None:
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
            deployment.forget(replica)
