"""Gateway traffic figures: recording, flushing to `deployment_stats`, reading them back for charts,
and the Prometheus exposition (both back ends for everything that touches the database).

Every test drives time with its own fake clock, far from the real date and from the other tests'
buckets, and creates its own deployments, so tests share the database without seeing each other.
"""

from __future__ import annotations

import asyncio
import math
import uuid
from collections.abc import AsyncIterator
from typing import Any, cast

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import podml.gateway.stats as stats_module
from podml.database import create_engine, create_sessionmaker
from podml.deployments.models import Deployment, DeploymentStat
from podml.deployments.stats import DeploymentStats, histogram_quantile, points_for, read_stats
from podml.gateway.stats import StatsRecorder
from podml.gateway.stats_buckets import LATENCY_BOUNDS_MS
from podml.migrations import upgrade_to_head
from podml.registry.models import Model, ModelVersion

Maker = async_sessionmaker[AsyncSession]

T0 = 60 * 33_333_330  # 2033-05-18 03:30:00 UTC: a multiple of every step used below
DAY = 86400


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="session")
async def maker(db_url: str) -> AsyncIterator[Maker]:
    """Sessions on the back end's test database, migrated to head (idempotent if the app did it)."""
    engine = create_engine(db_url)
    await upgrade_to_head(engine)
    yield create_sessionmaker(engine)
    await engine.dispose()


async def new_deployment(maker: Maker) -> uuid.UUID:
    owner = f"stats-test|{uuid.uuid4().hex}"
    async with maker() as session:
        model = Model(owner_sub=owner, name="m")
        session.add(model)
        await session.flush()
        version = ModelVersion(
            model_id=model.id,
            owner_sub=owner,
            version_tag="v1",
            version_number=1,
            storage_prefix=f"models/{model.id}/v1",
            artifact_uri=f"file:///data/models/{model.id}/v1",
        )
        session.add(version)
        await session.flush()
        deployment = Deployment(
            owner_sub=owner, name="d", model_id=model.id, version_id=version.id, resources_json={}
        )
        session.add(deployment)
        await session.commit()
        return deployment.id


async def delete_deployment(maker: Maker, deployment_id: uuid.UUID) -> None:
    async with maker() as session:
        await session.execute(delete(Deployment).where(Deployment.id == deployment_id))
        await session.commit()


async def stored_rows(maker: Maker, deployment_id: uuid.UUID) -> list[DeploymentStat]:
    async with maker() as session:
        query = select(DeploymentStat).where(DeploymentStat.deployment_id == deployment_id)
        return list((await session.scalars(query.order_by(DeploymentStat.bucket_start))).all())


async def read(maker: Maker, deployment_id: uuid.UUID, **kwargs: Any) -> DeploymentStats:
    async with maker() as session:
        return await read_stats(session, deployment_id, **kwargs)


# -- quantiles ------------------------------------------------------------------------------------


async def test_quantiles_of_a_uniform_distribution(maker: Maker) -> None:
    deployment = await new_deployment(maker)
    clock = Clock(T0 + 1)
    recorder = StatsRecorder(clock=clock)
    latencies = [(i + 0.5) / 100 for i in range(1000)]  # uniform on 0-10 ms
    for latency in latencies:
        recorder.record(deployment, 200, latency)
    assert await recorder.flush(maker, now=T0 + 10) == 1

    result = await read(maker, deployment, window=3600, step=60, now=T0 + 30)
    assert result.total_requests == 1000
    assert result.total_errors_4xx == result.total_errors_5xx == 0
    # 5 ms is the bound of the (3, 5] bucket; p99 falls inside (7.5, 10]: within a bucket's width.
    assert result.p50_ms is not None
    assert abs(result.p50_ms - 5.0) <= 2.0
    assert result.p99_ms is not None
    assert 7.5 <= result.p99_ms <= 10.0
    assert result.p50_ms == pytest.approx(5.0)  # exact for this spread: histogram_quantile's answer
    assert result.p99_ms == pytest.approx(9.9)
    assert result.mean_ms == pytest.approx(sum(latencies) / len(latencies))
    assert len(result.points) == 60
    last = result.points[-1]
    assert last.t.timestamp() == T0
    assert last.t.utcoffset() is not None
    assert last.requests == 1000
    assert last.p50_ms == pytest.approx(5.0)
    assert all(p.requests == 0 and p.p50_ms is None and p.p99_ms is None for p in result.points[:-1])


