"""The web UI's static export at `/`: pages and deep links from files, the API untouched."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx

from podml.main import create_app
from tests.conftest import make_settings


async def test_pages_deep_links_and_api_paths(tmp_path: Path) -> None:
    web = tmp_path / "out"
    (web / "jobs" / "view").mkdir(parents=True)
    (web / "index.html").write_text("<html>dashboard</html>")
    (web / "jobs" / "view" / "index.html").write_text("<html>job view</html>")
    (web / "404.html").write_text("<html>not found</html>")
    settings = make_settings(tmp_path / "data", f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}", web_dir=web)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://ui") as client:
            assert "dashboard" in (await client.get("/")).text
            deep = await client.get("/jobs/view/?id=1234")  # a reload of a deep link
            assert deep.status_code == 200
            assert "job view" in deep.text
            missing = await client.get("/no/such/page/")
            assert missing.status_code == 404
            assert "not found" in missing.text
            api = await client.get("/api/no-such-route")
            assert api.status_code == 404
            assert api.json() == {"detail": "no route /api/no-such-route"}
            assert (await client.get("/api/config")).json()["auth_mode"] == "local"


async def test_without_an_export_the_root_leads_to_the_api_docs(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path / "data", f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}", web_dir=tmp_path / "none"
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://ui") as client:
            root = await client.get("/")
            assert root.status_code == 307
            assert root.headers["location"] == "/docs"


def test_the_openapi_command_writes_the_schema_the_ui_client_is_generated_from(tmp_path: Path) -> None:
    out = tmp_path / "build" / "openapi.json"
    env = {"PODML_DATA_DIR": str(tmp_path / "data"), "PATH": "/usr/bin:/bin"}
    subprocess.run([sys.executable, "-m", "podml", "openapi", "--output", str(out)], check=True, env=env)
    schema = json.loads(out.read_text())
    operations = {op["operationId"] for path in schema["paths"].values() for op in path.values()}
    assert "/api/deployments" in schema["paths"]
    assert len(operations) == sum(len(path) for path in schema["paths"].values())  # unique ids
