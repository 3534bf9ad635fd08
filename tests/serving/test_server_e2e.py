"""The server with the real loader: trained joblib models downloaded from a signed URL, served over HTTP."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.serving.conftest import TrainedModel
from tests.serving.fakes import ServerProcess
from tests.support.rclone import RcloneS3
from tests.trainer.storage_server import StorageServer, start

pytestmark = pytest.mark.timeout(90)


@pytest.fixture(scope="module")
def storage() -> Iterator[StorageServer]:
    state, server = start()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def servers() -> Iterator[list[ServerProcess]]:
    started: list[ServerProcess] = []
    yield started
    for server in started:
        server.close()


def _serve(
    servers: list[ServerProcess], storage: StorageServer, model: TrainedModel, **env: str
) -> ServerProcess:
    url = storage.add(model.path.read_bytes(), "model.joblib")
    server = ServerProcess({"MODEL_URL": url, **env}, fake=False)
    servers.append(server)
    server.wait_ready(timeout=30)
    return server


def _columns(model: TrainedModel, rows: int, datatypes: dict[str, str] | None = None) -> list[dict[str, Any]]:
    instances = model.instances[:rows]
    return [
        {
            "name": name,
            "shape": [rows, 1],
            "datatype": (datatypes or {}).get(name, "FP64"),
            "data": [row[i] for row in instances],
        }
        for i, name in enumerate(model.names)
    ]


def test_a_linear_pipeline(
    servers: list[ServerProcess], storage: StorageServer, linear_model: TrainedModel
) -> None:
    server = _serve(servers, storage, linear_model)
    assert server.client.get("/ready").json()["serving_path"] == "sklearn"
    expected = pytest.approx(linear_model.expected(20), rel=1e-9, abs=1e-9)
    body: dict[str, Any] = {"instances": linear_model.instances[:20]}
    assert server.client.post("/predict", json=body).json()["predictions"] == expected
    body = {"records": linear_model.records[:20]}
    assert server.client.post("/predict", json=body).json()["predictions"] == expected
    metadata = server.client.get("/v2/models/m").json()
    assert [(i["name"], i["datatype"]) for i in metadata["inputs"]] == [(f"x{i}", "FP64") for i in range(8)]
    assert metadata["platform"] == "sklearn"
    answer = server.client.post(
        "/v2/models/m/infer", json={"id": "a", "inputs": _columns(linear_model, 20)}
    ).json()
    assert answer["id"] == "a"
    assert answer["outputs"][0]["shape"] == [20]
    assert answer["outputs"][0]["data"] == expected
    flat = [v for row in linear_model.instances[:20] for v in row]
    batch = {"inputs": [{"name": "input-0", "shape": [20, 8], "datatype": "FP64", "data": flat}]}
    assert server.client.post("/v2/models/m/infer", json=batch).json()["outputs"][0]["data"] == expected


def test_caller_errors_from_the_real_model(
    servers: list[ServerProcess], storage: StorageServer, linear_model: TrainedModel
) -> None:
    server = _serve(servers, storage, linear_model)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"instances": [[1.0] * 7]}, "8"),
        ({"instances": [["abc"] + [1.0] * 7]}, "x0"),
        ({"records": [{**linear_model.records[0], "zz": 1}]}, "zz"),
        ({"records": [{k: v for k, v in linear_model.records[0].items() if k != "x3"}]}, "x3"),
    ]
    for body, needle in cases:
        response = server.client.post("/predict", json=body)
        assert response.status_code == 422, (body, response.text)
        assert needle in response.json()["detail"], response.text
    bad = _columns(linear_model, 2)
    bad[0]["data"] = ["a", "b"]
    bad[0]["datatype"] = "BYTES"
    response = server.client.post("/v2/models/m/infer", json={"inputs": bad})
    assert response.status_code == 422, response.text


def test_a_classifier_with_probabilities(
    servers: list[ServerProcess], storage: StorageServer, classifier_model: TrainedModel
) -> None:
    server = _serve(servers, storage, classifier_model)
    body = {"instances": classifier_model.instances[:10], "probabilities": True}
    answer = server.client.post("/predict", json=body).json()
    assert answer["predictions"] == classifier_model.expected(10)
    assert len(answer["probabilities"]) == 10
    assert all(len(p) == 3 and sum(p) == pytest.approx(1.0) for p in answer["probabilities"])
    metadata = server.client.get("/v2/models/m").json()
    assert metadata["outputs"][1] == {"name": "predict_proba", "datatype": "FP64", "shape": [-1, 3]}
    infer = {
        "inputs": _columns(classifier_model, 10),
        "outputs": [{"name": "predict"}, {"name": "predict_proba"}],
    }
    outputs = server.client.post("/v2/models/m/infer", json=infer).json()["outputs"]
    assert outputs[0]["datatype"] == "BYTES"
    assert outputs[0]["data"] == classifier_model.expected(10)
    assert outputs[1]["shape"] == [10, 3]


def test_categorical_features_over_v2(
    servers: list[ServerProcess], storage: StorageServer, categorical_model: TrainedModel
) -> None:
    server = _serve(servers, storage, categorical_model)
    datatypes = {i["name"]: i["datatype"] for i in server.client.get("/v2/models/m").json()["inputs"]}
    assert datatypes == {"size": "FP64", "flag": "BOOL", "color": "BYTES"}
    expected = pytest.approx(categorical_model.expected(5), rel=1e-9, abs=1e-9)
    answer = server.client.post("/predict", json={"records": categorical_model.records[:5]}).json()
    assert answer["predictions"] == expected
    answer = server.client.post(
        "/v2/models/m/infer", json={"inputs": _columns(categorical_model, 5, datatypes)}
    )
    assert answer.json()["outputs"][0]["data"] == expected


def test_a_verified_onnx_file_is_served(
    servers: list[ServerProcess], storage: StorageServer, linear_model: TrainedModel, tmp_path: Path
) -> None:
    from podml.serving.onnx_model import compile_onnx

    onnx = tmp_path / "model.onnx"
    assert compile_onnx(linear_model.path, onnx).ok
    server = _serve(servers, storage, linear_model, ONNX_URL=storage.add(onnx.read_bytes(), "model.onnx"))
    assert server.client.get("/ready").json()["serving_path"] == "onnx"
    predictions = server.client.post("/predict", json={"instances": linear_model.instances[:20]}).json()
    assert predictions["predictions"] == pytest.approx(linear_model.expected(20), rel=1e-4, abs=1e-4)


def test_the_model_is_downloaded_from_s3(
    servers: list[ServerProcess], rclone_s3: RcloneS3, linear_model: TrainedModel
) -> None:
    """The pod contract's bucket/key form: boto3 in the server, against a real SigV4 S3 server."""
    bucket = f"podml-serving-{uuid.uuid4().hex[:10]}"
    s3 = boto3.client(
        "s3",
        endpoint_url=rclone_s3.endpoint,
        aws_access_key_id=rclone_s3.access_key,
        aws_secret_access_key=rclone_s3.secret_key,
        region_name="us-east-1",
    )
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="models/u/m/1/model.joblib", Body=linear_model.path.read_bytes())
    credentials = {
        "MODEL_S3_BUCKET": bucket,
        "S3_ENDPOINT_URL": rclone_s3.endpoint,
        "AWS_ACCESS_KEY_ID": rclone_s3.access_key,
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    server = ServerProcess(
        {
            **credentials,
            "MODEL_S3_KEY": "models/u/m/1/model.joblib",
            "AWS_SECRET_ACCESS_KEY": rclone_s3.secret_key,
        },
        fake=False,
    )
    servers.append(server)
    server.wait_ready(timeout=30)
    answer = server.client.post("/predict", json={"instances": linear_model.instances[:5]}).json()
    assert answer["predictions"] == pytest.approx(linear_model.expected(5), rel=1e-9, abs=1e-9)

    wrong = ServerProcess(
        {
            **credentials,
            "MODEL_S3_KEY": "models/u/m/1/model.joblib",
            "AWS_SECRET_ACCESS_KEY": "not-the-secret",
        },
        fake=False,
    )
    servers.append(wrong)
    wrong.wait_live(timeout=30)
    deadline = time.monotonic() + 30
    while (ready := wrong.client.get("/ready")).json()["status"] == "loading" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert ready.status_code == 503
    assert ready.json()["status"] == "failed"
    assert "403" in ready.json()["detail"]  # the loader's reason, readable at /ready
    for process in (server, wrong):
        process.process.terminate()
        process.process.wait(10)
    logs = server.output() + wrong.output()
    assert "downloaded the model from s3://" in logs
    assert rclone_s3.secret_key not in logs
    assert "not-the-secret" not in logs
