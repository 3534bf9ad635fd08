"""Datasets over HTTP: upload and inspect, list, preview, rename, delete, and bad CSVs."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from podml.datasets.models import Dataset
from tests.support.api import Api

IRIS = """sepal_length,sepal_width,species,measured_on,verified
5.1,3.5,setosa,2024-01-02,true
4.9,,setosa,2024-01-03,false
6.3,3.3,virginica,2024-02-01,true
5.8,2.7,versicolor,,true
6.0,2.2,versicolor,2024-02-03,false
6.4,3.1,virginica,2024-02-04,true
"""


def _objects(app: FastAPI) -> list[Path]:
    root: Path = app.state.settings.storage_dir
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


async def _row_count(app: FastAPI) -> int:
    async with app.state.sessionmaker() as session:
        return int((await session.execute(select(func.count()).select_from(Dataset))).scalar_one())


async def test_upload_infers_schema(api: Api) -> None:
    user = await api.new_user()
    body = await api.dataset(user, IRIS, filename="iris.csv")
    assert body["name"] == "iris"
    assert body["filename"] == "iris.csv"
    assert body["row_count"] == 6
    assert body["size_bytes"] == len(IRIS.encode())
    assert body["delimiter"] == ","
    columns = {c["name"]: c for c in body["columns"]}
    assert list(columns) == ["sepal_length", "sepal_width", "species", "measured_on", "verified"]
    assert columns["sepal_length"]["dtype"] == "numeric"
    assert columns["sepal_width"]["missing"] == 1
    assert columns["species"]["dtype"] == "categorical"
    assert columns["measured_on"]["dtype"] == "datetime"
    assert columns["measured_on"]["missing"] == 1
    assert columns["verified"]["dtype"] == "boolean"
    assert body["dataset_uri"]

    got = await api.client.get(f"/api/datasets/{body['id']}", headers=user.headers)
    assert got.status_code == 200
    assert got.json() == body


async def test_list_preview_rename_delete(api: Api, app: FastAPI) -> None:
    user = await api.new_user()
    first = await api.dataset(user, IRIS, name="first")
    second = await api.dataset(user, "a;b\n1;2\n3;4\n", name="second")
    assert second["delimiter"] == ";"

    listing = (await api.client.get("/api/datasets", headers=user.headers)).json()
    assert listing["total"] == 2
    assert [d["name"] for d in listing["items"]] == ["second", "first"]
    page = (await api.client.get("/api/datasets?limit=1&offset=1", headers=user.headers)).json()
    assert page["total"] == 2
    assert [d["name"] for d in page["items"]] == ["first"]

    preview = await api.client.get(f"/api/datasets/{first['id']}/preview?rows=2", headers=user.headers)
    assert preview.status_code == 200
    assert preview.json()["columns"][0] == "sepal_length"
    rows = preview.json()["rows"]
    assert len(rows) == 2
    assert rows[0]["species"] == "setosa"
    assert rows[1]["sepal_width"] is None

    renamed = await api.client.patch(
        f"/api/datasets/{first['id']}", json={"name": "  renamed "}, headers=user.headers
    )
    assert renamed.json()["name"] == "renamed"

    before = len(_objects(app))
    deleted = await api.client.delete(f"/api/datasets/{first['id']}", headers=user.headers)
    assert deleted.status_code == 204
    assert len(_objects(app)) == before - 1
    gone = await api.client.get(f"/api/datasets/{first['id']}", headers=user.headers)
    assert gone.status_code == 404


BAD_CSVS = [
    ("empty", b"", "empty"),
    ("header only", b"a,b,c\n", "no data rows"),
    ("duplicate names", b"a,b,a\n1,2,3\n", "duplicate"),
    ("blank name", b"a,,c\n1,2,3\n", "blank"),
    ("ragged", b"a,b,c\n1,2,3\n4,5\n", "line 3"),
    ("binary", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "not"),
    ("latin-1", "name,city\nJosé,Zürich\n".encode("latin-1"), "UTF-8"),
]


@pytest.mark.parametrize(("case", "content", "phrase"), BAD_CSVS, ids=[c[0] for c in BAD_CSVS])
async def test_bad_csv_is_4xx_and_leaves_nothing(
    api: Api, app: FastAPI, case: str, content: bytes, phrase: str
) -> None:
    user = await api.new_user()
    objects, rows = len(_objects(app)), await _row_count(app)
    response = await api.upload_csv(user, content)
    assert 400 <= response.status_code < 500, (case, response.status_code, response.text)
    assert phrase.lower() in str(response.json()["detail"]).lower(), response.text
    assert len(_objects(app)) == objects
    assert await _row_count(app) == rows
    listing = (await api.client.get("/api/datasets", headers=user.headers)).json()
    assert listing == {"items": [], "total": 0}
    tmp: Path = app.state.settings.tmp_dir
    assert not any(tmp.iterdir())


async def test_upload_needs_multipart_file(api: Api) -> None:
    user = await api.new_user()
    no_file = await api.client.post(
        "/api/datasets", headers=user.headers, files={"other": ("x.csv", b"a\n1\n", "text/csv")}
    )
    assert no_file.status_code == 422
    assert "file" in no_file.json()["detail"]
    as_json = await api.client.post("/api/datasets", headers=user.headers, json={"file": "a,b"})
    assert as_json.status_code == 415


async def test_over_the_size_limit_is_413(api: Api, app: FastAPI) -> None:
    user = await api.new_user()
    limit = app.state.settings.max_upload_bytes
    app.state.settings.max_upload_bytes = 1000
    try:
        response = await api.upload_csv(user, "a,b\n" + "1,2\n" * 1000)
    finally:
        app.state.settings.max_upload_bytes = limit
    assert response.status_code == 413
    assert "1000" in response.json()["detail"]
    assert (await api.client.get("/api/datasets", headers=user.headers)).json()["total"] == 0


async def test_another_users_dataset_is_invisible(api: Api, client: httpx.AsyncClient) -> None:
    alice, bob = await api.new_user(), await api.new_user()
    dataset = await api.dataset(alice, IRIS)
    for method, suffix in [("GET", ""), ("GET", "/preview"), ("DELETE", ""), ("PATCH", "")]:
        body = {"name": "mine now"} if method == "PATCH" else None
        response = await client.request(
            method, f"/api/datasets/{dataset['id']}{suffix}", headers=bob.headers, json=body
        )
        assert response.status_code == 404, (method, suffix)
    assert (await client.get("/api/datasets", headers=bob.headers)).json() == {"items": [], "total": 0}
    still = await client.get(f"/api/datasets/{dataset['id']}", headers=alice.headers)
    assert still.status_code == 200
    assert still.json()["name"] == dataset["name"]


async def test_malformed_id_is_422(api: Api) -> None:
    user = await api.new_user()
    response = await api.client.get("/api/datasets/not-a-uuid", headers=user.headers)
    assert response.status_code == 422
