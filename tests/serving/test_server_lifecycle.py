"""The server process's life: loading, failing to load, downloading, shutting down, and what it imports."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.serving.fakes import ROOT, ServerProcess, model_file
from tests.trainer.storage_server import SIGNATURE, StorageServer, start

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def servers() -> Iterator[list[ServerProcess]]:
    started: list[ServerProcess] = []
    yield started
    for server in started:
        server.close()


@pytest.fixture(scope="module")
def storage() -> Iterator[StorageServer]:
    state, server = start()
    yield state
    server.shutdown()
    server.server_close()


def _run(servers: list[ServerProcess], env: dict[str, str], *, fake: bool = True) -> ServerProcess:
    server = ServerProcess(env, fake=fake)
    servers.append(server)
    return server


def test_ready_is_503_while_loading_then_200(servers: list[ServerProcess], tmp_path: Path) -> None:
    server = _run(servers, {"MODEL_PATH": str(model_file(tmp_path, load_delay=1.0))})
    server.wait_live()
    response = server.client.get("/ready")
    assert response.status_code == 503
    assert response.json() == {"status": "loading", "model": "m", "detail": "the model is loading"}
    assert server.client.get("/v2/health/ready").status_code == 503
    assert server.client.get("/v2/models/m/ready").json() == {"name": "m", "ready": False}
    response = server.client.post("/predict", json={"instances": [[1, 2, 3]]})
    assert response.status_code == 503
    assert response.json() == {"detail": "the model is not ready: the model is loading"}
    assert server.client.get("/v2/models/m").status_code == 503
    server.wait_ready()
    assert server.client.post("/predict", json={"instances": [[1, 2, 3]]}).json() == {"predictions": [6.0]}


def test_a_model_that_fails_to_load(servers: list[ServerProcess], tmp_path: Path) -> None:
    server = _run(servers, {"MODEL_PATH": str(model_file(tmp_path, load_error="the pickle needs xgboost"))})
    server.wait_live()
    deadline = time.monotonic() + 10
    while (document := server.client.get("/ready").json())["status"] == "loading":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert server.client.get("/ready").status_code == 503
    assert document == {
        "status": "failed",
        "model": "m",
        "detail": "loading the model failed: the pickle needs xgboost",
    }
    assert server.client.get("/health").status_code == 200
    assert server.client.get("/v2/health/ready").status_code == 503
    response = server.client.post("/v2/models/m/infer", json={"inputs": []})
    assert response.status_code == 503
    assert "the pickle needs xgboost" in response.json()["error"]
    assert server.process.poll() is None  # still up, so that the reason can be read
    assert server.terminate() == 0


def test_under_kubernetes_a_failed_load_exits_with_the_reason_as_termination_message(
    servers: list[ServerProcess], tmp_path: Path
) -> None:
    # A pod's container: the kubelet keeps the file's words and restarts the container with back-off.
    termination = tmp_path / "termination-log"
    model = model_file(tmp_path, load_error="the pickle needs xgboost")
    server = _run(servers, {"MODEL_PATH": str(model), "TERMINATION_MESSAGE_PATH": str(termination)})
    assert server.process.wait(timeout=30) == 3
    assert termination.read_text() == "loading the model failed: the pickle needs xgboost"


def test_no_model_source_is_reported_by_ready(servers: list[ServerProcess]) -> None:
    server = _run(servers, {})
    server.wait_live()
    time.sleep(0.2)
    response = server.client.get("/ready")
    assert response.status_code == 503
    assert "set MODEL_URL, MODEL_PATH, or MODEL_S3_BUCKET and MODEL_S3_KEY" in response.json()["detail"]


def test_bad_settings_exit_2() -> None:
    env = {"PATH": "/usr/bin:/bin", "PORT": "http", "MAX_BATCH_ROWS": "0", "MODEL_URL": "ftp://x/y?sig=1"}
    done = subprocess.run(
        [sys.executable, "-m", "podml.serving"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "PORT must be an integer, not 'http'" in done.stderr
    assert "MAX_BATCH_ROWS must be between 1 and 1e+07, not 0" in done.stderr
    assert "MODEL_URL must be an http(s) URL, not 'ftp://x/y'" in done.stderr
    assert "sig=1" not in done.stderr


def test_model_url_is_downloaded(
    servers: list[ServerProcess], storage: StorageServer, tmp_path: Path
) -> None:
    url = storage.add(model_file(tmp_path, model="sum").read_bytes(), "model.joblib")
    server = _run(servers, {"MODEL_URL": url})
    server.wait_ready()
    assert server.client.post("/predict", json={"records": [{"a": 1, "b": 1, "c": 1}]}).json() == {
        "predictions": [3.0]
    }
    assert server.terminate() == 0
    assert "downloaded the model from http://127.0.0.1" in (output := server.output())
    assert SIGNATURE.split("=")[1] not in output


def test_a_refused_model_url(servers: list[ServerProcess], storage: StorageServer, tmp_path: Path) -> None:
    url = storage.add(model_file(tmp_path, model="sum").read_bytes(), "model.joblib")
    storage.fail("GET", url, 403)
    server = _run(servers, {"MODEL_URL": url})
    server.wait_live()
    time.sleep(0.3)
    detail = server.client.get("/ready").json()["detail"]
    assert "HTTP 403" in detail
    assert "may have expired" in detail
    assert "sig=" not in detail
    assert server.terminate() == 0
    assert SIGNATURE.split("=")[1] not in server.output()


def test_unexpected_model_errors_are_500(servers: list[ServerProcess], tmp_path: Path) -> None:
    server = _run(servers, {"MODEL_PATH": str(model_file(tmp_path, model="error"))})
    server.wait_ready()
    response = server.client.post("/predict", json={"instances": [[1, 2, 3]]})
    assert response.status_code == 500
    assert response.json() == {"detail": "internal error while predicting; the server log has the details"}
    assert "secret" not in response.text
    body = {"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP64", "data": [1, 2, 3]}]}
    assert server.client.post("/v2/models/m/infer", json=body).status_code == 500
    assert server.terminate() == 0
    output = server.output()
    assert "unexpected error answering POST /predict" in output
    assert "RuntimeError: kaboom: secret internal detail" in output


def test_sigterm_finishes_requests_in_flight(servers: list[ServerProcess], tmp_path: Path) -> None:
    server = _run(servers, {"MODEL_PATH": str(model_file(tmp_path, model="slow", delay=1.0))})
    server.wait_ready()
    answers: list[httpx.Response] = []
    request = threading.Thread(
        target=lambda: answers.append(server.client.post("/predict", json={"instances": [[1, 2, 3]]}))
    )
    request.start()
    time.sleep(0.3)
    assert server.terminate() == 0
    request.join(5)
    assert answers[0].status_code == 200
    assert answers[0].json() == {"predictions": [6.0]}


def test_sigterm_turns_readiness_off_while_draining(servers: list[ServerProcess], tmp_path: Path) -> None:
    server = _run(servers, {"MODEL_PATH": str(model_file(tmp_path)), "SHUTDOWN_DRAIN_SECONDS": "1"})
    server.wait_ready()
    server.process.send_signal(15)
    time.sleep(0.2)
    response = server.client.get("/ready")
    assert response.status_code == 503
    assert response.json()["status"] == "stopping"
    assert server.client.get("/health").status_code == 200
    assert server.client.post("/predict", json={"instances": [[1, 2, 3]]}).status_code == 200
    assert server.process.wait(10) == 0


def test_the_server_imports_nothing_from_the_web_side() -> None:
    web_side = (
        "podml.api", "podml.main", "podml.deps", "podml.database", "podml.auth", "podml.datasets",
        "podml.configurations", "podml.jobs", "podml.registry", "podml.deployments", "podml.storage",
        "podml.config", "podml.executors", "podml.gateway", "fastapi", "starlette", "sqlalchemy", "pydantic",
    )  # fmt: skip
    code = (
        "import sys\n"
        "import podml.serving.server, podml.serving.app, podml.serving.dataplane, podml.serving.metrics\n"
        "import podml.serving.loader\n"
        f"web = sorted(m for m in sys.modules if m.startswith({web_side!r}))\n"
        "assert not web, web\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in ('sklearn', 'pandas', 'boto3', 'httpx')]\n"
        "assert not heavy, heavy\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, cwd=ROOT)
    assert done.returncode == 0, done.stderr


def test_requirements_are_installed_then_the_server_reexecutes(
    servers: list[ServerProcess], storage: StorageServer, tmp_path: Path
) -> None:
    from tests.support.wheels import build_wheel

    wheels = tmp_path / "wheels"
    wheels.mkdir()
    build_wheel(wheels, "podml_serving_extra", "0.3.0", "VALUE = 7\n")
    env = {
        "MODEL_PATH": str(model_file(tmp_path, model="sum", **{"import": "podml_serving_extra"})),
        "REQUIREMENTS_URL": storage.add(b"podml-serving-extra==0.3.0\nnumpy\n", "requirements.txt"),
        "REQUIREMENTS_CACHE_DIR": str(tmp_path / "environments"),
        "REQUIREMENTS_PIP_ARGS": f"--no-index --find-links '{wheels}'",
        "HOME": str(tmp_path),
    }
    first = _run(servers, env)
    first.wait_ready(timeout=50)
    assert first.client.post("/predict", json={"instances": [[1, 2, 3]]}).json() == {"predictions": [6.0]}
    assert first.terminate() == 0
    output = first.output()
    assert "installed podml-serving-extra==0.3.0" in output
    assert "re-executing under" in output
    second = _run(servers, env)  # the same requirements: the environment is reused, nothing installed
    second.wait_ready(timeout=30)
    assert second.terminate() == 0
    output = second.output()
    assert "re-executing under" in output
    assert "installed podml" not in output


def test_satisfied_requirements_need_no_reexecution(
    servers: list[ServerProcess], storage: StorageServer, tmp_path: Path
) -> None:
    env = {
        "MODEL_PATH": str(model_file(tmp_path, model="sum")),
        "REQUIREMENTS_URL": storage.add(b"numpy>=1\n# a comment\nprometheus-client\n", "requirements.txt"),
        "REQUIREMENTS_CACHE_DIR": str(tmp_path / "environments"),
    }
    server = _run(servers, env)
    server.wait_ready()
    assert server.terminate() == 0
    output = server.output()
    assert "the requirements are already satisfied" in output
    assert "re-executing" not in output
