"""Every route and every caller error of `python -m podml.serving`, over real HTTP, with fake models."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.serving.fakes import ServerProcess, model_file

pytestmark = pytest.mark.timeout(60)


def _start(directory: Path, kind: str, **env: str) -> ServerProcess:
    server = ServerProcess({"MODEL_PATH": str(model_file(directory, model=kind)), **env})
    server.wait_ready()
    return server


@pytest.fixture(scope="module")
def sums(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    env = {"MAX_BATCH_ROWS": "3000", "MAX_BODY_BYTES": str(1 << 20), "INLINE_MAX_BYTES": "4096"}
    server = _start(tmp_path_factory.mktemp("sums"), "sum", **env)
    yield server
    server.close()


@pytest.fixture(scope="module")
def signs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = _start(tmp_path_factory.mktemp("signs"), "sign")
    yield server
    server.close()


def _tensor(
    name: str, data: list[Any], shape: list[int] | None = None, datatype: str = "FP64"
) -> dict[str, Any]:
    return {"name": name, "shape": shape or [len(data)], "datatype": datatype, "data": data}


def _check(server: ServerProcess, method: str, path: str, status: int, reason: str, **kwargs: Any) -> None:
    response = server.client.request(method, path, **kwargs)
    assert response.status_code == status, response.text
    document = response.json()
    detail = document["error"] if path.startswith("/v2") else document["detail"]
    assert re.search(reason, detail), detail


def test_health_and_readiness(sums: ServerProcess) -> None:
    client = sums.client
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/ready").json() == {"status": "ready", "model": "m", "serving_path": "python"}
    assert client.get("/v2/health/live").json() == {"live": True}
    assert client.get("/v2/health/ready").json() == {"ready": True}
    assert client.get("/v2/models/m/ready").json() == {"name": "m", "ready": True}
    assert client.get("/v2").json() == {"name": "podml-serving", "version": "0.1.0", "extensions": []}
    assert client.head("/health").status_code == 200


def test_model_metadata(sums: ServerProcess, signs: ServerProcess) -> None:
    document = sums.client.get("/v2/models/m").json()
    assert document["name"] == "m"
    assert document["platform"] == "python"
    assert document["inputs"] == [{"name": n, "datatype": "FP64", "shape": [-1]} for n in "abc"]
    assert document["outputs"] == [{"name": "predict", "datatype": "FP64", "shape": [-1]}]
    document = signs.client.get("/v2/models/m").json()
    assert document["outputs"] == [
        {"name": "predict", "datatype": "BYTES", "shape": [-1]},
        {"name": "predict_proba", "datatype": "FP64", "shape": [-1, 2]},
    ]
    assert document["parameters"]["classes"] == ["neg", "pos"]


def test_predict_instances_and_records(sums: ServerProcess) -> None:
    response = sums.client.post("/predict", json={"instances": [[1, 2, 3], [0.5, 0.25, -1]]})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"predictions": [6.0, -0.25]}
    response = sums.client.post("/predict", json={"records": [{"c": 3, "b": 2, "a": 1}]})
    assert response.json() == {"predictions": [6.0]}


def test_probabilities(signs: ServerProcess, sums: ServerProcess) -> None:
    body = {"instances": [[1, 2], [-3, 1]], "probabilities": True}
    assert signs.client.post("/predict", json=body).json() == {
        "predictions": ["pos", "neg"],
        "probabilities": [[0.2, 0.8], [0.9, 0.1]],
    }
    assert signs.client.post("/predict", json={"instances": [[1, 2]]}).json() == {"predictions": ["pos"]}
    _check(sums, "POST", "/predict", 422, "only available from classifiers", json=body)


def test_infer_one_tensor_per_feature(sums: ServerProcess) -> None:
    body = {
        "id": "req-7",
        "inputs": [_tensor("c", [3, 30]), _tensor("a", [1, 10], [2, 1]), _tensor("b", [[2], [20]], [2, 1])],
    }
    response = sums.client.post("/v2/models/m/infer", json=body)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "model_name": "m",
        "id": "req-7",
        "outputs": [{"name": "predict", "datatype": "FP64", "shape": [2], "data": [6.0, 60.0]}],
    }


def test_infer_a_single_2d_tensor(sums: ServerProcess, signs: ServerProcess) -> None:
    body = {"inputs": [_tensor("input-0", [1, 2, 3, 4, 5, 6], [2, 3])]}
    outputs = sums.client.post("/v2/models/m/infer", json=body).json()["outputs"]
    assert outputs[0]["data"] == [6.0, 15.0]
    nested = {"inputs": [_tensor("x", [[1, 2], [-3, 1]], [2, 2])], "parameters": {"probabilities": True}}
    outputs = signs.client.post("/v2/models/m/infer", json=nested).json()["outputs"]
    assert outputs == [
        {"name": "predict", "datatype": "BYTES", "shape": [2], "data": ["pos", "neg"]},
        {"name": "predict_proba", "datatype": "FP64", "shape": [2, 2], "data": [0.2, 0.8, 0.9, 0.1]},
    ]
    only = {"inputs": nested["inputs"], "outputs": [{"name": "predict_proba"}]}
    assert [o["name"] for o in signs.client.post("/v2/models/m/infer", json=only).json()["outputs"]] == [
        "predict_proba"
    ]


def test_a_big_batch_is_answered_off_the_event_loop(sums: ServerProcess) -> None:
    rows = [[i, 1, 2] for i in range(2500)]  # about 30 kB: over INLINE_MAX_BYTES
    predictions = sums.client.post("/predict", json={"instances": rows}).json()["predictions"]
    assert predictions == [i + 3.0 for i in range(2500)]


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        ({"instances": [[1, 2]]}, 422, "row 0 has 2 values; the model takes 3"),
        ({"instances": [[1, 2, "x"]]}, 422, "expected a number, got 'x'"),
        ({"instances": [[1, 2, None]]}, 422, "expected a number, got None"),
        ({"records": [{"a": 1, "b": 2, "z": 3}]}, 422, "unknown feature 'z'"),
        ({"records": [{"a": 1, "b": 2}]}, 422, "missing feature 'c'"),
        ({"instances": []}, 422, "empty"),
        ({"instances": [1, 2, 3]}, 422, r"instances\[0\] must be a list"),
        ({"records": [[1, 2, 3]]}, 422, r"records\[0\] must be an object"),
        ({"instances": [[1, 2, 3]] * 3001}, 422, "3001 rows is over the limit of 3000"),
        ({"instances": [[1, 2, 3]], "probabilities": "yes"}, 400, "must be true or false"),
        ({"rows": [[1, 2, 3]]}, 400, 'exactly one of "instances"'),
        ([[1, 2, 3]], 400, "expected a JSON object"),
    ],
)
def test_predict_errors(sums: ServerProcess, body: Any, status: int, reason: str) -> None:
    _check(sums, "POST", "/predict", status, reason, json=body)


def test_malformed_bodies(sums: ServerProcess) -> None:
    _check(sums, "POST", "/predict", 400, "malformed JSON", content=b'{"instances": [[1, 2')
    _check(sums, "POST", "/predict", 400, "malformed JSON", content=b"\xff\xfe")
    _check(sums, "POST", "/predict", 400, "body is empty", content=b"")
    _check(sums, "POST", "/v2/models/m/infer", 400, "malformed JSON", content=b"nope")
    _check(sums, "POST", "/predict", 413, "over 1048576 bytes", content=b"[" + b"1," * (1 << 20) + b"1]")


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        (
            {"inputs": [_tensor("a", [1]), _tensor("b", [2]), _tensor("z", [3])]},
            422,
            "unknown input 'z'.*a, b, c",
        ),
        ({"inputs": [_tensor("a", [1]), _tensor("b", [2])]}, 422, "missing input: c"),
        ({"inputs": [_tensor("a", [1]), _tensor("a", [1])]}, 422, "given twice"),
        ({"inputs": [_tensor("a", [1, 2]), _tensor("b", [2]), _tensor("c", [3])]}, 422, "has 1 rows; other"),
        ({"inputs": [_tensor("x", [1, 2, 3, 4], [2, 2])]}, 422, "row 0 has 2 values"),
        ({"inputs": [_tensor("x", [1, 2, 3], [2, 3])]}, 422, r"has 3 values; its shape \[2, 3\] needs 6"),
        ({"inputs": [_tensor("x", ["a", "b", "c"], [1, 3], "BYTES")]}, 422, "expected a number, got 'a'"),
        ({"inputs": [_tensor("x", [1, 2, 3], [1, 3], "FLOAT")]}, 422, "unknown datatype 'FLOAT'"),
        ({"inputs": [_tensor("x", [], [0, 3])]}, 422, "empty"),
        ({"inputs": [_tensor("a", [1], [1, 1, 1])]}, 422, "send one tensor per feature"),
        (
            {"inputs": [_tensor("x", [1, 2, 3], [1, 3])], "outputs": [{"name": "proba"}]},
            422,
            "unknown output",
        ),
        ({"inputs": []}, 400, '"inputs" must be a non-empty list'),
        ({"inputs": [{"name": "a", "data": [1]}]}, 400, '"shape" must be'),
        ({"inputs": [_tensor("x", [1, 2, 3], [1, 3])], "id": 7}, 400, '"id" must be a string'),
        ({"inputs": [_tensor("x", [1, 2, 3], [1, 3])], "parameters": []}, 400, '"parameters" must be'),
    ],
)
def test_infer_errors(sums: ServerProcess, body: Any, status: int, reason: str) -> None:
    _check(sums, "POST", "/v2/models/m/infer", status, reason, json=body)


def test_unknown_model_names_and_routes(sums: ServerProcess) -> None:
    body = {"inputs": [_tensor("x", [1, 2, 3], [1, 3])]}
    _check(
        sums,
        "POST",
        "/v2/models/other/infer",
        404,
        "model 'other' not found; this server serves 'm'",
        json=body,
    )
    _check(sums, "GET", "/v2/models/other", 404, "model 'other' not found")
    _check(sums, "GET", "/v2/models/other/ready", 404, "model 'other' not found")
    _check(sums, "GET", "/v2/models/m/explain", 404, "no route")
    _check(sums, "GET", "/nope", 404, "no route /nope")
    _check(sums, "GET", "/predict", 405, "use POST")
    _check(sums, "POST", "/health", 405, "use GET")


def test_metrics_move(signs: ServerProcess) -> None:
    def sample(text: str, name: str, **labels: str) -> float:
        for line in text.splitlines():
            if line.startswith(name + "{") or line.startswith(name + " "):
                found = dict(re.findall(r'(\w+)="([^"]*)"', line))
                if found == labels:
                    return float(line.rsplit(" ", 1)[1])
        return 0.0

    before = signs.client.get("/metrics").text
    signs.client.post("/predict", json={"instances": [[1, 2]]})
    signs.client.post("/predict", json={"instances": [[1]]})
    signs.client.post("/v2/models/m/infer", json={"inputs": [_tensor("x", [1, 2], [1, 2])]})
    response = signs.client.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    after = response.text
    ok, bad = {"route": "/predict", "code": "200"}, {"route": "/predict", "code": "422"}
    infer = {"route": "/v2/models/{name}/infer", "code": "200"}
    assert sample(after, "requests_total", **ok) == sample(before, "requests_total", **ok) + 1
    assert sample(after, "requests_total", **bad) == sample(before, "requests_total", **bad) + 1
    assert sample(after, "errors_total", **bad) == sample(before, "errors_total", **bad) + 1
    assert sample(after, "requests_total", **infer) == sample(before, "requests_total", **infer) + 1
    assert sample(after, "errors_total", **ok) == 0.0
    count = sample(after, "prediction_latency_ms_count", route="/predict")
    assert count == sample(before, "prediction_latency_ms_count", route="/predict") + 2
    assert sample(after, "model_ready") == 1.0
    assert "process_resident_memory_bytes" in after
    assert json.loads(signs.client.get("/ready").text)["status"] == "ready"
