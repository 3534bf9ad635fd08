"""The scale-out column end to end: `podml serve` on PostgreSQL and a real S3 server (rclone)."""

from __future__ import annotations

import uuid
from pathlib import Path

import boto3
import httpx
from botocore.config import Config

from tests.support.databases import postgres_database
from tests.support.rclone import RcloneS3
from tests.support.server import podml_serve

CSV = "size,rooms,price\n50,2,100\n70,3,150\n90,4,210\n"


def _keys(rclone_s3: RcloneS3, bucket: str) -> list[str]:
    s3 = boto3.client(
        "s3",
        endpoint_url=rclone_s3.endpoint,
        aws_access_key_id=rclone_s3.access_key,
        aws_secret_access_key=rclone_s3.secret_key,
        region_name="us-east-1",
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )
    return [obj["Key"] for obj in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]


async def test_datasets_live_in_s3(rclone_s3: RcloneS3, tmp_path: Path) -> None:
    bucket = f"podml-{uuid.uuid4().hex[:8]}"
    async with postgres_database() as url:
        env = {
            "PODML_DATABASE_URL": url,
            "PODML_SECRET_KEY": "s3-e2e-secret-key-long-enough-0123456789",
            "PODML_STORAGE_BACKEND": "s3",
            "PODML_S3_ENDPOINT_URL": rclone_s3.endpoint,
            "PODML_S3_BUCKET": bucket,
            "PODML_S3_ACCESS_KEY_ID": rclone_s3.access_key,
            "PODML_S3_SECRET_ACCESS_KEY": rclone_s3.secret_key,
            "PODML_S3_CREATE_BUCKET": "true",
        }
        with podml_serve(tmp_path / "data", env) as server:
            async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
                assert (await http.get("/readyz")).json()["checks"] == {"database": "ok", "storage": "ok"}
                await http.post(
                    "/api/auth/register", json={"email": "s3@example.com", "password": "pw-12345678"}
                )
                login = await http.post(
                    "/api/auth/login", json={"email": "s3@example.com", "password": "pw-12345678"}
                )
                headers = {"Authorization": f"Bearer {login.json()['access_token']}"}

                upload = await http.post(
                    "/api/datasets", headers=headers, files={"file": ("h.csv", CSV, "text/csv")}
                )
                assert upload.status_code == 201, upload.text
                dataset = upload.json()
                assert dataset["dataset_uri"].startswith(f"s3://{bucket}/datasets/")
                assert _keys(rclone_s3, bucket) == [dataset["dataset_uri"].removeprefix(f"s3://{bucket}/")]

                preview = await http.get(f"/api/datasets/{dataset['id']}/preview?rows=2", headers=headers)
                assert preview.status_code == 200
                assert [row["price"] for row in preview.json()["rows"]] in (["100", "150"], [100, 150])

                bad = await http.post(
                    "/api/datasets", headers=headers, files={"file": ("b.csv", "a,a\n1,2\n", "text/csv")}
                )
                assert bad.status_code == 422
                assert len(_keys(rclone_s3, bucket)) == 1

                assert (
                    await http.delete(f"/api/datasets/{dataset['id']}", headers=headers)
                ).status_code == 204
                assert _keys(rclone_s3, bucket) == []
        assert rclone_s3.secret_key not in server.log()
