"""A cancel that meets the scheduler half-way: the owner cancels a queued job while the scheduler
is starting it (on Kubernetes, creating its namespace and Job takes a few API calls). The cancel
wins: the job ends cancelled and stays so, and whatever had been started is stopped."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest

from podml.executors.base import Phase, TrainingJobSpec
from tests.support.csvs import linear_csv
from tests.support.live import Live

pytestmark = pytest.mark.both_executors  # the reconciler's suite: local and Kubernetes


async def test_a_job_cancelled_while_it_starts_stays_cancelled_and_is_stopped(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = await live.api.new_user()
    config = await live.configuration(user, linear_csv(200), ["x"], "y")
    executor = live.app.state.executor
    start = executor.start_training
    starting, go_on = asyncio.Event(), asyncio.Event()

    async def slow_start(spec: TrainingJobSpec) -> None:
        await start(spec)  # the execution exists...
        starting.set()
        await go_on.wait()  # ...but the scheduler has not recorded it yet

    monkeypatch.setattr(executor, "start_training", slow_start)
    job = await live.train(user, config["id"])
    await asyncio.wait_for(starting.wait(), 30)
    url = f"/api/jobs/{job['id']}"
    job_id = uuid.UUID(job["id"])
    cancelled = await live.api.client.post(f"{url}/cancel", headers=user.headers)
    assert cancelled.status_code == 202, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    go_on.set()
    deadline = time.monotonic() + 10
    seen: dict[str, Any] = {}
    while time.monotonic() < deadline:  # the scheduler's write must not bring it back to running
        seen = (await live.api.client.get(url, headers=user.headers)).json()
        assert seen["status"] == "cancelled", seen
        if (await executor.observe_training(job_id)).phase in (Phase.MISSING, Phase.FAILED):
            break
        await asyncio.sleep(0.1)
    assert seen["error"] == "cancelled before it started"
    # What had been started is stopped: no process, no Job left running.
    assert (await executor.observe_training(job_id)).phase in (Phase.MISSING, Phase.FAILED)
    await asyncio.sleep(1.0)
    assert (await live.api.client.get(url, headers=user.headers)).json()["status"] == "cancelled"
