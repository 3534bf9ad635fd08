"""Training through the API with the real trainer: metrics, registry, logs, failures, isolation."""

from __future__ import annotations

import pytest

from tests.support.csvs import linear_csv, mixed_csv
from tests.support.live import Live

pytestmark = pytest.mark.both_executors  # the reconciler's suite: local and Kubernetes


async def test_linear_regression_end_to_end(live: Live) -> None:
    user = await live.api.new_user()
    config = await live.configuration(user, linear_csv(), ["x"], "y", name="line")
    submitted = await live.train(user, config["id"])
    assert submitted["status"] == "queued"
    assert submitted["k8s_job_name"] == f"train-{submitted['id']}"
    assert submitted["resources"] == {
        "requests": {"cpu": "100m", "memory": "256Mi"},
        "limits": {"cpu": "1", "memory": "1Gi"},
        "timeout_seconds": 3600,
    }
    job = await live.wait(user, submitted["id"])
    assert job["status"] == "succeeded", job
    assert job["metrics"]["metrics"]["r2"] > 0.99
    assert job["started_at"] is not None
    assert job["finished_at"] >= job["started_at"]
    assert job["model_uri"].endswith("/model.joblib")

    models = (await live.api.client.get("/api/models", headers=user.headers)).json()
    assert [m["name"] for m in models["items"]] == ["line"]
    versions = (
        await live.api.client.get(f"/api/models/{job['model_id']}/versions", headers=user.headers)
    ).json()["items"]
    assert [(v["version_tag"], v["id"], v["source_job_id"]) for v in versions] == [
        ("v1", job["model_version_id"], job["id"])
    ]
    assert versions[0]["status"] in ("building", "ready")
    built = await live.wait_version(user, versions[0]["id"])
    assert built["status"] == "ready", built["error"]
    assert built["serving_path"] == "onnx"  # a linear regression compiles and verifies

    logs = (await live.api.client.get(f"/api/jobs/{job['id']}/logs", headers=user.headers)).json()
    assert logs["status"] == "succeeded"
    assert logs["logs"].strip()
    assert "sig=" not in logs["logs"]

    second = await live.wait(user, (await live.train(user, config["id"]))["id"])
    assert second["status"] == "succeeded"
    assert second["model_id"] == job["model_id"]
    tags = (
        await live.api.client.get(f"/api/models/{job['model_id']}/versions", headers=user.headers)
    ).json()["items"]
    assert [v["version_tag"] for v in tags] == ["v2", "v1"]

    listing = (
        await live.api.client.get(
            "/api/jobs",
            params={"configuration_id": config["id"], "status": "succeeded"},
            headers=user.headers,
        )
    ).json()
    assert listing["total"] == 2


async def test_categorical_and_missing_values_train_without_cleaning(live: Live) -> None:
    user = await live.api.new_user()
    config = await live.configuration(user, mixed_csv(), ["size", "city", "age"], "price", model_type="ridge")
    job = await live.wait(user, (await live.train(user, config["id"]))["id"])
    assert job["status"] == "succeeded", job
    assert job["metrics"]["metrics"]["r2"] > 0.95


@pytest.mark.parametrize(
    ("csv", "target", "phrase"),
    [
        ("x,y\n" + "".join(f"{i},{2 * i}\n" for i in range(4)), "y", "usable row"),
        ("x,label\n" + "".join(f"{i},same\n" for i in range(40)), "label", "class"),
    ],
    ids=["too few rows", "one class"],
)
async def test_training_failures_end_failed_with_the_reason(
    live: Live, csv: str, target: str, phrase: str
) -> None:
    user = await live.api.new_user()
    model = "linear_regression" if target == "y" else "logistic_regression"
    config = await live.configuration(user, csv, ["x"], target, model_type=model)
    job = await live.wait(user, (await live.train(user, config["id"]))["id"])
    assert job["status"] == "failed"
    assert phrase in job["error"].lower(), job["error"]
    assert job["model_version_id"] is None
    assert (await live.api.client.get("/api/models", headers=user.headers)).json()["items"][0][
        "version_count"
    ] == 0


async def test_bad_submissions(live: Live) -> None:
    user = await live.api.new_user()
    config = await live.configuration(user, linear_csv(20), ["x"], "y")
    client = live.api.client
    cases = [
        ({"cpu": "lots"}, "not a quantity"),
        ({"cpu": "64"}, "above the allowed"),
        ({"memory": "1Mi"}, "at least 64Mi"),
        ({"requests": {"cpu": "2"}, "limits": {"cpu": "1"}}, "above its limit"),
        ({"timeout_seconds": 10**9}, "timeout_seconds"),
    ]
    for resources, phrase in cases:
        response = await client.post(
            "/api/jobs", headers=user.headers, json={"configuration_id": config["id"], "resources": resources}
        )
        assert response.status_code == 422, resources
        assert phrase in str(response.json()["detail"]), (resources, response.text)
    missing = await client.post(
        "/api/jobs", headers=user.headers, json={"configuration_id": "00000000-0000-0000-0000-000000000000"}
    )
    assert missing.status_code == 404
    assert (await client.get("/api/jobs", headers=user.headers)).json()["total"] == 0


async def test_other_users_jobs_are_invisible(live: Live) -> None:
    alice, bob = await live.api.new_user(), await live.api.new_user()
    config = await live.configuration(alice, linear_csv(50), ["x"], "y")
    job = await live.train(alice, config["id"])
    client = live.api.client
    assert (
        await client.post("/api/jobs", headers=bob.headers, json={"configuration_id": config["id"]})
    ).status_code == 404
    for method, path in [("GET", ""), ("GET", "/logs"), ("POST", "/cancel")]:
        response = await client.request(method, f"/api/jobs/{job['id']}{path}", headers=bob.headers)
        assert response.status_code == 404, (method, path)
    assert (await client.get("/api/jobs", headers=bob.headers)).json() == {"items": [], "total": 0}
    assert (await live.wait(alice, job["id"]))["status"] == "succeeded"
