"""Per-deployment traffic figures of the prediction gateway: Prometheus series and 10-second buckets.

`StatsRecorder.record()` runs after every proxied prediction, on the event loop thread. It costs a
dictionary look-up, a clock read, a bisection over `LATENCY_BOUNDS_MS` and a handful of additions
into per-deployment lists: no lock, no I/O, nothing allocated but the sums themselves (and a list
for the first request of a deployment or of a new 10-second bucket). See bench/gateway_stats.py.

The same per-deployment state feeds two readers:

- Prometheus: a collector in the default registry exposes `podml_gateway_requests_total{deployment,
  code}` and the histogram `podml_gateway_request_latency_ms{deployment}` from cumulative counts, at
  scrape time. (prometheus_client's own `Counter`/`Histogram` children take a `threading.Lock` per
  `inc()`: three lock round trips per request, several times the cost of everything else here.)
- The database: `flush()` writes every closed bucket as an insert-only `deployment_stats` row keyed by
  this recorder's `source`, so API processes never contend; `podml.deployments.stats.read_stats`
  sums the rows of all sources and merges this process's not yet written buckets (`pending()`).

Everything is mutated on the event loop thread only (`record`, `flush`, `forget`), so no lock is
needed; the Prometheus collector, which may run on another thread, only copies lists and dicts (each
copy is atomic under the GIL) and every value it reads only ever grows.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import secrets
import socket
import time
import uuid
from bisect import bisect_left
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, cast

from prometheus_client import REGISTRY
from sqlalchemy import delete, insert, select
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from podml.deployments.models import Deployment, DeploymentStat
from podml.gateway.stats_buckets import BUCKET_SECONDS, LATENCY_BOUNDS_MS, Bucket, BucketFigures
from podml.gateway.stats_buckets import E4XX as _E4XX
from podml.gateway.stats_buckets import E5XX as _E5XX
from podml.gateway.stats_buckets import OFFSET as _OFFSET
from podml.gateway.stats_buckets import REQUESTS as _REQUESTS
from podml.gateway.stats_buckets import WIDTH as _WIDTH
from podml.gateway.stats_buckets import bucket_start as _bucket_start
from podml.gateway.stats_buckets import figures as _figures
from podml.gateway.stats_buckets import rows as _rows
from podml.gateway.stats_metrics import GatewayCollector
from podml.gateway.stats_metrics import add_into as _add_into

log = logging.getLogger(__name__)

PRUNE_EVERY_SECONDS: Final = 3600.0
# Closed buckets kept per deployment while the database cannot be written (a day of them); older
# ones are dropped with a warning.
MAX_PENDING_BUCKETS: Final = 86400 // BUCKET_SECONDS
_IN_CHUNK: Final = 500  # ids per `IN (...)`


class _Series:
    """Everything one recorder knows about one deployment."""

    __slots__ = (
        "closed",
        "codes",
        "counts",
        "end",
        "label",
        "latency_sum",
        "start",
        "total_buckets",
        "total_sum",
    )

    def __init__(self, deployment_id: uuid.UUID, now: float) -> None:
        self.label = str(deployment_id)
        self.start = _bucket_start(now)
        self.end = self.start + BUCKET_SECONDS
        # The open bucket.
        self.counts = [0] * _WIDTH
        self.latency_sum = 0.0
        # Closed buckets not yet written, oldest first: (start, counts, latency sum).
        self.closed: list[Bucket] = []
        # Cumulative, for Prometheus: requests per status code, per latency bound, latency sum.
        self.codes: dict[int, int] = {}
        self.total_buckets = [0] * len(LATENCY_BOUNDS_MS)
        self.total_sum = 0.0

    def roll(self, now: float) -> None:
        """Close the open bucket (if it saw traffic) and open the one holding `now`."""
        if self.counts[_REQUESTS]:
            self.closed.append((self.start, self.counts, self.latency_sum))
            self.counts = [0] * _WIDTH
            self.latency_sum = 0.0
        # Starts only ever grow: `roll` is called when now >= end > start.
        self.start = max(_bucket_start(now), self.end)
        self.end = self.start + BUCKET_SECONDS


@dataclass(eq=False)  # compared by identity (`self._inflight.remove`)
class _Batch:
    """Buckets taken out of memory by one `flush()`, until they are committed."""

    source: str
    buckets: dict[uuid.UUID, list[Bucket]] = field(default_factory=dict)


def new_source_id() -> str:
    """A random id naming one recorder's rows (host and pid first, to tell processes apart)."""
    return f"{socket.gethostname()[:32]}:{os.getpid()}:{secrets.token_hex(6)}"


