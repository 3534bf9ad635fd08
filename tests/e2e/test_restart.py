"""Kill `podml serve` with SIGKILL while jobs run, start it again: no job is stuck or lost."""

from __future__ import annotations

import json
import os
import random
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.server import free_port, podml_serve

FINAL = {"succeeded", "failed", "cancelled"}


def _csv(rows: int = 15_000) -> str:
    rng = random.Random(5)
    lines = ["a,b,c,y"]
    for _ in range(rows):
        a, b, c = rng.random(), rng.random(), rng.random()
        lines.append(f"{a:.4f},{b:.4f},{c:.4f},{a + 2 * b - c + rng.random() / 10:.4f}")
    return "\n".join(lines) + "\n"


def _jobs(http: httpx.Client, headers: dict[str, str]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = http.get("/api/jobs", headers=headers).json()["items"]
    return items


@pytest.mark.timeout(300)  # three forests trained, then built (compiled to ONNX and verified)
def test_sigkill_mid_job_then_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {
        "PODML_SECRET_KEY": "restart-test-secret-key-long-enough-01234",
        "PODML_RECONCILE_BUSY_INTERVAL_SECONDS": "0.1",
        "PODML_MAX_CONCURRENT_JOBS_PER_USER": "3",
        "PODML_MAX_CONCURRENT_JOBS": "3",
        "PODML_USER_CPU_QUOTA": "3",
    }
    port = free_port()  # a restarted platform comes back on its address: the jobs' URLs point there
    with podml_serve(data, env, port=port) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        http.post("/api/auth/register", json={"email": "r@example.com", "password": "pw-12345678"})
        token = http.post(
            "/api/auth/login", json={"email": "r@example.com", "password": "pw-12345678"}
        ).json()
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        dataset = http.post(
            "/api/datasets", headers=headers, files={"file": ("d.csv", _csv(), "text/csv")}
        ).json()
        config = http.post(
            "/api/configurations",
            headers=headers,
            json={
                "name": "restart",
                "dataset_id": dataset["id"],
                "x_columns": ["a", "b", "c"],
                "y_column": "y",
                "model_type": "random_forest",
                "hyperparams": {"n_estimators": 150},
            },
        ).json()
        ids = [
            http.post("/api/jobs", headers=headers, json={"configuration_id": config["id"]}).json()["id"]
            for _ in range(3)
        ]
        deadline = time.monotonic() + 30
        while sum(job["status"] == "running" for job in _jobs(http, headers)) < 3:
            assert time.monotonic() < deadline, _jobs(http, headers)
            time.sleep(0.05)
        time.sleep(0.5)
        server.process.send_signal(signal.SIGKILL)  # no shutdown hooks, no goodbyes
        server.process.wait()

    # While the platform is down: one job's supervisor dies too (as on a machine crash).
    victim = ids[0]
    supervisor = json.loads((data / "executions" / "jobs" / victim / "supervisor.json").read_text())
    os.kill(supervisor["pid"], signal.SIGKILL)

    with podml_serve(data, env, port=port) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        token = http.post(
            "/api/auth/login", json={"email": "r@example.com", "password": "pw-12345678"}
        ).json()
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        deadline = time.monotonic() + 90
        while True:
            jobs = {job["id"]: job for job in _jobs(http, headers)}
            if all(job["status"] in FINAL for job in jobs.values()):
                break
            assert time.monotonic() < deadline, jobs
            assert all(job["status"] in FINAL | {"running"} for job in jobs.values())
            time.sleep(0.2)
        assert set(jobs) == set(ids)
        assert jobs[victim]["status"] == "failed"
        assert jobs[victim]["error"].startswith("lost")
        adopted = [jobs[i] for i in ids[1:]]
        assert [job["status"] for job in adopted] == ["succeeded", "succeeded"], [j["error"] for j in adopted]
        url = f"/api/models/{adopted[0]['model_id']}/versions"
        deadline = time.monotonic() + 180  # a 150-tree forest takes a while to compile and verify
        while True:  # each trained version is then built (loaded, compiled to ONNX) by a job of its own
            versions = http.get(url, headers=headers).json()["items"]
            if all(v["status"] != "building" for v in versions):
                break
            assert time.monotonic() < deadline, versions
            time.sleep(0.2)
        assert sorted(v["version_tag"] for v in versions) == ["v1", "v2"]
        assert [v["status"] for v in versions] == ["ready", "ready"], [v["error"] for v in versions]
    assert not list((data / "executions" / "jobs").iterdir())  # settled jobs are cleaned up