def test_histogram_quantile_matches_prometheus() -> None:
    counts = [0] * len(LATENCY_BOUNDS_MS)
    assert histogram_quantile(0.5, counts) is None
    counts[2] = 10  # ten observations in (0.5, 1]
    assert histogram_quantile(0.5, counts) == pytest.approx(0.75)
    assert histogram_quantile(1.0, counts) == pytest.approx(1.0)
    counts[0] = 10  # and ten in (0, 0.25]: the first bucket starts at 0
    assert histogram_quantile(0.25, counts) == pytest.approx(0.25 * 0.5)
    only_inf = [0] * len(LATENCY_BOUNDS_MS)
    only_inf[-1] = 3  # the +Inf bucket answers with the highest finite bound
    assert histogram_quantile(0.5, only_inf) == LATENCY_BOUNDS_MS[-2]
    assert math.isinf(LATENCY_BOUNDS_MS[-1])
    assert list(LATENCY_BOUNDS_MS) == sorted(LATENCY_BOUNDS_MS)


def test_latencies_land_in_inclusive_buckets() -> None:
    recorder = StatsRecorder(clock=Clock(T0 + 1))
    deployment = uuid.uuid4()
    for latency in (0.0, 0.25, 0.2501, 10_000.0, 10_000.5, float("nan"), -1.0):
        recorder.record(deployment, 200, latency)
    (bucket,) = recorder.pending(deployment)
    expected = [0] * len(LATENCY_BOUNDS_MS)
    expected[0] = 4  # 0, 0.25 (le is inclusive), NaN and negative (counted as 0)
    expected[1] = 1
    expected[-2] = 1
    expected[-1] = 1
    assert bucket.latency_buckets == expected
    assert bucket.latency_sum_ms == pytest.approx(0.25 + 0.2501 + 10_000 + 10_000.5)


# -- counting ---------------------------------------------------------------------------------------


async def test_rate_per_step(maker: Maker) -> None:
    deployment = await new_deployment(maker)
    clock = Clock(T0)
    recorder = StatsRecorder(clock=clock)
    for second in range(60):  # 10 requests a second during the first minute
        clock.now = T0 + second + 0.5
        for _ in range(10):
            recorder.record(deployment, 200, 1.0)
    for second in range(60, 120):  # then 2 a second
        clock.now = T0 + second + 0.5
        for _ in range(2):
            recorder.record(deployment, 200, 1.0)
    clock.now = T0 + 120
    assert await recorder.flush(maker) == 12  # twelve closed 10-second buckets

    result = await read(maker, deployment, window=180, step=60, now=T0 + 179)
    assert [p.t.timestamp() for p in result.points] == [T0, T0 + 60, T0 + 120]
    assert [p.requests for p in result.points] == [600, 120, 0]
    assert [p.requests_per_second for p in result.points] == pytest.approx([10.0, 2.0, 0.0])
    assert result.total_requests == 720

    # Ten-second steps: one bucket each.
    fine = await read(maker, deployment, window=120, step=10, now=T0 + 119)
    assert [p.requests for p in fine.points] == [100] * 6 + [20] * 6
    assert [p.requests_per_second for p in fine.points] == pytest.approx([10.0] * 6 + [2.0] * 6)

    # The step holding `now` is partly elapsed: its rate divides by the elapsed part (the open
    # 10-second bucket counted whole), not by the whole step.
    clock.now = T0 + 121
    for _ in range(30):
        recorder.record(deployment, 200, 1.0)
    live = await read(maker, deployment, window=180, step=60, now=T0 + 125, live=recorder)
    assert [p.requests for p in live.points] == [600, 120, 30]
    assert live.points[-1].requests_per_second == pytest.approx(3.0)


