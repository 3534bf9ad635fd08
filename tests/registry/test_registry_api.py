"""The model registry over HTTP: create, list, read, versions, validation and isolation."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.registry.conftest import Maker, add_versions
from tests.support.api import Api, ApiUser


async def _create(client: httpx.AsyncClient, user: ApiUser, **body: Any) -> dict[str, Any]:
    response = await client.post("/api/models", headers=user.headers, json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def test_create_list_and_get(api: Api) -> None:
    user = await api.new_user()
    created = await _create(api.client, user, name="  churn  ", description="who leaves")
    assert created["name"] == "churn"
    assert created["framework"] == "sklearn"
    assert created["description"] == "who leaves"
    assert created["owner_sub"] == user.sub
    assert created["latest_version"] is None
    assert created["version_count"] == 0
    assert set(created) >= {"id", "created_at", "updated_at"}

    got = await api.client.get(f"/api/models/{created['id']}", headers=user.headers)
    assert got.status_code == 200
    assert got.json() == created

    second = await _create(api.client, user, name="price")
    listing = (await api.client.get("/api/models", headers=user.headers)).json()
    assert listing["total"] == 2
    assert [m["name"] for m in listing["items"]] == ["price", "churn"]  # newest first
    assert listing["items"][0] == second

    page = (await api.client.get("/api/models?limit=1&offset=1", headers=user.headers)).json()
    assert page["total"] == 2
    assert [m["name"] for m in page["items"]] == ["churn"]


async def test_name_filter_is_exact(api: Api) -> None:
    user = await api.new_user()
    await _create(api.client, user, name="price")
    await _create(api.client, user, name="price v2")
    found = (await api.client.get("/api/models", params={"name": "price"}, headers=user.headers)).json()
    assert found["total"] == 1
    assert found["items"][0]["name"] == "price"
    none = (await api.client.get("/api/models", params={"name": "pri"}, headers=user.headers)).json()
    assert none == {"items": [], "total": 0}


async def test_duplicate_name_is_409_per_owner(api: Api) -> None:
    alice, bob = await api.new_user(), await api.new_user()
    await _create(api.client, alice, name="price")
    again = await api.client.post("/api/models", headers=alice.headers, json={"name": " price "})
    assert again.status_code == 409
    assert "price" in again.json()["detail"]
    # Names are per owner: Bob may use the same one.
    await _create(api.client, bob, name="price")
    assert (await api.client.get("/api/models", headers=alice.headers)).json()["total"] == 1


@pytest.mark.parametrize(
    ("body", "phrase"),
    [
        ({"name": "m", "framework": "tensorflow"}, "unknown framework 'tensorflow'"),
        ({"name": "   "}, "blank"),
        ({"name": ""}, "at least 1 character"),
        ({"name": "x" * 201}, "at most 200 characters"),
        ({"framework": "sklearn"}, "Field required"),
    ],
)
async def test_invalid_model_is_422(api: Api, body: dict[str, Any], phrase: str) -> None:
    user = await api.new_user()
    response = await api.client.post("/api/models", headers=user.headers, json=body)
    assert response.status_code == 422, response.text
    assert phrase in str(response.json()["detail"])
    assert (await api.client.get("/api/models", headers=user.headers)).json()["total"] == 0


async def test_versions_newest_first_with_summary(api: Api, maker: Maker) -> None:
    user = await api.new_user()
    model = await _create(api.client, user, name="price")
    versions = await add_versions(maker, user.sub, "price", 3)
    assert [v.version_tag for v in versions] == ["v1", "v2", "v3"]

    url = f"/api/models/{model['id']}/versions"
    listing = (await api.client.get(url, headers=user.headers)).json()
    assert listing["total"] == 3
    assert [v["version_tag"] for v in listing["items"]] == ["v3", "v2", "v1"]
    newest = listing["items"][0]
    assert newest["id"] == str(versions[-1].id)
    assert newest["model_id"] == model["id"]
    assert newest["status"] == "ready"
    assert newest["metrics"] == {"r2": 0.9}
    assert newest["signature"] is None
    assert newest["source"] == "training"
    assert newest["artifact_uri"].endswith(f"/{versions[-1].id}/")
    assert set(newest) == {
        "id", "model_id", "version_tag", "status", "artifact_uri", "metrics", "signature", "source",
        "source_job_id", "error", "serving_path", "created_at", "updated_at",
    }  # fmt: skip
    paged = (await api.client.get(f"{url}?limit=1&offset=1", headers=user.headers)).json()
    assert [v["version_tag"] for v in paged["items"]] == ["v2"]

    one = await api.client.get(f"/api/model-versions/{newest['id']}", headers=user.headers)
    assert one.status_code == 200
    assert one.json() == newest

    summary = (await api.client.get(f"/api/models/{model['id']}", headers=user.headers)).json()
    assert summary["version_count"] == 3
    assert summary["latest_version"] == {
        "id": newest["id"],
        "version_tag": "v3",
        "status": "ready",
        "created_at": newest["created_at"],
    }
    listed = (await api.client.get("/api/models", headers=user.headers)).json()["items"][0]
    assert listed == summary


async def test_list_summaries_per_model(api: Api, maker: Maker) -> None:
    user = await api.new_user()
    await _create(api.client, user, name="empty")
    await add_versions(maker, user.sub, "one", 1)
    await add_versions(maker, user.sub, "two", 2)
    items = (await api.client.get("/api/models", headers=user.headers)).json()["items"]
    by_name = {m["name"]: m for m in items}
    assert by_name["empty"]["latest_version"] is None
    assert by_name["empty"]["version_count"] == 0
    assert by_name["one"]["latest_version"]["version_tag"] == "v1"
    assert by_name["one"]["version_count"] == 1
    assert by_name["two"]["latest_version"]["version_tag"] == "v2"
    assert by_name["two"]["version_count"] == 2


async def test_other_users_get_404_and_empty_lists(api: Api, maker: Maker) -> None:
    alice, bob = await api.new_user(), await api.new_user()
    model = await _create(api.client, alice, name="secret")
    (version,) = await add_versions(maker, alice.sub, "secret", 1)
    for path in (
        f"/api/models/{model['id']}",
        f"/api/models/{model['id']}/versions",
        f"/api/model-versions/{version.id}",
    ):
        assert (await api.client.get(path, headers=bob.headers)).status_code == 404, path
        assert (await api.client.get(path, headers=alice.headers)).status_code == 200, path
    empty = {"items": [], "total": 0}
    assert (await api.client.get("/api/models", headers=bob.headers)).json() == empty
    by_name = await api.client.get("/api/models", params={"name": "secret"}, headers=bob.headers)
    assert by_name.json() == empty


async def test_unknown_and_malformed_ids(api: Api) -> None:
    user = await api.new_user()
    missing = uuid.uuid4()
    for path in (f"/api/models/{missing}", f"/api/models/{missing}/versions"):
        response = await api.client.get(path, headers=user.headers)
        assert response.status_code == 404
        assert response.json() == {"detail": "model not found"}
    response = await api.client.get(f"/api/model-versions/{missing}", headers=user.headers)
    assert response.json() == {"detail": "model version not found"}
    assert (await api.client.get("/api/models/not-a-uuid", headers=user.headers)).status_code == 422


async def test_catalog_route_still_wins(api: Api) -> None:
    user = await api.new_user()
    response = await api.client.get("/api/models/catalog", headers=user.headers)
    assert response.status_code == 200
    assert any(entry["name"] == "linear_regression" for entry in response.json()["items"])
