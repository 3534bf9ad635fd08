"""Deployments for real: replicas are model-server processes, predictions go through the gateway.

These are the issue's acceptance walks: an upload with its own requirements, a trained version,
a killed replica, a version switch under load, keys, and the traffic figures.
"""

from __future__ import annotations

import asyncio
import io
import os
import signal
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import joblib
import pandas as pd
import pytest

from podml.registry.models import ModelVersion
from tests.deployments.helpers import deploy, linear_model_bytes, upload_version
from tests.support.csvs import mixed_csv
from tests.support.live import Live
from tests.support.wheels import tiny_model_bytes, tiny_wheelhouse

READY = {"ready", "failed"}


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_wheelhouse(tmp_path_factory.mktemp("wheelhouse"))


async def _ready(live: Live, user: Any, version: dict[str, Any], **body: Any) -> dict[str, Any]:
    built = await live.wait_version(user, version["id"])
    assert built["status"] == "ready", built["error"]
    created = await deploy(live.api.client, user, version["id"], **body)
    deployment = await live.wait_deployment(user, created["id"], READY)
    assert deployment["status"] == "ready", deployment
    return deployment


async def test_an_upload_with_requirements_serves_and_shares_its_environment(
    live: Live, wheelhouse: Path, tmp_path: Path
) -> None:
    settings = live.app.state.settings
    settings.requirements_pip_args = f"--no-index --find-links {wheelhouse}"
    user = await live.api.new_user()
    version = await upload_version(
        live.api.client, user, "doubler", tiny_model_bytes(tmp_path), "podml-tiny-model==1.0.0\n"
    )
    first = await _ready(live, user, version)
    environments = sorted(p.name for p in settings.environments_dir.iterdir() if p.is_dir())

    predict = f"/api/v1/predict/{first['id']}"
    answer = await live.api.client.post(predict, headers=user.headers, json={"instances": [[3], [5.5]]})
    assert answer.status_code == 200, answer.text
    assert answer.json()["predictions"] == [6, 11.0]

    second = await _ready(live, user, version)
    again = await live.api.client.post(
        f"/api/v1/predict/{second['id']}", headers=user.headers, json={"instances": [[4]]}
    )
    assert again.json()["predictions"] == [8]
    # The build and both deployments used one environment for these requirements.
    assert sorted(p.name for p in settings.environments_dir.iterdir() if p.is_dir()) == environments
    assert len(environments) == 1

    # A key works until it is revoked; another user cannot even see the deployment.
    stranger = await live.api.new_user()
    assert (
        await live.api.client.post(predict, headers=stranger.headers, json={"instances": [[1]]})
    ).status_code == 404
    key = (await live.api.client.post(f"/api/deployments/{first['id']}/keys", headers=user.headers)).json()
    with_key = {"Authorization": f"Bearer {key['key']}"}
    assert (
        await live.api.client.post(predict, headers=with_key, json={"instances": [[1]]})
    ).status_code == 200
    await live.api.client.delete(f"/api/deployments/{first['id']}/keys/{key['id']}", headers=user.headers)
    assert (
        await live.api.client.post(predict, headers=with_key, json={"instances": [[1]]})
    ).status_code == 401

    for deployment in (first, second):
        assert (
            await live.api.client.delete(f"/api/deployments/{deployment['id']}", headers=user.headers)
        ).status_code == 204


@pytest.mark.both_executors
async def test_a_trained_version_serves_the_pipelines_own_predictions(live: Live) -> None:
    user = await live.api.new_user()
    csv = mixed_csv()
    config = await live.configuration(user, csv, ["size", "city", "age"], "price", name="flats")
    job = await live.wait(user, (await live.train(user, config["id"]))["id"])
    assert job["status"] == "succeeded", job
    version = {"id": job["model_version_id"]}
    deployment = await _ready(live, user, version)
    detail = await live.wait_version(user, version["id"])

    rows = pd.read_csv(io.StringIO(csv), keep_default_na=True, na_values=["NA"]).head(25)
    records = [
        {"size": size, "city": city, "age": None if age != age else age}  # NaN is not equal to itself
        for size, city, age in rows[["size", "city", "age"]].itertuples(index=False)
    ]
    answer = await live.api.client.post(
        f"/api/v1/predict/{deployment['id']}", headers=user.headers, json={"records": records}
    )
    assert answer.status_code == 200, answer.text

    async with live.app.state.sessionmaker() as session:
        row = await session.get(ModelVersion, uuid.UUID(version["id"]))
    assert row is not None
    model_file = await live.app.state.storage.get_bytes(row.storage_prefix + "model.joblib")
    pipeline = joblib.load(io.BytesIO(model_file))
    expected = pipeline.predict(rows[["size", "city", "age"]])
    served = answer.json()["predictions"]
    assert served == pytest.approx(list(expected), rel=1e-4), detail["serving_path"]

    wrong = await live.api.client.post(
        f"/api/v1/predict/{deployment['id']}", headers=user.headers, json={"records": [{"size": 1}]}
    )
    assert wrong.status_code == 422
    assert "city" in wrong.text
    await live.api.client.delete(f"/api/deployments/{deployment['id']}", headers=user.headers)


