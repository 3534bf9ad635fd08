"""The deployments API without replicas running: validation, quotas, ownership, keys, the gateway's
access rules. (tests/deployments/test_serving_live.py runs the real thing.)"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import FastAPI

from podml.registry import service as registry_service
from tests.deployments.helpers import deploy, upload_version
from tests.support.api import Api


async def test_a_deployment_is_created_pending_and_listed(api: Api, app: FastAPI) -> None:
    user = await api.new_user()
    version = await upload_version(api.client, user, "house-prices")
    created = await deploy(api.client, user, version["id"])
    assert created["status"] == "pending"
    assert created["reason"] == "waiting for version v1 to finish building"
    assert created["name"] == "house-prices v1"
    assert (created["replicas"], created["min_replicas"], created["max_replicas"]) == (1, 1, 1)
    assert created["resources"]["limits"] == {"cpu": "1", "memory": "1Gi"}
    assert created["public"] is False
    assert created["url"] == f"{app.state.settings.public_url}/api/v1/predict/{created['id']}"
    assert created["v2_url"].endswith(f"/v2/models/{created['id']}/infer")

    listing = (await api.client.get("/api/deployments", headers=user.headers)).json()
    assert [d["id"] for d in listing["items"]] == [created["id"]]
    pending = await api.client.get("/api/deployments?status=ready", headers=user.headers)
    assert pending.json()["total"] == 0
    bad = await api.client.get("/api/deployments?status=sleeping", headers=user.headers)
    assert bad.status_code == 422


async def test_replica_bounds_are_checked_with_reasons(api: Api) -> None:
    user = await api.new_user()
    version = await upload_version(api.client, user, "bounds")
    url = "/api/deployments"
    autoscaled = await deploy(api.client, user, version["id"], min_replicas=1, max_replicas=3)
    assert (autoscaled["replicas"], autoscaled["min_replicas"], autoscaled["max_replicas"]) == (1, 1, 3)
    await api.client.delete(f"{url}/{autoscaled['id']}", headers=user.headers)

    cases: list[tuple[dict[str, Any], str]] = [
        ({"min_replicas": 3, "max_replicas": 2}, "min_replicas (3) is above max_replicas (2)"),
        ({"replicas": 5, "min_replicas": 1, "max_replicas": 2}, "replicas (5) must be between"),
        ({"replicas": 0}, "greater than or equal to 1"),
        ({"resources": {"memory": "lots"}}, "'lots' is not a quantity"),
        ({"resources": {"cpu": "64"}}, "cpu limit 64 is above the allowed 2"),
        ({"resources": {"gpu": "1"}}, "Extra inputs are not permitted"),
    ]
    for body, reason in cases:
        response = await api.client.post(
            url, headers=user.headers, json={"version_id": version["id"], **body}
        )
        assert response.status_code == 422, (body, response.text)
        assert reason in response.text, (body, response.text)


async def test_the_replica_quota_counts_every_deployment(api: Api, app: FastAPI) -> None:
    quota = app.state.settings.max_replicas_per_user
    user = await api.new_user()
    version = await upload_version(api.client, user, "quota")
    first = await deploy(api.client, user, version["id"], min_replicas=1, max_replicas=quota - 1)
    over = await api.client.post(
        "/api/deployments", headers=user.headers, json={"version_id": version["id"], "replicas": 2}
    )
    assert over.status_code == 403
    assert f"your quota is {quota}" in over.json()["detail"]
    fits = await deploy(api.client, user, version["id"], replicas=1)
    # Scaling the first one up to the whole quota does not fit beside the second.
    scale = await api.client.patch(
        f"/api/deployments/{first['id']}", headers=user.headers, json={"max_replicas": quota}
    )
    assert scale.status_code == 403
    # Deleting frees the replicas at once.
    assert (
        await api.client.delete(f"/api/deployments/{fits['id']}", headers=user.headers)
    ).status_code == 204
    scale = await api.client.patch(
        f"/api/deployments/{first['id']}", headers=user.headers, json={"max_replicas": quota}
    )
    assert scale.status_code == 200, scale.text
    assert scale.json()["max_replicas"] == quota


async def test_a_failed_version_cannot_be_deployed(api: Api, app: FastAPI) -> None:
    user = await api.new_user()
    version = await upload_version(api.client, user, "broken")
    async with app.state.sessionmaker() as session:
        await registry_service.set_version_status(
            session, uuid.UUID(version["id"]), "failed", error="No module named 'torch'"
        )
        await session.commit()
    response = await api.client.post(
        "/api/deployments", headers=user.headers, json={"version_id": version["id"]}
    )
    assert response.status_code == 409
    assert "No module named 'torch'" in response.json()["detail"]


async def test_another_users_deployment_and_version_are_not_found(api: Api) -> None:
    owner, stranger = await api.new_user(), await api.new_user()
    version = await upload_version(api.client, owner, "private")
    created = await deploy(api.client, owner, version["id"])
    url = f"/api/deployments/{created['id']}"
    assert (await api.client.get(url, headers=stranger.headers)).status_code == 404
    assert (await api.client.patch(url, headers=stranger.headers, json={"replicas": 2})).status_code == 404
    assert (await api.client.delete(url, headers=stranger.headers)).status_code == 404
    assert (await api.client.get(f"{url}/stats", headers=stranger.headers)).status_code == 404
    assert (await api.client.post(f"{url}/keys", headers=stranger.headers, json={})).status_code == 404
    assert (await api.client.get("/api/deployments", headers=stranger.headers)).json()["total"] == 0
    steal = await api.client.post(
        "/api/deployments", headers=stranger.headers, json={"version_id": version["id"]}
    )
    assert steal.status_code == 404
    # Still there for its owner.
    assert (await api.client.get(url, headers=owner.headers)).json()["status"] == "pending"


async def test_patch_switches_versions_of_the_same_model_only(api: Api) -> None:
    user = await api.new_user()
    first = await upload_version(api.client, user, "switch")
    second = await upload_version(api.client, user, "switch")
    other = await upload_version(api.client, user, "another-model")
    created = await deploy(api.client, user, first["id"])
    url = f"/api/deployments/{created['id']}"

    scaled = (await api.client.patch(url, headers=user.headers, json={"replicas": 2})).json()
    assert (scaled["replicas"], scaled["min_replicas"], scaled["max_replicas"]) == (2, 2, 2)
    assert scaled["revision"] == created["revision"]  # scaling never replaces replicas

    switched = (await api.client.patch(url, headers=user.headers, json={"version_id": second["id"]})).json()
    assert switched["version_id"] == second["id"]
    assert switched["revision"] == created["revision"] + 1

    wrong = await api.client.patch(url, headers=user.headers, json={"version_id": other["id"]})
    assert wrong.status_code == 422
    assert "version of the deployed model" in wrong.json()["detail"]
    unknown = await api.client.patch(url, headers=user.headers, json={"version_id": str(uuid.uuid4())})
    assert unknown.status_code == 404
    renamed = (
        await api.client.patch(url, headers=user.headers, json={"name": "prod", "public": True})
    ).json()
    assert (renamed["name"], renamed["public"], renamed["revision"]) == ("prod", True, switched["revision"])


async def test_deleting_hides_the_deployment_at_once(api: Api) -> None:
    user = await api.new_user()
    version = await upload_version(api.client, user, "gone")
    created = await deploy(api.client, user, version["id"])
    url = f"/api/deployments/{created['id']}"
    assert (await api.client.delete(url, headers=user.headers)).status_code == 204
    assert (await api.client.get(url, headers=user.headers)).status_code == 404
    assert (await api.client.delete(url, headers=user.headers)).status_code == 404
    predict = await api.client.post(
        f"/api/v1/predict/{created['id']}", headers=user.headers, json={"instances": [[1, 2]]}
    )
    assert predict.status_code == 404


async def test_api_keys_are_shown_once_and_revocable(api: Api) -> None:
    user = await api.new_user()
    version = await upload_version(api.client, user, "keys")
    created = await deploy(api.client, user, version["id"])
    keys_url = f"/api/deployments/{created['id']}/keys"
    made = await api.client.post(keys_url, headers=user.headers, json={"name": "ci"})
    assert made.status_code == 201
    key = made.json()
    assert key["key"].startswith(f"pdk_{key['prefix']}_")
    assert key["name"] == "ci"
    listed = (await api.client.get(keys_url, headers=user.headers)).json()
    assert listed["total"] == 1
    assert "key" not in listed["items"][0]
    assert key["key"] not in str(listed)

    predict = f"/api/v1/predict/{created['id']}"
    body = {"instances": [[1.0, 2.0]]}
    with_key = await api.client.post(predict, json=body, headers={"Authorization": f"Bearer {key['key']}"})
    assert with_key.status_code == 503  # allowed in; no replica runs in this app
    assert "no ready replica" in with_key.json()["detail"]

    revoke = await api.client.delete(f"{keys_url}/{key['id']}", headers=user.headers)
    assert revoke.status_code == 204
    revoked = await api.client.post(predict, json=body, headers={"Authorization": f"Bearer {key['key']}"})
    assert revoked.status_code == 401
    assert "invalid or revoked API key" in revoked.json()["detail"]
    listed = (await api.client.get(keys_url, headers=user.headers)).json()
    assert listed["items"][0]["revoked_at"] is not None
    assert listed["items"][0]["last_used_at"] is not None


async def test_the_gateway_lets_in_only_the_owner_a_key_or_anyone_when_public(api: Api) -> None:
    owner, stranger = await api.new_user(), await api.new_user()
    version = await upload_version(api.client, owner, "gatekeeping")
    created = await deploy(api.client, owner, version["id"])
    other = await deploy(api.client, owner, version["id"])
    other_key = (await api.client.post(f"/api/deployments/{other['id']}/keys", headers=owner.headers)).json()
    predict = f"/api/v1/predict/{created['id']}"
    body = {"instances": [[1.0, 2.0]]}

    anonymous = await api.client.post(predict, json=body)
    assert anonymous.status_code == 401
    assert "private" in anonymous.json()["detail"]
    assert (await api.client.post(predict, json=body, headers=stranger.headers)).status_code == 404
    wrong_key = await api.client.post(
        predict, json=body, headers={"Authorization": f"Bearer {other_key['key']}"}
    )
    assert wrong_key.status_code == 401
    forged = await api.client.post(predict, json=body, headers={"Authorization": "Bearer pdk_abc_def"})
    assert forged.status_code == 401
    owner_call = await api.client.post(predict, json=body, headers=owner.headers)
    assert owner_call.status_code == 503
    assert owner_call.headers["retry-after"] == "1"
    assert "waiting for version v1 to finish building" in owner_call.json()["detail"]
    unknown = await api.client.post(f"/api/v1/predict/{uuid.uuid4()}", json=body, headers=owner.headers)
    assert unknown.status_code == 404

    await api.client.patch(f"/api/deployments/{created['id']}", headers=owner.headers, json={"public": True})
    assert (await api.client.post(predict, json=body)).status_code == 503  # in, without credentials

    v2 = await api.client.post(
        f"/v2/models/{other['id']}/infer", json={"inputs": []}, headers=stranger.headers
    )
    assert v2.status_code == 404
    assert "error" in v2.json()
    assert (await api.client.get("/v2/models/not-a-deployment", headers=owner.headers)).status_code == 404
    assert (await api.client.get("/v2/health/live")).json() == {"live": True}


async def test_stats_validate_their_window(api: Api) -> None:
    user = await api.new_user()
    version = await upload_version(api.client, user, "stats")
    created = await deploy(api.client, user, version["id"])
    url = f"/api/deployments/{created['id']}/stats"
    stats = await api.client.get(url, headers=user.headers, params={"window": 600, "step": 60})
    assert stats.status_code == 200, stats.text
    assert stats.json()["total_requests"] == 0
    assert len(stats.json()["points"]) == 10
    bad = await api.client.get(url, headers=user.headers, params={"window": 600, "step": 7})
    assert bad.status_code == 422


async def test_the_prediction_routes_are_documented(api: Api) -> None:
    schema = (await api.client.get("/openapi.json")).json()
    predict = schema["paths"]["/api/v1/predict/{deployment_id}"]["post"]
    assert predict["operationId"]
    assert "instances" in str(predict["requestBody"])
    assert "/api/deployments/{deployment_id}/stats" in schema["paths"]
