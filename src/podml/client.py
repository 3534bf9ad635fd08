"""A small synchronous client for the PodML HTTP API (used by the CLI)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx


class ApiError(Exception):
    def __init__(self, status_code: int, detail: Any) -> None:
        self.status_code = status_code
        self.detail = detail
        super().__init__(f"{status_code}: {detail}")


class PodmlClient:
    def __init__(self, base_url: str, token: str | None = None, timeout: float = 60) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout)

    def __enter__(self) -> PodmlClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.http.close()

    def _json(self, response: httpx.Response) -> Any:
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail", response.text)
            except ValueError:
                detail = response.text
            raise ApiError(response.status_code, detail)
        return response.json() if response.content else None

    def login(self, email: str, password: str) -> None:
        body = self._json(self.http.post("/api/auth/login", json={"email": email, "password": password}))
        self.http.headers["Authorization"] = f"Bearer {body['access_token']}"

    def upload_dataset(self, path: Path, name: str | None = None) -> dict[str, Any]:
        with path.open("rb") as handle:
            files = {"file": (path.name, handle, "text/csv")}
            data = {"name": name} if name else None
            result: dict[str, Any] = self._json(self.http.post("/api/datasets", files=files, data=data))
        return result

    def create_configuration(self, body: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self._json(self.http.post("/api/configurations", json=body))
        return result

    def submit_job(self, configuration_id: str, resources: dict[str, Any] | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"configuration_id": configuration_id}
        if resources:
            body["resources"] = resources
        result: dict[str, Any] = self._json(self.http.post("/api/jobs", json=body))
        return result

    def job(self, job_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._json(self.http.get(f"/api/jobs/{job_id}"))
        return result

    def job_logs(self, job_id: str) -> str:
        return str(self._json(self.http.get(f"/api/jobs/{job_id}/logs"))["logs"])
