"""A running job survives a spell in which its executor cannot be asked (the Kubernetes API server
restarting, a network partition): it stays running, says why it is not followed, and finishes
normally, with its logs, once the executor answers again."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest

from podml.executors.base import ExecutorError, Observation
from tests.jobs.test_scheduling import slow_csv
from tests.support.live import Live

pytestmark = pytest.mark.both_executors  # the reconciler's suite: local and Kubernetes


async def test_a_job_runs_on_while_its_executor_cannot_be_asked(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = await live.api.new_user()
    config = await live.configuration(user, slow_csv(500), ["a", "b", "c", "d", "e"], "y")
    executor = live.app.state.executor
    observe = executor.observe_training
    down = asyncio.Event()
    refused: list[uuid.UUID] = []

    async def unreachable(job_id: uuid.UUID) -> Observation:
        if down.is_set():
            refused.append(job_id)
            raise ExecutorError("read Job: the Kubernetes API did not answer (no answer in 30 s)")
        result: Observation = await observe(job_id)
        return result

    logs_down = asyncio.Event()
    read_logs = executor.training_logs

    async def logs_unreachable(job_id: uuid.UUID, tail_bytes: int = 256 * 1024) -> str:
        if logs_down.is_set():
            raise ExecutorError("logs of train-x: the Kubernetes API did not answer (no answer in 30 s)")
        text: str = await read_logs(job_id, tail_bytes)
        return text

    # Fault injection in the platform's own executor: what an unreachable API server makes of it.
    monkeypatch.setattr(executor, "observe_training", unreachable)
    monkeypatch.setattr(executor, "training_logs", logs_unreachable)
    job = await live.train(user, config["id"])
    down.set()
    job_url = f"/api/jobs/{job['id']}"
    deadline = time.monotonic() + 30
    seen: dict[str, Any] = {}
    while time.monotonic() < deadline and "cannot be read" not in (seen.get("status_message") or ""):
        seen = (await live.api.client.get(job_url, headers=user.headers)).json()
        await asyncio.sleep(0.1)
    assert seen["status"] == "running", seen
    said = "its state cannot be read for now: read Job: the Kubernetes API did not answer"
    assert said in seen["status_message"]
    await asyncio.sleep(1.5)  # several passes of the reconciler, all refused; the trainer ends meanwhile
    assert len(refused) >= 2
    assert (await live.api.client.get(job_url, headers=user.headers)).json()["status"] == "running"
    # The API answers again, but the pod's logs cannot be read yet: the job is not settled without
    # them (its outcome is known; its logs would be lost for good).
    logs_down.set()
    down.clear()
    while time.monotonic() < deadline + 30 and "ended; its logs" not in (seen.get("status_message") or ""):
        seen = (await live.api.client.get(job_url, headers=user.headers)).json()
        await asyncio.sleep(0.1)
    assert seen["status"] == "running", seen
    assert "ended; its logs cannot be read for now: logs of train-x" in seen["status_message"]
    logs_down.clear()
    finished = await live.wait(user, job["id"], timeout=120)
    assert finished["status"] == "succeeded", finished
    assert finished["model_version_id"] is not None
    logs = (await live.api.client.get(f"{job_url}/logs", headers=user.headers)).json()
    assert "downloading the dataset" in logs["logs"], logs