async def test_4xx_and_5xx_counting(maker: Maker) -> None:
    deployment = await new_deployment(maker)
    recorder = StatsRecorder(clock=Clock(T0 + 2))
    codes = [200, 201, 204, 301, 400, 401, 404, 422, 429, 499, 500, 502, 503, 504, 599]
    for code in codes:
        recorder.record(deployment, code, 3.0)

    live = await read(maker, deployment, window=60, step=10, now=T0 + 5, live=recorder)
    assert (live.total_requests, live.total_errors_4xx, live.total_errors_5xx) == (15, 6, 5)
    assert (live.points[-1].errors_4xx, live.points[-1].errors_5xx) == (6, 5)

    assert await recorder.flush(maker, now=T0 + 10) == 1
    (row,) = await stored_rows(maker, deployment)
    assert (row.requests, row.errors_4xx, row.errors_5xx) == (15, 6, 5)
    assert row.latency_sum_ms == pytest.approx(45.0)
    assert sum(row.latency_buckets) == 15
    assert len(row.latency_buckets) == len(LATENCY_BOUNDS_MS)
    assert row.latency_buckets[LATENCY_BOUNDS_MS.index(3.0)] == 15
    assert row.bucket_start == T0
    assert row.source == recorder.source
    stored = await read(maker, deployment, window=60, step=10, now=T0 + 15)
    assert (stored.total_requests, stored.total_errors_4xx, stored.total_errors_5xx) == (15, 6, 5)


async def test_two_processes_are_summed(maker: Maker) -> None:
    deployment = await new_deployment(maker)
    clock = Clock(T0 + 3)
    first, second = StatsRecorder(clock=clock), StatsRecorder(clock=clock)
    assert first.source != second.source
    for _ in range(7):
        first.record(deployment, 200, 1.5)
    for _ in range(5):
        second.record(deployment, 500, 40.0)
    assert await first.flush(maker, now=T0 + 10) == 1
    assert await second.flush(maker, now=T0 + 10) == 1
    rows = await stored_rows(maker, deployment)
    assert sorted(r.source for r in rows) == sorted([first.source, second.source])

    result = await read(maker, deployment, window=60, step=10, now=T0 + 12)
    assert (result.total_requests, result.total_errors_5xx) == (12, 5)
    assert result.mean_ms == pytest.approx((7 * 1.5 + 5 * 40.0) / 12)
    assert result.points[-2].requests == 12  # the bucket [T0, T0+10)

    # One process's fresh traffic shows in its own reads before it is flushed, on top of both.
    clock.now = T0 + 14
    first.record(deployment, 200, 1.5)
    mine = await read(maker, deployment, window=60, step=10, now=T0 + 15, live=first)
    assert mine.total_requests == 13
    assert [p.requests for p in mine.points[-2:]] == [12, 1]


async def test_live_unflushed_figures_are_visible_once(maker: Maker) -> None:
    deployment = await new_deployment(maker)
    clock = Clock(T0 + 1)
    recorder = StatsRecorder(clock=clock)
    for _ in range(4):
        recorder.record(deployment, 200, 2.0)
    clock.now = T0 + 11  # a second bucket, still open
    recorder.record(deployment, 200, 2.0)

    assert (await read(maker, deployment, window=60, step=60, now=T0 + 12)).total_requests == 0
    live = await read(maker, deployment, window=60, step=60, now=T0 + 12, live=recorder)
    assert live.total_requests == 5
    assert live.p50_ms is not None
    assert 1.0 < live.p50_ms <= 2.0

    assert await recorder.flush(maker, now=T0 + 12) == 1  # the closed bucket only
    assert [b.bucket_start for b in recorder.pending(deployment)] == [T0 + 10]
    after = await read(maker, deployment, window=60, step=60, now=T0 + 12, live=recorder)
    assert after.total_requests == 5  # not counted twice
    stored = await read(maker, deployment, window=60, step=60, now=T0 + 12)
    assert stored.total_requests == 4


