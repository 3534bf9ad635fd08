"""One locally served deployment: its replicas' bookkeeping, as a kubelet and a ReplicaSet keep it.

`ServedDeployment` knows its replicas and what becomes of them when their processes end: restarts
after an exponential back-off (reset once a replica has been ready for `BACKOFF_RESET_SECONDS`),
the stragglers of a drain killed at their deadline, and when the wanted revision has failed for
good. Starting processes, probing and publishing endpoints are `LocalServing`'s.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import signal
from dataclasses import dataclass, field
from pathlib import Path

from podml.executors.base import ReplicaPhase, ServingSpec
from podml.executors.local_serving_autoscale import Autoscaler, RateMeter
from podml.executors.local_serving_process import ReplicaProcess, exit_reason, last_line
from podml.executors.local_serving_replica import Replica

log = logging.getLogger(__name__)

BACKOFF_RESET_SECONDS = 10.0  # ready this long: the next failure restarts after the initial delay
CRASH_LOOP_FAILURES = 3  # failed starts in a row (other than load errors) that make a failure


@dataclass
class ServedDeployment:
    spec: ServingSpec
    directory: Path
    autoscaler: Autoscaler
    backoff_initial: float
    backoff_max: float
    replicas: list[Replica] = field(default_factory=list)
    serving: int | None = None  # the revision that takes traffic
    endpoints: list[str] = field(default_factory=list)
    published: list[str] | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    next_index: int = 1
    deleted: bool = False

    def new_replica(self) -> Replica:
        index = self.next_index
        self.next_index += 1
        replica = Replica(
            index=index,
            spec=self.spec,
            home=self.directory / f"replica-{index}",
            log_path=self.directory / f"replica-{index}.log",
            backoff=self.backoff_initial,
        )
        self.replicas.append(replica)
        return replica

    def forget(self, replica: Replica) -> None:
        """The replica is gone: out of the list, its home and log removed."""
        if replica in self.replicas:
            self.replicas.remove(replica)
        shutil.rmtree(replica.home, ignore_errors=True)
        with contextlib.suppress(OSError):
            replica.log_path.unlink()

    def reap(self, now: float) -> None:
        """Take note of replicas that ended; schedule restarts; kill the stragglers of a drain."""
        for replica in list(self.replicas):
            process = replica.process
            if process is not None and not process.alive:
                self._ended(replica, process, now)
            elif replica.retiring and process is None:
                self.forget(replica)
            elif replica.retiring and process is not None and replica.stop_deadline is not None:
                if now >= replica.stop_deadline:
                    log.warning("deployment %s: %s did not stop in time; killing it",
                                self.spec.deployment_id, replica.name)  # fmt: skip
                    process.signal(signal.SIGKILL)
                    replica.stop_deadline = None
            elif (
                replica.phase == ReplicaPhase.READY
                and replica.ready_since is not None
                and now - replica.ready_since >= BACKOFF_RESET_SECONDS
            ):
                replica.backoff = self.backoff_initial

    def start_failed(self, replica: Replica, reason: str, now: float) -> None:
        """The process could not even be started: a failed start, retried after the back-off."""
        replica.phase = ReplicaPhase.FAILED
        replica.reason = reason
        replica.failures += 1
        replica.restart_at = now + replica.backoff
        replica.backoff = min(replica.backoff * 2, self.backoff_max)

    def failure(self) -> str | None:
        """Why the wanted revision cannot become ready, once every replica of it keeps failing."""
        wanted = [r for r in self.replicas if r.revision == self.spec.revision and not r.retiring]
        if not wanted or any(r.phase == ReplicaPhase.READY for r in wanted):
            return None
        if not all(r.load_error is not None or r.failures >= CRASH_LOOP_FAILURES for r in wanted):
            return None
        first = wanted[0]
        return first.load_error or f"the model server keeps failing: {first.reason}"

    def _ended(self, replica: Replica, process: ReplicaProcess, now: float) -> None:
        code = process.exited.result()
        replica.process = None
        replica.concurrency = None
        replica.meter = RateMeter()
        replica.stop_watching()
        if replica.retiring:
            self.forget(replica)
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
            self.spec.deployment_id, replica.name, reason, replica.backoff,
        )  # fmt: skip
        replica.backoff = min(replica.backoff * 2, self.backoff_max)