async def _load(
    live: Live, url: str, headers: dict[str, str], stop: asyncio.Event, seen: Counter[Any]
) -> None:
    while not stop.is_set():
        response = await live.api.client.post(url, headers=headers, json={"instances": [[1.0, 0.0]]})
        seen[response.json()["predictions"][0] if response.status_code == 200 else response.status_code] += 1


@pytest.mark.both_executors
async def test_killed_replicas_come_back_and_a_version_switch_drops_no_request(live: Live) -> None:
    user = await live.api.new_user()
    v1 = await upload_version(live.api.client, user, "switcher", linear_model_bytes(slope=2.0))
    v2 = await upload_version(live.api.client, user, "switcher", linear_model_bytes(slope=5.0))
    deployment = await _ready(live, user, v1, replicas=2)
    url = f"/api/deployments/{deployment['id']}"
    predict = f"/api/v1/predict/{deployment['id']}"

    # Kill one replica: the executor (or Kubernetes) notices, restarts it, and the deployment is
    # ready again.
    serving = live.app.state.serving
    if live.kubelet is not None:
        live.kubelet.serving.kill(deployment["id"])
        killed = "exit code 137"  # 128 + SIGKILL, as a container runtime reports it
    else:
        observed = await serving.observe_serving(uuid.UUID(deployment["id"]))
        victim = next(r for r in observed.replicas if r.pid)
        assert victim.pid is not None
        os.kill(victim.pid, signal.SIGKILL)
        killed = "signal 9"
    await asyncio.sleep(0.5)
    healed = await live.wait_deployment(user, deployment["id"], {"ready"}, timeout=60)
    while healed["ready_replicas"] < 2 or not any(r["restarts"] for r in healed["replica_states"]):
        await asyncio.sleep(0.2)
        healed = await live.wait_deployment(user, deployment["id"], {"ready"}, timeout=60)
    restarted = [r for r in healed["replica_states"] if r["restarts"]]
    assert len(restarted) == 1
    assert killed in (restarted[0]["reason"] or ""), restarted

    # Switch versions under steady load: every request answers 200, first from v1 then from v2.
    seen: Counter[Any] = Counter()
    stop = asyncio.Event()
    workers = [asyncio.create_task(_load(live, predict, user.headers, stop, seen)) for _ in range(4)]
    await asyncio.sleep(1.0)
    switched = await live.api.client.patch(url, headers=user.headers, json={"version_id": v2["id"]})
    assert switched.status_code == 200
    await live.wait_version(user, v2["id"])
    while True:
        current = await live.wait_deployment(user, deployment["id"], {"ready", "failed"}, timeout=90)
        switched_over = current["serving_version_id"] == v2["id"] and current["status"] == "ready"
        if switched_over and current["ready_replicas"] == 2:  # on Kubernetes: the rollout is done
            break
        await asyncio.sleep(0.2)
    await asyncio.sleep(1.0)
    stop.set()
    await asyncio.gather(*workers)
    assert set(seen) == {3.0, 6.0}, seen  # 2*1+1 from v1, 5*1+1 from v2, and no error status
    after = await live.api.client.post(predict, headers=user.headers, json={"instances": [[2.0, 0.0]]})
    assert after.json()["predictions"] == [11.0]
    assert current["ready_replicas"] == 2
    for _ in range(100):  # the old replicas drain, then they are gone (as Terminating pods are)
        current = await live.wait_deployment(user, deployment["id"], {"ready"})
        if all(r["current"] for r in current["replica_states"]):
            break
        await asyncio.sleep(0.2)
    assert [r["current"] for r in current["replica_states"]] == [True, True]

    # The gateway counted all of it.
    stats = (await live.api.client.get(f"{url}/stats", headers=user.headers)).json()
    assert stats["total_requests"] >= sum(seen.values())
    assert stats["total_errors_5xx"] == 0
    assert stats["p50_ms"] is not None
    metrics = (await live.api.client.get("/metrics")).text
    assert f'deployment="{deployment["id"]}"' in metrics

    assert (await live.api.client.delete(url, headers=user.headers)).status_code == 204
    for _ in range(100):
        if not (await serving.observe_serving(uuid.UUID(deployment["id"]))).exists:
            break
        await asyncio.sleep(0.1)
    assert not (await serving.observe_serving(uuid.UUID(deployment["id"]))).exists
    gone = await live.api.client.post(predict, headers=user.headers, json={"instances": [[1.0, 0.0]]})
    assert gone.status_code == 404


