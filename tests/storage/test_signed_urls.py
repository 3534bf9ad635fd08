"""Signed URLs over real HTTP, with no storage client at all (httpx, and urllib in a subprocess).

For S3 the URL goes to rclone serve s3 (SigV4 presigned); for local storage it goes to the
`/api/files` router served by uvicorn (HMAC). Both must refuse tampered and expired URLs.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sys
import textwrap
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx

from podml.storage import Storage
from podml.storage.keys import dataset_key
from podml.storage.local import LocalStorage


def _signature_param(url: str) -> str:
    names = {name for name, _ in parse_qsl(urlsplit(url).query)}
    return "sig" if "sig" in names else "X-Amz-Signature"


def tamper_query(url: str, name: str, change: str | None = None) -> str:
    """Replace (or add) query parameter `name`; by default flip the last character of its value."""
    parts = urlsplit(url)
    query = []
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key == name:
            value = change if change is not None else value[:-1] + ("0" if value[-1] != "0" else "1")
        query.append((key, value))
    if change is not None and name not in dict(query):
        query.append((name, change))
    return urlunsplit(parts._replace(query=urlencode(query)))


def refused(response: httpx.Response) -> bool:
    # S3 answers 403 for a bad signature; rclone answers an expired one with 400 AccessDenied
    # ("request time ... exceeds the maximum allowed") where AWS says 403: both are refusals.
    return response.status_code == 403 or (response.status_code == 400 and "AccessDenied" in response.text)


async def test_signed_get(storage: Storage) -> None:
    await storage.put_bytes("data/u/d1/data.csv", b"x,y\n1,2\n", "text/csv")
    url = storage.signed_url("data/u/d1/data.csv", "GET", 60)
    async with httpx.AsyncClient() as client:
        response = await client.get(url)
    assert response.status_code == 200
    assert response.content == b"x,y\n1,2\n"
    assert response.headers["content-type"].startswith("text/csv")


async def test_signed_get_with_content_type(storage: Storage) -> None:
    await storage.put_bytes("data/u/d1/model.bin", b"\x00\x01")
    url = storage.signed_url("data/u/d1/model.bin", "GET", 60, content_type="application/x-joblib")
    async with httpx.AsyncClient() as client:
        response = await client.get(url)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-joblib"


async def test_signed_put(storage: Storage) -> None:
    url = storage.signed_url("jobs/u/j1/model.joblib", "PUT", 60)
    async with httpx.AsyncClient() as client:
        response = await client.put(url, content=b"model bytes" * 1000)
    assert response.status_code == 200, response.text
    assert await storage.get_bytes("jobs/u/j1/model.joblib") == b"model bytes" * 1000


async def test_encoded_owner_keys_round_trip_over_http(storage: Storage) -> None:
    key = dataset_key("google-oauth2|42 é", "d1")  # "%" in the key, "%25" in the URL
    assert "%" in key
    async with httpx.AsyncClient() as client:
        put = await client.put(storage.signed_url(key, "PUT", 60), content=b"a,b\n")
        got = await client.get(storage.signed_url(key, "GET", 60))
    assert put.status_code == 200, put.text
    assert got.status_code == 200, got.text
    assert got.content == b"a,b\n"
    assert await storage.get_bytes(key) == b"a,b\n"


async def test_signed_put_content_type_is_enforced(storage: Storage) -> None:
    url = storage.signed_url("jobs/u/j1/metrics.json", "PUT", 60, content_type="application/json")
    async with httpx.AsyncClient() as client:
        wrong = await client.put(url, content=b"{}", headers={"Content-Type": "text/plain"})
        missing = await client.put(url, content=b"{}")
        right = await client.put(url, content=b'{"r2": 1}', headers={"Content-Type": "application/json"})
    assert refused(wrong), wrong.text
    assert refused(missing), missing.text
    assert right.status_code == 200, right.text
    assert await storage.get_bytes("jobs/u/j1/metrics.json") == b'{"r2": 1}'


async def test_tampered_urls_are_refused(storage: Storage) -> None:
    await storage.put_bytes("t/u/secret.csv", b"mine")
    await storage.put_bytes("t/u/other.csv", b"theirs")
    url = storage.signed_url("t/u/secret.csv", "GET", 60)
    other_key = url.replace("/t/u/secret.csv", "/t/u/other.csv")
    assert other_key != url
    bad_sig = tamper_query(url, _signature_param(url))
    put_url = storage.signed_url("t/u/upload.csv", "PUT", 60)
    async with httpx.AsyncClient() as client:
        assert (await client.get(url)).status_code == 200
        for response in (await client.get(other_key), await client.get(bad_sig)):
            assert response.status_code == 403, response.text
            assert b"theirs" not in response.content
            assert b"mine" not in response.content
        assert refused(await client.put(url, content=b"overwrite")), "a GET URL must not allow PUT"
        assert refused(await client.get(put_url)), "a PUT URL must not allow GET"
        assert refused(await client.put(put_url.replace("upload.csv", "other.csv"), content=b"x"))
    assert await storage.get_bytes("t/u/secret.csv") == b"mine"
    assert await storage.get_bytes("t/u/other.csv") == b"theirs"
    assert not await storage.exists("t/u/upload.csv")


async def test_expired_urls_are_refused(storage: Storage) -> None:
    await storage.put_bytes("e/u/file.txt", b"soon gone")
    get_url = storage.signed_url("e/u/file.txt", "GET", 1)
    put_url = storage.signed_url("e/u/new.txt", "PUT", 1)
    await asyncio.sleep(2.2)
    async with httpx.AsyncClient() as client:
        got = await client.get(get_url)
        put = await client.put(put_url, content=b"late")
    assert refused(got), (got.status_code, got.text)
    assert refused(put), (put.status_code, put.text)
    assert b"soon gone" not in got.content
    assert not await storage.exists("e/u/new.txt")


JOB_SCRIPT = textwrap.dedent(
    """
    import hashlib, json, os, urllib.request

    with urllib.request.urlopen(os.environ["DATASET_URL"], timeout=30) as response:
        data = response.read()
    metrics = json.dumps({"rows": data.count(b"\\n"), "sha256": hashlib.sha256(data).hexdigest()})
    request = urllib.request.Request(
        os.environ["OUTPUT_METRICS_URL"], data=metrics.encode(), method="PUT",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200, response.status
    request = urllib.request.Request(os.environ["OUTPUT_MODEL_URL"], data=data[::-1], method="PUT")
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200, response.status
    print("ok")
    """
)


async def test_a_separate_process_uses_only_the_urls(storage: Storage) -> None:
    """Like a training job: no credentials, no client library, only the URLs in its environment."""
    dataset = b"".join(f"{i},{i * 2}\n".encode() for i in range(50_000))
    await storage.put_bytes("datasets/u/d9/data.csv", dataset, "text/csv")
    env = {
        "DATASET_URL": storage.signed_url("datasets/u/d9/data.csv", "GET", 300),
        "OUTPUT_METRICS_URL": storage.signed_url("jobs/u/j9/metrics.json", "PUT", 300, "application/json"),
        "OUTPUT_MODEL_URL": storage.signed_url("jobs/u/j9/model.joblib", "PUT", 300),
        "PATH": "/usr/bin:/bin",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-I",  # isolated: nothing from this package, no PYTHON* variables
        "-c",
        JOB_SCRIPT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, stderr.decode()
    assert stdout.strip() == b"ok"
    metrics = json.loads(await storage.get_bytes("jobs/u/j9/metrics.json"))
    assert metrics == {"rows": 50_000, "sha256": hashlib.sha256(dataset).hexdigest()}
    assert await storage.get_bytes("jobs/u/j9/model.joblib") == dataset[::-1]


def test_local_url_shape(local_storage: LocalStorage) -> None:
    url = local_storage.signed_url("datasets/google-oauth2%7C1/d/data.csv", "PUT", 60, "text/csv")
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == local_storage.signer.public_url
    assert parts.path == "/api/files/datasets/google-oauth2%257C1/d/data.csv"
    query = dict(parse_qsl(parts.query))
    assert set(query) == {"method", "expires", "sig", "content_type"}
    assert query["method"] == "PUT"
    assert query["content_type"] == "text/csv"
    assert len(query["sig"]) == 64