async def test_a_read_during_a_flush_counts_each_request_once(maker: Maker) -> None:
    """Rows committed while their flush is still in flight are in the DB and in `pending()`."""
    deployment = await new_deployment(maker)
    recorder = StatsRecorder(clock=Clock(T0 + 1))
    for _ in range(9):
        recorder.record(deployment, 200, 2.0)
    seen: list[int] = []

    class ReadAfterCommit:
        def __call__(self) -> AsyncSession:
            session = maker()
            commit = session.commit

            async def commit_then_read() -> None:
                await commit()
                assert len(recorder.pending(deployment)) == 1  # still in flight
                result = await read(maker, deployment, window=60, step=10, now=T0 + 10, live=recorder)
                seen.append(result.total_requests)

            session.commit = commit_then_read  # type: ignore[method-assign]
            return session

    assert await recorder.flush(cast(Maker, ReadAfterCommit()), now=T0 + 10) == 1
    assert seen == [9]
    assert recorder.pending(deployment) == []


# -- flushing -----------------------------------------------------------------------------------------


async def test_flush_writes_closed_buckets_and_final_writes_all(maker: Maker) -> None:
    deployment = await new_deployment(maker)
    clock = Clock(T0 + 1)
    recorder = StatsRecorder(clock=clock)
    recorder.record(deployment, 200, 1.0)
    assert await recorder.flush(maker, now=T0 + 9.9) == 0  # still open
    assert await recorder.flush(maker, now=T0 + 10) == 1
    assert await recorder.flush(maker, now=T0 + 20) == 0  # nothing new

    clock.now = T0 + 21
    recorder.record(deployment, 200, 1.0)
    first_source = recorder.source
    assert await recorder.flush(maker, final=True) == 1  # the open bucket, at shutdown
    # Traffic after a final flush in the same bucket goes to a new source: no duplicate key.
    recorder.record(deployment, 200, 1.0)
    assert recorder.source != first_source
    assert await recorder.flush(maker, final=True) == 1
    rows = await stored_rows(maker, deployment)
    assert [(r.bucket_start, r.requests) for r in rows] == [(T0, 1), (T0 + 20, 1), (T0 + 20, 1)]
    total = await read(maker, deployment, window=60, step=60, now=T0 + 25, live=recorder)
    assert total.total_requests == 3


async def test_a_failed_flush_keeps_the_figures(maker: Maker) -> None:
    deployment = await new_deployment(maker)
    clock = Clock(T0 + 1)
    recorder = StatsRecorder(clock=clock)
    for _ in range(3):
        recorder.record(deployment, 200, 1.0)

    def broken() -> AsyncSession:
        raise ConnectionError("database down")

    with pytest.raises(ConnectionError):
        await recorder.flush(cast(Maker, broken), now=T0 + 10)
    clock.now = T0 + 12
    recorder.record(deployment, 200, 1.0)
    assert sum(b.requests for b in recorder.pending(deployment)) == 4
    with pytest.raises(ConnectionError):
        await recorder.flush(cast(Maker, broken), now=T0 + 15, final=True)
    recorder.record(deployment, 200, 1.0)  # merges with the restored open bucket
    assert await recorder.flush(maker, now=T0 + 20) == 2
    rows = await stored_rows(maker, deployment)
    assert [(r.bucket_start, r.requests) for r in rows] == [(T0, 3), (T0 + 10, 2)]


async def test_flush_after_the_deployment_was_deleted(maker: Maker) -> None:
    kept, deleted = await new_deployment(maker), await new_deployment(maker)
    never = uuid.uuid4()
    recorder = StatsRecorder(clock=Clock(T0 + 1))
    for deployment in (kept, deleted, never):
        recorder.record(deployment, 200, 1.0)
    await delete_deployment(maker, deleted)

    assert await recorder.flush(maker, now=T0 + 10) == 1
    assert len(await stored_rows(maker, kept)) == 1
    assert await stored_rows(maker, deleted) == []
    assert set(recorder.deployments()) == {kept}  # the gone ones are forgotten