class StatsRecorder:
    """Per-deployment traffic figures of one gateway process (see the module docstring)."""

    def __init__(self, *, source: str | None = None, clock: Callable[[], float] = time.time) -> None:
        self.source = source or new_source_id()
        self._clock = clock
        self._series: dict[uuid.UUID, _Series] = {}
        self._inflight: list[_Batch] = []
        _COLLECTOR.add(self)

    # -- hot path ---------------------------------------------------------------------------------

    def record(self, deployment_id: uuid.UUID, code: int, latency_ms: float) -> None:
        """Count one answer of `deployment_id` (`code`: its HTTP status; latency in milliseconds)."""
        series = self._series.get(deployment_id)
        if series is None:
            series = self._series[deployment_id] = _Series(deployment_id, self._clock())
        now = self._clock()
        if now >= series.end:
            series.roll(now)
        if not latency_ms >= 0.0:  # NaN or negative: never from perf_counter, but keep sums sane
            latency_ms = 0.0
        index = bisect_left(LATENCY_BOUNDS_MS, latency_ms)
        counts = series.counts
        counts[_REQUESTS] += 1
        if code >= 400:
            counts[_E5XX if code >= 500 else _E4XX] += 1
        counts[_OFFSET + index] += 1
        series.latency_sum += latency_ms
        series.total_buckets[index] += 1
        series.total_sum += latency_ms
        codes = series.codes
        codes[code] = codes.get(code, 0) + 1

    # -- state ----------------------------------------------------------------------------------

    def forget(self, deployment_id: uuid.UUID) -> None:
        """Drop a deleted deployment: its unwritten buckets and its Prometheus series."""
        self._series.pop(deployment_id, None)
        for batch in self._inflight:
            batch.buckets.pop(deployment_id, None)

    def deployments(self) -> list[uuid.UUID]:
        return list(self._series)

    def pending(self, deployment_id: uuid.UUID) -> list[BucketFigures]:
        """This recorder's figures for `deployment_id` that may not be in the database yet.

        That is the open bucket, the closed ones awaiting `flush()`, and those of a flush in
        progress (which may be committed already: a reader skips the rows of the same source and
        bucket, see `read_stats`).
        """
        found: list[BucketFigures] = []
        for batch in self._inflight:
            for start, counts, latency_sum in batch.buckets.get(deployment_id, ()):
                found.append(_figures(batch.source, start, counts, latency_sum))
        series = self._series.get(deployment_id)
        if series is not None:
            for start, counts, latency_sum in series.closed:
                found.append(_figures(self.source, start, counts, latency_sum))
            if series.counts[_REQUESTS]:
                found.append(_figures(self.source, series.start, series.counts, series.latency_sum))
        return found

    def _take(self, now: float, final: bool) -> _Batch:
        """Move what is due out of memory: closed buckets, and the open ones when `final`."""
        batch = _Batch(self.source)
        for deployment_id, series in self._series.items():
            if now >= series.end:
                series.roll(now)
            if final and series.counts[_REQUESTS]:
                series.closed.append((series.start, series.counts, series.latency_sum))
                series.counts = [0] * _WIDTH
                series.latency_sum = 0.0
            if series.closed:
                if len(series.closed) > MAX_PENDING_BUCKETS:
                    dropped = len(series.closed) - MAX_PENDING_BUCKETS
                    log.warning("traffic figures: dropping %d unwritten buckets of %s", dropped, series.label)
                    del series.closed[:dropped]
                batch.buckets[deployment_id] = series.closed
                series.closed = []
        if final and batch.buckets:
            # The open buckets' starts were written under this source: later traffic in the same
            # 10 seconds goes to rows of a new source, so no (deployment, start, source) repeats.
            self.source = new_source_id()
        return batch

    def _restore(self, batch: _Batch) -> None:
        """Put back the buckets of a failed flush, merging any whose start is held already."""
        for deployment_id, buckets in batch.buckets.items():
            series = self._series.get(deployment_id)
            if series is None:  # forgotten meanwhile
                continue
            for start, counts, latency_sum in buckets:
                if start == series.start:
                    _add_into(series.counts, counts)
                    series.latency_sum += latency_sum
                    continue
                for i, (held_start, held_counts, held_sum) in enumerate(series.closed):
                    if held_start == start:
                        _add_into(held_counts, counts)
                        series.closed[i] = (start, held_counts, held_sum + latency_sum)
                        break
                else:
                    series.closed.append((start, counts, latency_sum))
            series.closed.sort(key=lambda bucket: bucket[0])

    # -- database -------------------------------------------------------------------------------

    async def flush(
        self, sessionmaker: async_sessionmaker[AsyncSession], now: float | None = None, *, final: bool = False
    ) -> int:
        """Write every closed bucket (every bucket when `final`) as a `deployment_stats` row.

        Rows of deployments that no longer exist are dropped, with the deployment's in-memory state.
        If the write fails, the buckets go back to memory for the next flush and the error is
        raised. Returns the number of rows written.
        """
        batch = self._take(self._clock() if now is None else now, final)
        if not batch.buckets:
            return 0
        self._inflight.append(batch)
        try:
            return await self._write(sessionmaker, batch)
        except BaseException:
            self._restore(batch)
            raise
        finally:
            self._inflight.remove(batch)

    async def _write(self, sessionmaker: async_sessionmaker[AsyncSession], batch: _Batch) -> int:
        async with sessionmaker() as session:
            existing = await _existing(session, list(batch.buckets))
            for deployment_id in [d for d in batch.buckets if d not in existing]:
                log.debug("traffic figures: deployment %s is gone, dropping its figures", deployment_id)
                self.forget(deployment_id)  # also removes it from `batch`
            rows = {d: _rows(d, batch.source, buckets) for d, buckets in batch.buckets.items()}
            all_rows = [row for deployment_rows in rows.values() for row in deployment_rows]
            if not all_rows:
                return 0
            try:
                await session.execute(insert(DeploymentStat), all_rows)
                await session.commit()
                return len(all_rows)
            except IntegrityError as exc:
                # A deployment deleted since the check (or a repeated row): one transaction per
                # deployment, dropping the ones that still fail.
                await session.rollback()
                log.info("traffic figures: batch insert failed (%s), writing per deployment", exc.orig)
        written = 0
        for deployment_id, deployment_rows in rows.items():
            async with sessionmaker() as session:
                try:
                    await session.execute(insert(DeploymentStat), deployment_rows)
                    await session.commit()
                    written += len(deployment_rows)
                except IntegrityError as exc:
                    await session.rollback()
                    log.warning(
                        "traffic figures: dropping %d rows of deployment %s: %s",
                        len(deployment_rows),
                        deployment_id,
                        exc.orig,
                    )
        return written

    async def prune(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        older_than_seconds: float,
        now: float | None = None,
    ) -> int:
        """Delete the rows (of every source) of buckets that ended `older_than_seconds` ago or more.

        Deletes per chunk of deployment ids, so the (deployment_id, bucket_start, source) index
        serves the range. Returns the number of rows deleted.
        """
        cutoff = int((self._clock() if now is None else now) - older_than_seconds) - BUCKET_SECONDS
        deleted = 0
        async with sessionmaker() as session:
            ids = sorted((await session.scalars(select(Deployment.id))).all())
            for chunk in _chunks(ids, _IN_CHUNK):
                result = await session.execute(
                    delete(DeploymentStat).where(
                        DeploymentStat.deployment_id.in_(chunk), DeploymentStat.bucket_start <= cutoff
                    )
                )
                deleted += cast("CursorResult[Any]", result).rowcount
            await session.commit()
        return deleted

    async def run(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        interval: float = 5.0,
        retention_seconds: int = 7 * 86400,
    ) -> None:
        """Flush every `interval` seconds and prune hourly until cancelled, then flush everything.

        The first prune comes after a random delay (up to 5 minutes), so API processes started
        together do not all prune at once.
        """
        loop = asyncio.get_running_loop()
        next_prune = loop.time() + random.uniform(0.0, 300.0)  # noqa: S311 - not a secret
        try:
            while True:
                await asyncio.sleep(interval)
                try:
                    await self.flush(sessionmaker)
                except Exception:
                    log.exception("traffic figures: flush failed (retried at the next one)")
                if loop.time() >= next_prune:
                    next_prune = loop.time() + PRUNE_EVERY_SECONDS
                    try:
                        deleted = await self.prune(sessionmaker, retention_seconds)
                        log.debug("traffic figures: pruned %d rows", deleted)
                    except Exception:
                        log.exception("traffic figures: prune failed")
        except asyncio.CancelledError:
            try:
                await self.flush(sessionmaker, final=True)
            except Exception:
                log.exception("traffic figures: final flush failed; the last figures are lost")
            raise

    # -- Prometheus -----------------------------------------------------------------------------

    def prometheus_figures(self) -> Iterator[tuple[str, dict[int, int], list[int], float]]:
        """(deployment label, requests per code, count per bound, latency sum) per deployment."""
        for series in list(self._series.values()):
            yield series.label, series.codes.copy(), series.total_buckets.copy(), series.total_sum


async def _existing(session: AsyncSession, ids: list[uuid.UUID]) -> set[uuid.UUID]:
    found: set[uuid.UUID] = set()
    for chunk in _chunks(ids, _IN_CHUNK):
        found.update((await session.scalars(select(Deployment.id).where(Deployment.id.in_(chunk)))).all())
    return found


def _chunks(items: Sequence[uuid.UUID], size: int) -> Iterator[Sequence[uuid.UUID]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


_COLLECTOR: Final = GatewayCollector(LATENCY_BOUNDS_MS)
REGISTRY.register(_COLLECTOR)