async def test_load_scales_a_deployment_out_and_quiet_scales_it_back(live: Live) -> None:
    """The HPA's job, locally: in-flight requests above the deployment's target add replicas up to
    max_replicas; once the load stops (for scale_down_delay_seconds, 2 s here) they go again."""
    user = await live.api.new_user()
    version = await upload_version(live.api.client, user, "scaler", linear_model_bytes(slope=3.0))
    deployment = await _ready(live, user, version, min_replicas=1, max_replicas=3, target_concurrency=0.02)
    assert (deployment["ready_replicas"], deployment["target_concurrency"]) == (1, 0.02)
    url = f"/api/deployments/{deployment['id']}"
    predict = f"/api/v1/predict/{deployment['id']}"

    seen: Counter[Any] = Counter()
    stop = asyncio.Event()
    workers = [asyncio.create_task(_load(live, predict, user.headers, stop, seen)) for _ in range(6)]
    try:
        for _ in range(300):
            current = await live.wait_deployment(user, deployment["id"], {"ready", "updating", "degraded"})
            if current["ready_replicas"] == 3:
                break
            await asyncio.sleep(0.1)
        assert current["ready_replicas"] == 3, current
        assert current["desired_replicas"] == 3
    finally:
        stop.set()
        await asyncio.gather(*workers)
    assert set(seen) == {4.0}, seen  # 3*1+1, and no request failed while replicas were added

    for _ in range(300):
        current = await live.wait_deployment(user, deployment["id"], {"ready"})
        if current["desired_replicas"] == 1 and len(current["replica_states"]) == 1:
            break
        await asyncio.sleep(0.1)
    assert (current["desired_replicas"], len(current["replica_states"])) == (1, 1), current

    # Back to the platform's default target (4 in flight per replica): still one replica when quiet.
    reset = await live.api.client.patch(url, headers=user.headers, json={"target_concurrency": None})
    assert reset.json()["target_concurrency"] is None
    bad = await live.api.client.patch(url, headers=user.headers, json={"target_concurrency": 0})
    assert bad.status_code == 422
    assert "target_concurrency" in bad.text
    assert (await live.api.client.delete(url, headers=user.headers)).status_code == 204


@pytest.mark.both_executors
async def test_a_model_that_does_not_load_fails_the_deployment_with_the_reason(live: Live) -> None:
    user = await live.api.new_user()
    version = await upload_version(live.api.client, user, "liar", linear_model_bytes())
    built = await live.wait_version(user, version["id"])
    assert built["status"] == "ready"
    # Break the stored file after the build: the replicas' loader reports why it cannot load it.
    storage = live.app.state.storage
    async with live.app.state.sessionmaker() as session:
        row = await session.get(ModelVersion, uuid.UUID(version["id"]))
        assert row is not None
        await storage.put_bytes(row.storage_prefix + "model.joblib", b"not a pickle at all")
        if row.serving_path == "onnx":
            await storage.put_bytes(row.storage_prefix + "model.onnx", b"not onnx either")
    created = await deploy(live.api.client, user, version["id"])
    failed = await live.wait_deployment(user, created["id"], {"failed"}, timeout=60)
    assert "load" in failed["reason"], failed
    answer = await live.api.client.post(
        f"/api/v1/predict/{created['id']}", headers=user.headers, json={"instances": [[1.0, 0.0]]}
    )
    assert answer.status_code == 503
    assert "failed" in answer.json()["detail"]
    await live.api.client.delete(f"/api/deployments/{created['id']}", headers=user.headers)
