"""Cancel, concurrency limits and the queue, with real trainer processes."""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import pytest

from tests.support.api import ApiUser
from tests.support.live import Live

pytestmark = pytest.mark.both_executors  # the reconciler's suite: local and Kubernetes


def slow_csv(rows: int = 20_000, seed: int = 3) -> str:
    rng = random.Random(seed)
    lines = ["a,b,c,d,e,y"]
    for _ in range(rows):
        values = [rng.random() for _ in range(5)]
        lines.append(",".join(f"{v:.4f}" for v in values) + f",{sum(values) + rng.random():.4f}")
    return "\n".join(lines) + "\n"


SLOW = {"model_type": "random_forest", "hyperparams": {"n_estimators": 1000, "max_depth": None}}


async def _wait_status(
    live: Live, user: ApiUser, job_id: str, status: str, timeout: float = 30
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job: dict[str, Any] = (await live.api.client.get(f"/api/jobs/{job_id}", headers=user.headers)).json()
        if job["status"] == status:
            return job
        await asyncio.sleep(0.05)
    raise AssertionError(f"job never reached {status}")


async def test_cancel_a_running_job_within_two_seconds(live: Live) -> None:
    user = await live.api.new_user()
    config = await live.configuration(user, slow_csv(), ["a", "b", "c", "d", "e"], "y", **SLOW)
    job = await live.train(user, config["id"])
    await _wait_status(live, user, job["id"], "running")
    await asyncio.sleep(1.0)  # well into fitting
    asked = time.monotonic()
    response = await live.api.client.post(f"/api/jobs/{job['id']}/cancel", headers=user.headers)
    assert response.status_code == 202
    assert response.json()["cancel_requested_at"] is not None
    cancelled = await _wait_status(live, user, job["id"], "cancelled", timeout=10)
    assert time.monotonic() - asked < 2.0
    assert cancelled["model_version_id"] is None
    again = await live.api.client.post(f"/api/jobs/{job['id']}/cancel", headers=user.headers)
    assert again.status_code == 409


async def test_cancel_a_queued_job_and_delete_rules(live: Live) -> None:
    user = await live.api.new_user()
    config = await live.configuration(user, slow_csv(2000), ["a", "b"], "y", **SLOW)
    jobs = [await live.train(user, config["id"]) for _ in range(3)]  # the third waits (limit 2)
    third = (await live.api.client.get(f"/api/jobs/{jobs[2]['id']}", headers=user.headers)).json()
    assert third["status"] == "queued"
    busy = await live.api.client.delete(f"/api/configurations/{config['id']}", headers=user.headers)
    assert busy.status_code == 409
    cancelled = await live.api.client.post(f"/api/jobs/{jobs[2]['id']}/cancel", headers=user.headers)
    assert cancelled.json()["status"] == "cancelled"
    for job in jobs[:2]:
        await live.api.client.post(f"/api/jobs/{job['id']}/cancel", headers=user.headers)
    for job in jobs[:2]:
        assert (await live.wait(user, job["id"]))["status"] == "cancelled"
    deleted = await live.api.client.delete(f"/api/configurations/{config['id']}", headers=user.headers)
    assert deleted.status_code == 204
    assert (await live.api.client.get(f"/api/jobs/{jobs[0]['id']}", headers=user.headers)).status_code == 404


async def test_two_users_at_their_limit_never_exceed_it(live: Live) -> None:
    users = [await live.api.new_user(), await live.api.new_user()]
    csv = slow_csv(3000)
    submitted: dict[str, list[str]] = {}
    for user in users:
        config = await live.configuration(
            user, csv, ["a", "b", "c"], "y", model_type="random_forest", hyperparams={"n_estimators": 60}
        )
        submitted[user.sub] = [(await live.train(user, config["id"]))["id"] for _ in range(4)]
    peak = {user.sub: 0 for user in users}
    waiting_reasons: set[str] = set()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        done = True
        for user in users:
            listing = (await live.api.client.get("/api/jobs", headers=user.headers)).json()["items"]
            running = sum(1 for job in listing if job["status"] == "running")
            peak[user.sub] = max(peak[user.sub], running)
            assert running <= 2, listing
            waiting_reasons |= {job["status_message"] for job in listing if job["status"] == "queued"}
            done &= all(job["status"] in ("succeeded", "failed", "cancelled") for job in listing)
        if done:
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("jobs did not finish")
    assert peak == {user.sub: 2 for user in users}
    assert any("limit 2" in (reason or "") for reason in waiting_reasons)
    for user in users:
        listing = (await live.api.client.get("/api/jobs", headers=user.headers)).json()["items"]
        assert {job["status"] for job in listing} == {"succeeded"}
        # queued in order: each job started no earlier than the one submitted before it
        by_submission = sorted(listing, key=lambda job: job["created_at"])
        starts = [job["started_at"] for job in by_submission]
        assert starts == sorted(starts)