async def test_flush_when_a_deployment_goes_during_the_write(
    maker: Maker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deleted between the existence check and the insert: the foreign key fails, the rest is kept."""
    kept, deleted = await new_deployment(maker), await new_deployment(maker)
    recorder = StatsRecorder(clock=Clock(T0 + 1))
    for deployment in (kept, deleted):
        recorder.record(deployment, 200, 1.0)
    await delete_deployment(maker, deleted)

    async def everything_exists(session: AsyncSession, ids: list[uuid.UUID]) -> set[uuid.UUID]:
        return set(ids)

    monkeypatch.setattr(stats_module, "_existing", everything_exists)
    assert await recorder.flush(maker, now=T0 + 10) == 1
    assert len(await stored_rows(maker, kept)) == 1
    assert await stored_rows(maker, deleted) == []
    assert recorder.pending(kept) == []
    assert recorder.pending(deleted) == []


async def test_prune(maker: Maker) -> None:
    deployment = await new_deployment(maker)
    old = 1_000_000_000  # 2001: no other test has buckets this old
    clock = Clock(old + 1)
    recorder = StatsRecorder(clock=clock)
    for start in (old, old + 10, old + DAY, old + 8 * DAY):
        clock.now = start + 1
        recorder.record(deployment, 200, 1.0)
    assert await recorder.flush(maker, now=old + 8 * DAY + 10) == 4

    # Seven days' retention: the buckets that ended 7 days ago or more go; [old + 1 day, + 10 s)
    # ended 7 days minus 5 s ago and stays.
    assert await recorder.prune(maker, 7 * DAY, now=old + 8 * DAY + 5) == 2
    rows = await stored_rows(maker, deployment)
    assert [r.bucket_start for r in rows] == [old + DAY, old + 8 * DAY]
    assert await recorder.prune(maker, 7 * DAY, now=old + 8 * DAY + 5) == 0
    assert await recorder.prune(maker, 7 * DAY, now=old + 8 * DAY + 10) == 1


async def test_run_flushes_prunes_survives_errors_and_flushes_at_the_end(maker: Maker) -> None:
    deployment = await new_deployment(maker)
    clock = Clock(T0 + 1)
    recorder = StatsRecorder(clock=clock)
    recorder.record(deployment, 200, 1.0)
    failures = [ConnectionError("database down")]

    def flaky() -> AsyncSession:
        if failures:
            raise failures.pop()
        return maker()

    task = asyncio.create_task(recorder.run(cast(Maker, flaky), interval=0.001))
    clock.now = T0 + 11  # the first bucket is closed: flushed after the failed attempt
    await until(lambda: len(recorder.pending(deployment)) == 0)
    assert not failures
    assert not task.done()
    recorder.record(deployment, 200, 1.0)  # into the open bucket [T0+10, T0+20)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    rows = await stored_rows(maker, deployment)
    assert [(r.bucket_start, r.requests) for r in rows] == [(T0, 1), (T0 + 10, 1)]


async def until(condition: Any) -> None:
    for _ in range(5000):
        if condition():
            return
        await asyncio.sleep(0.001)
    raise AssertionError("condition not reached")


# -- validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("window", "step", "message"),
    [
        (59, 10, "window must be between 60 and 604800"),
        (7 * DAY + 1, 3600, "window must be between"),
        (3600, 0, "step must be a multiple of 10"),
        (3600, 5, "step must be a multiple of 10"),
        (3600, 15, "step must be a multiple of 10"),
        (7 * DAY, 10, "more than 1000: use a step of at least 610 seconds"),
        (3600, 3, "step must be"),
    ],
)
def test_window_and_step_validation(window: int, step: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        points_for(window, step)


def test_window_and_step_limits_accepted() -> None:
    assert points_for(60, 10) == 6
    assert points_for(3600, 60) == 60
    assert points_for(7 * DAY, 610) == 992
    assert points_for(10_000, 10) == 1000
    assert points_for(100, 60) == 2  # a partial step still gets its point


async def test_read_stats_validates_before_reading(maker: Maker) -> None:
    async with maker() as session:
        with pytest.raises(ValueError, match="step must be"):
            await read_stats(session, uuid.uuid4(), window=3600, step=25)


async def test_read_stats_of_an_idle_deployment(maker: Maker) -> None:
    result = await read(maker, uuid.uuid4(), window=3600, step=60, now=T0 + 7)
    assert len(result.points) == 60
    assert (result.total_requests, result.p50_ms, result.p99_ms, result.mean_ms) == (0, None, None, None)
    assert result.points[0].t.timestamp() == T0 + 60 - 3600
    body = result.model_dump(mode="json")
    assert body["points"][-1] == {
        "t": "2033-05-18T03:30:00Z",
        "requests": 0,
        "requests_per_second": 0.0,
        "errors_4xx": 0,
        "errors_5xx": 0,
        "p50_ms": None,
        "p99_ms": None,
    }


# -- Prometheus -----------------------------------------------------------------------------------


def scrape() -> tuple[str, dict[tuple[str, frozenset[tuple[str, str]]], float]]:
    """The default registry's exposition, and its samples by (name, labels)."""
    text = generate_latest().decode()
    values = {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    return text, values


def key(name: str, **labels: str) -> tuple[str, frozenset[tuple[str, str]]]:
    return name, frozenset(labels.items())


def test_prometheus_exposition() -> None:
    clock = Clock(T0 + 1)
    recorder = StatsRecorder(clock=clock)
    deployment = uuid.uuid4()
    label = str(deployment)
    for _ in range(3):
        recorder.record(deployment, 200, 0.4)
    recorder.record(deployment, 503, 30_000.0)
    text, values = scrape()
    assert f'podml_gateway_requests_total{{code="200",deployment="{label}"}} 3.0' in text
    assert "# TYPE podml_gateway_requests_total counter" in text
    assert "# TYPE podml_gateway_request_latency_ms histogram" in text
    assert values[key("podml_gateway_requests_total", deployment=label, code="200")] == 3
    assert values[key("podml_gateway_requests_total", deployment=label, code="503")] == 1
    bucket = "podml_gateway_request_latency_ms_bucket"
    assert values[key(bucket, deployment=label, le="0.25")] == 0
    assert values[key(bucket, deployment=label, le="0.5")] == 3
    assert values[key(bucket, deployment=label, le="10000.0")] == 3
    assert values[key(bucket, deployment=label, le="+Inf")] == 4
    bounds = [
        dict(labels)["le"] for (name, labels) in values if name == bucket and ("deployment", label) in labels
    ]
    assert bounds == ["+Inf" if math.isinf(bound) else str(bound) for bound in LATENCY_BOUNDS_MS]
    assert values[key("podml_gateway_request_latency_ms_count", deployment=label)] == 4
    assert values[key("podml_gateway_request_latency_ms_sum", deployment=label)] == pytest.approx(30001.2)

    # The series are cumulative: they keep counting across buckets (and flushes).
    clock.now = T0 + 100
    recorder.record(deployment, 200, 0.4)
    assert scrape()[1][key("podml_gateway_requests_total", deployment=label, code="200")] == 4

    recorder.forget(deployment)
    assert label not in scrape()[0]


def test_prometheus_sums_recorders_of_one_process() -> None:
    deployment = uuid.uuid4()
    recorder, other = StatsRecorder(clock=Clock(T0 + 1)), StatsRecorder(clock=Clock(T0 + 1))
    recorder.record(deployment, 200, 1.0)
    other.record(deployment, 200, 1.0)
    values = scrape()[1]
    assert values[key("podml_gateway_requests_total", deployment=str(deployment), code="200")] == 2


async def test_counts_survive_many_deployments_and_buckets(maker: Maker) -> None:
    """A broader check of the bookkeeping: many deployments, sparse traffic over many buckets."""
    deployments = [await new_deployment(maker) for _ in range(3)]
    clock = Clock(T0)
    recorder = StatsRecorder(clock=clock)
    expected = dict.fromkeys(deployments, 0)
    for second in range(0, 300, 7):
        clock.now = T0 + second
        for n, deployment in enumerate(deployments):
            if second % (n + 2) == 0:
                recorder.record(deployment, 200, float(n))
                expected[deployment] += 1
        if second % 50 == 0:
            await recorder.flush(maker)
    await recorder.flush(maker, final=True)
    async with maker() as session:
        query = select(DeploymentStat.deployment_id, func.sum(DeploymentStat.requests)).where(
            DeploymentStat.deployment_id.in_(deployments)
        )
        stored = dict((await session.execute(query.group_by(DeploymentStat.deployment_id))).all())
    assert {d: int(n) for d, n in stored.items()} == {d: n for d, n in expected.items() if n}
    for deployment in deployments:
        result = await read(maker, deployment, window=600, step=60, now=T0 + 300)
        assert result.total_requests == expected[deployment]
