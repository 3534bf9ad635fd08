"""The reconciler: moves desired state in the database toward the executor, and back.

One loop (in `podml serve`, or in `podml worker` replicas) that, each pass, settles running jobs
that ended, passes cancellations on, admits queued jobs within the limits, builds uploaded model
versions, and keeps every deployment's replicas as asked (`podml.deployments.lifecycle`). It wakes early when
the API calls `wake()` and polls faster while jobs run.

Restart-safe: the first pass after a start observes every job the database says is running; the
executor either still has it (adopted), finished it meanwhile (settled now), or lost it (failed,
with the reason). Multi-replica-safe on PostgreSQL: only the replica holding a session-level
advisory lock reconciles; the others stand by and take over if its connection drops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from podml.config import Settings
from podml.deployments.lifecycle import DeploymentLoop
from podml.executors.base import Executor, ServingExecutor
from podml.jobs import lifecycle
from podml.registry import builds
from podml.storage import Storage

log = logging.getLogger(__name__)
_LEADER_LOCK_ID = 0x706F646D6C01  # "podml" + 1


class Leadership:
    """Who may reconcile: on PostgreSQL the holder of an advisory lock, on SQLite this process."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._connection: AsyncConnection | None = None

    async def is_leader(self) -> bool:
        if self.engine.dialect.name != "postgresql":
            return True
        if self._connection is not None:
            try:
                await self._connection.execute(text("SELECT 1"))
                return True
            except Exception:
                log.warning("lost the reconciler lock's connection; trying to lead again")
                await self.release()
        connection = await self.engine.connect()
        acquired = (
            await connection.execute(text("SELECT pg_try_advisory_lock(:id)"), {"id": _LEADER_LOCK_ID})
        ).scalar_one()
        await connection.commit()
        if acquired:
            self._connection = connection
            log.info("this process now leads the reconciler")
            return True
        await connection.close()
        return False

    async def release(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(Exception):
                await self._connection.close()
            self._connection = None


class Reconciler:
    def __init__(
        self,
        *,
        engine: AsyncEngine,
        sessionmaker: async_sessionmaker[AsyncSession],
        storage: Storage,
        executor: Executor,
        settings: Settings,
        serving: ServingExecutor | None = None,
        on_deleted: Callable[[uuid.UUID], None] | None = None,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.storage = storage
        self.executor = executor
        self.settings = settings
        self.leadership = Leadership(engine)
        self.deployments = (
            DeploymentLoop(storage, serving, settings, on_deleted) if serving is not None else None
        )
        self._wake = asyncio.Event()
        self._busy = False
        self.serving = serving
        self._warming: asyncio.Task[None] | None = None

    def wake(self) -> None:
        self._wake.set()

    async def reconcile_once(self) -> None:
        if not await self.leadership.is_leader():
            self._busy = False
            return
        async with self.sessionmaker() as session:
            await lifecycle.follow(session, self.storage, self.executor)
            await lifecycle.admit(session, self.storage, self.executor, self.settings)
            building = await builds.follow(session, self.storage, self.executor, self.settings)
            if building:
                self._warm_serving()
            deploying = await self.deployments.follow(session) if self.deployments is not None else False
            self._busy = deploying or building or bool(await _count_running(session))

    def _warm_serving(self) -> None:
        """A version being built is usually deployed next: start the serving executor's warm
        process now (seconds of imports), so that the deployment's first replica starts in a
        fraction of a second. Once per reconciler; `prepare` logs its own failures."""
        if self.serving is not None and self._warming is None:
            self._warming = asyncio.create_task(self.serving.prepare())

    async def run(self) -> None:
        log.info("reconciler started (executor: %s)", self.executor.name)
        try:
            while True:
                self._wake.clear()
                try:
                    await self.reconcile_once()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("reconcile pass failed; retrying")
                interval = (
                    self.settings.reconcile_busy_interval_seconds
                    if self._busy
                    else self.settings.reconcile_interval_seconds
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=interval)
        finally:
            if self._warming is not None and not self._warming.done():
                self._warming.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._warming
            if self.deployments is not None:
                await self.deployments.close()
            await self.leadership.release()


async def _count_running(session: AsyncSession) -> int:
    from podml.jobs import repository

    return len(await repository.list_by_status(session, "running"))
