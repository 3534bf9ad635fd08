"""Configurations over HTTP: validation against the dataset and the catalog, CRUD, isolation."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support.api import Api, ApiUser

HOUSES = """area,rooms,district,price,sold
50.5,2,north,100000,yes
70.0,3,south,150000,no
90.2,4,north,210000,yes
"""


async def _setup(api: Api) -> tuple[ApiUser, dict[str, Any]]:
    user = await api.new_user()
    return user, await api.dataset(user, HOUSES, name="houses")


async def test_create_and_read(api: Api) -> None:
    user, dataset = await _setup(api)
    response = await api.client.post(
        "/api/configurations",
        headers=user.headers,
        json={
            "name": "price model",
            "dataset_id": dataset["id"],
            "x_columns": ["area", "rooms", "district"],
            "y_column": "price",
        },
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["owner_sub"] == user.sub
    assert body["dataset_uri"] == dataset["dataset_uri"]
    assert body["x_columns"] == ["area", "rooms", "district"]
    assert body["model_type"] == "linear_regression"
    assert body["task"] == "regression"
    assert body["hyperparams"] == {"fit_intercept": True}
    assert set(body) >= {"id", "name", "y_column", "created_at", "updated_at"}
    got = await api.client.get(f"/api/configurations/{body['id']}", headers=user.headers)
    assert got.json() == body


async def test_single_x_column_is_accepted(api: Api) -> None:
    user, dataset = await _setup(api)
    response = await api.client.post(
        "/api/configurations",
        headers=user.headers,
        json={
            "name": "one",
            "dataset_id": dataset["id"],
            "x_column": "area",
            "y_column": "price",
            "hyperparams": {"fit_intercept": False},
        },
    )
    assert response.status_code == 201, response.text
    assert response.json()["x_columns"] == ["area"]
    assert response.json()["hyperparams"] == {"fit_intercept": False}


@pytest.mark.parametrize(
    ("change", "phrase"),
    [
        ({"x_columns": ["area", "nope"]}, "no column(s): nope"),
        ({"y_column": "missing"}, "no target column 'missing'"),
        ({"x_columns": ["area", "price"]}, "cannot also be a feature"),
        ({"model_type": "quantum_forest"}, "unknown model_type 'quantum_forest'"),
        ({"hyperparams": {"fit_intercept": "yes"}}, "'fit_intercept' must be true or false"),
        ({"hyperparams": {"alpha": 1}}, "unknown hyperparameter 'alpha'"),
        ({"y_column": "district", "x_columns": ["area"]}, "regression needs a numeric target"),
        ({"x_columns": []}, "at least one feature"),
        ({"x_columns": ["area", "area"]}, "listed twice"),
        ({"x_columns": None}, "x_columns is required"),
        ({"name": "   "}, "blank"),
    ],
)
async def test_invalid_configuration_is_422(api: Api, change: dict[str, Any], phrase: str) -> None:
    user, dataset = await _setup(api)
    body: dict[str, Any] = {
        "name": "bad",
        "dataset_id": dataset["id"],
        "x_columns": ["area"],
        "y_column": "price",
    }
    body.update(change)
    body = {k: v for k, v in body.items() if v is not None}
    response = await api.client.post("/api/configurations", headers=user.headers, json=body)
    assert response.status_code == 422, response.text
    assert phrase in str(response.json()["detail"])
    listing = await api.client.get("/api/configurations", headers=user.headers)
    assert listing.json()["total"] == 0


async def test_patch_revalidates_and_delete(api: Api) -> None:
    user, dataset = await _setup(api)
    created = (
        await api.client.post(
            "/api/configurations",
            headers=user.headers,
            json={"name": "c", "dataset_id": dataset["id"], "x_columns": ["area"], "y_column": "price"},
        )
    ).json()
    url = f"/api/configurations/{created['id']}"
    patched = await api.client.patch(url, headers=user.headers, json={"x_columns": ["area", "rooms"]})
    assert patched.status_code == 200
    assert patched.json()["x_columns"] == ["area", "rooms"]
    assert patched.json()["updated_at"] >= created["updated_at"]
    bad = await api.client.patch(url, headers=user.headers, json={"y_column": "area"})
    assert bad.status_code == 422
    unchanged = (await api.client.get(url, headers=user.headers)).json()
    assert unchanged["y_column"] == "price"
    assert unchanged["x_columns"] == ["area", "rooms"]

    in_use = await api.client.delete(f"/api/datasets/{dataset['id']}", headers=user.headers)
    assert in_use.status_code == 409
    assert "'c'" in in_use.json()["detail"]

    assert (await api.client.delete(url, headers=user.headers)).status_code == 204
    assert (await api.client.get(url, headers=user.headers)).status_code == 404
    assert (
        await api.client.delete(f"/api/datasets/{dataset['id']}", headers=user.headers)
    ).status_code == 204


async def test_other_users_resources_are_404(api: Api, client: httpx.AsyncClient) -> None:
    alice, dataset = await _setup(api)
    bob = await api.new_user()
    config = (
        await client.post(
            "/api/configurations",
            headers=alice.headers,
            json={"name": "a", "dataset_id": dataset["id"], "x_columns": ["area"], "y_column": "price"},
        )
    ).json()
    # Bob cannot build on Alice's dataset...
    steal = await client.post(
        "/api/configurations",
        headers=bob.headers,
        json={"name": "b", "dataset_id": dataset["id"], "x_columns": ["area"], "y_column": "price"},
    )
    assert steal.status_code == 404
    # ...nor see, change or delete her configuration.
    url = f"/api/configurations/{config['id']}"
    assert (await client.get(url, headers=bob.headers)).status_code == 404
    assert (await client.patch(url, headers=bob.headers, json={"name": "x"})).status_code == 404
    assert (await client.delete(url, headers=bob.headers)).status_code == 404
    assert (await client.get("/api/configurations", headers=bob.headers)).json() == {"items": [], "total": 0}
    assert (await client.get(url, headers=alice.headers)).json()["name"] == "a"


async def test_catalog(api: Api) -> None:
    user = await api.new_user()
    response = await api.client.get("/api/models/catalog", headers=user.headers)
    assert response.status_code == 200
    linear = {m["name"]: m for m in response.json()["items"]}["linear_regression"]
    assert linear["tasks"] == ["regression"]
    assert linear["hyperparameters"][0]["name"] == "fit_intercept"
