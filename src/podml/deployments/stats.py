"""The read side of the gateway's traffic figures: `GET /api/deployments/{id}/stats`.

`read_stats` sums the `deployment_stats` rows of every gateway process (`source`) over the window,
adds the buckets the given live recorder has not written yet (so a prediction shows at once in the
process that served it), and reports per step: requests, rate, 4xx and 5xx answers, and latency
quantiles computed from the merged histogram the way Prometheus' `histogram_quantile` does.

Steps are aligned on multiples of `step` seconds since the epoch (charts do not shift between
refreshes) and each holds whole 10-second buckets; the last step is the one holding `now`, so it
is partly elapsed and its rate divides by the elapsed part only.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from podml.deployments.models import DeploymentStat
from podml.gateway.stats import StatsRecorder
from podml.gateway.stats_buckets import BUCKET_SECONDS, LATENCY_BOUNDS_MS, BucketFigures

MIN_WINDOW_SECONDS = 60
MAX_WINDOW_SECONDS = 7 * 86400
MIN_STEP_SECONDS = BUCKET_SECONDS
MAX_POINTS = 1000


class StatsPoint(BaseModel):
    t: datetime  # start of the step, UTC
    requests: int
    requests_per_second: float
    errors_4xx: int
    errors_5xx: int
    p50_ms: float | None
    p99_ms: float | None


class DeploymentStats(BaseModel):
    deployment_id: uuid.UUID
    window_seconds: int
    step_seconds: int
    total_requests: int
    total_errors_4xx: int
    total_errors_5xx: int
    p50_ms: float | None
    p99_ms: float | None
    mean_ms: float | None
    points: list[StatsPoint]  # the whole window, oldest first, empty steps included


def points_for(window: int, step: int) -> int:
    """The number of points of a (window, step) query; `ValueError` when the pair is not allowed."""
    if not MIN_WINDOW_SECONDS <= window <= MAX_WINDOW_SECONDS:
        raise ValueError(
            f"window must be between {MIN_WINDOW_SECONDS} and {MAX_WINDOW_SECONDS} seconds (7 days); "
            f"got {window}"
        )
    if step < MIN_STEP_SECONDS or step % BUCKET_SECONDS:
        raise ValueError(
            f"step must be a multiple of {BUCKET_SECONDS} seconds, at least {MIN_STEP_SECONDS}; got {step}"
        )
    points = -(-window // step)
    if points > MAX_POINTS:
        raise ValueError(
            f"window / step gives {points} points, more than {MAX_POINTS}: "
            f"use a step of at least {-(-window // MAX_POINTS // BUCKET_SECONDS) * BUCKET_SECONDS} seconds"
        )
    return points


def histogram_quantile(
    q: float, counts: Sequence[int], bounds: Sequence[float] = LATENCY_BOUNDS_MS
) -> float | None:
    """Prometheus' `histogram_quantile` over per-bucket (not cumulative) counts.

    Linear interpolation inside the bucket holding the rank (the first bucket starts at 0); a rank
    in the +Inf bucket gives the highest finite bound. None when there is no observation.
    """
    total = sum(counts)
    if total <= 0 or len(counts) != len(bounds) or len(bounds) < 2:
        return None
    rank = q * total
    cumulative = 0
    for index, count in enumerate(counts[:-1]):
        if cumulative + count >= rank and count > 0:
            lower = bounds[index - 1] if index > 0 else 0.0
            upper = bounds[index]
            if index == 0 and upper <= 0:
                return upper
            return lower + (upper - lower) * ((rank - cumulative) / count)
        cumulative += count
    return bounds[-2]


class _Accumulator:
    __slots__ = ("e4xx", "e5xx", "histogram", "latency_sum", "requests")

    def __init__(self) -> None:
        self.requests = 0
        self.e4xx = 0
        self.e5xx = 0
        self.latency_sum = 0.0
        self.histogram = [0] * len(LATENCY_BOUNDS_MS)

    def add(self, requests: int, e4xx: int, e5xx: int, latency_sum: float, histogram: Sequence[int]) -> None:
        self.requests += requests
        self.e4xx += e4xx
        self.e5xx += e5xx
        self.latency_sum += latency_sum
        if len(histogram) == len(self.histogram):  # rows written with other bounds only lack quantiles
            mine = self.histogram
            for i, count in enumerate(histogram):
                mine[i] += count


async def read_stats(
    session: AsyncSession,
    deployment_id: uuid.UUID,
    *,
    window: int,
    step: int,
    now: float | None = None,
    live: StatsRecorder | None = None,
) -> DeploymentStats:
    """The deployment's figures over the last `window` seconds, in points of `step` seconds.

    One query reads the rows of every source; `live`'s unwritten buckets are added, and its rows of
    the same buckets skipped (a flush may commit them while we read).
    """
    count = points_for(window, step)
    now = time.time() if now is None else now
    end = (int(now // step) + 1) * step
    start = end - count * step

    memory = [f for f in (live.pending(deployment_id) if live else ()) if start <= f.bucket_start < end]
    held = {(f.source, f.bucket_start) for f in memory}
    result = await session.execute(
        select(
            DeploymentStat.source,
            DeploymentStat.bucket_start,
            DeploymentStat.requests,
            DeploymentStat.errors_4xx,
            DeploymentStat.errors_5xx,
            DeploymentStat.latency_sum_ms,
            DeploymentStat.latency_buckets,
        ).where(
            DeploymentStat.deployment_id == deployment_id,
            DeploymentStat.bucket_start >= start,
            DeploymentStat.bucket_start < end,
        )
    )
    stored = [BucketFigures(*row) for row in result if (row[0], row[1]) not in held]

    steps: dict[int, _Accumulator] = {}
    total = _Accumulator()
    for figures in _chain(stored, memory):
        index = (figures.bucket_start - start) // step
        accumulator = steps.get(index)
        if accumulator is None:
            accumulator = steps[index] = _Accumulator()
        for target in (accumulator, total):
            target.add(
                figures.requests,
                figures.errors_4xx,
                figures.errors_5xx,
                figures.latency_sum_ms,
                figures.latency_buckets,
            )

    open_bucket_end = int(now // BUCKET_SECONDS) * BUCKET_SECONDS + BUCKET_SECONDS
    points = []
    for index in range(count):
        t = start + index * step
        elapsed = max(min(step, open_bucket_end - t), BUCKET_SECONDS)
        accumulator = steps.get(index) or _EMPTY
        points.append(
            StatsPoint(
                t=datetime.fromtimestamp(t, UTC),
                requests=accumulator.requests,
                requests_per_second=accumulator.requests / elapsed,
                errors_4xx=accumulator.e4xx,
                errors_5xx=accumulator.e5xx,
                p50_ms=histogram_quantile(0.5, accumulator.histogram),
                p99_ms=histogram_quantile(0.99, accumulator.histogram),
            )
        )
    mean = total.latency_sum / total.requests if total.requests else None
    return DeploymentStats(
        deployment_id=deployment_id,
        window_seconds=window,
        step_seconds=step,
        total_requests=total.requests,
        total_errors_4xx=total.e4xx,
        total_errors_5xx=total.e5xx,
        p50_ms=histogram_quantile(0.5, total.histogram),
        p99_ms=histogram_quantile(0.99, total.histogram),
        mean_ms=mean if mean is None or math.isfinite(mean) else None,
        points=points,
    )


_EMPTY = _Accumulator()


def _chain(*parts: Iterable[BucketFigures]) -> Iterable[BucketFigures]:
    for part in parts:
        yield from part
