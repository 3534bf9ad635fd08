"""Fixtures for the trainer: a loopback storage server and a runner, in-process or as a subprocess."""

from __future__ import annotations

import io
import itertools
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pytest

from podml.trainer import transfer
from podml.trainer.run import main
from tests.trainer.storage_server import SIGNATURE, StorageServer, Upload, start

_counter = itertools.count()


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str
    model_upload: Upload | None
    metrics_upload: Upload | None
    termination: str | None

    @property
    def metrics(self) -> dict[str, Any]:
        assert self.metrics_upload is not None, self.stdout + self.stderr
        data: dict[str, Any] = json.loads(self.metrics_upload.body)
        return data

    def pipeline(self) -> Any:
        assert self.model_upload is not None, self.stdout + self.stderr
        return joblib.load(io.BytesIO(self.model_upload.body))

    def error_line(self) -> str:
        lines = self.stderr.strip().splitlines()
        assert lines, f"nothing on stderr; stdout:\n{self.stdout}"
        return lines[-1]

    def check_ok(self) -> None:
        assert self.code == 0, f"exit {self.code}\n{self.stdout}\n{self.stderr}"


class Jobs:
    def __init__(self, storage: StorageServer, tmp_path: Path) -> None:
        self.storage = storage
        self.tmp_path = tmp_path

    def env(
        self, data: str | bytes | pd.DataFrame, x: list[str] | None, y: str | None, **extra: str
    ) -> dict[str, str]:
        if isinstance(data, pd.DataFrame):
            data = data.to_csv(index=False)
        body = data.encode() if isinstance(data, str) else data
        n = next(_counter)
        env = {
            "DATASET_URL": self.storage.add(body),
            "OUTPUT_MODEL_URL": self.storage.url(f"/models/{n}/model.joblib"),
            "OUTPUT_METRICS_URL": self.storage.url(f"/models/{n}/metrics.json"),
            "TERMINATION_MESSAGE_PATH": str(self.tmp_path / f"termination-{n}.txt"),
        }
        if x is not None:
            env["X_COLUMNS"] = json.dumps(x)
        if y is not None:
            env["Y_COLUMN"] = y
        env.update(extra)
        return env

    def _outcome(self, env: dict[str, str], code: int, stdout: str, stderr: str) -> Outcome:
        termination_path = Path(env.get("TERMINATION_MESSAGE_PATH", self.tmp_path / "none"))
        return Outcome(
            code=code,
            stdout=stdout,
            stderr=stderr,
            model_upload=self.storage.upload(env.get("OUTPUT_MODEL_URL", "/none")),
            metrics_upload=self.storage.upload(env.get("OUTPUT_METRICS_URL", "/none")),
            termination=termination_path.read_text() if termination_path.exists() else None,
        )

    def run(self, env: dict[str, str]) -> Outcome:
        """The trainer in this process, through its importable entry point."""
        stdout, stderr = io.StringIO(), io.StringIO()
        code = main(env, stdout=stdout, stderr=stderr)
        return self._outcome(env, code, stdout.getvalue(), stderr.getvalue())

    def run_process(self, env: dict[str, str], timeout: float = 60) -> Outcome:
        """`python -m podml.trainer` with only PATH and the job's variables."""
        full_env = {"PATH": "/usr/bin:/bin", **env}
        done = subprocess.run(
            [sys.executable, "-m", "podml.trainer"],
            env=full_env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        return self._outcome(env, done.returncode, done.stdout, done.stderr)


@pytest.fixture(scope="session")
def storage_server() -> Iterator[StorageServer]:
    state, server = start()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def storage(storage_server: StorageServer, monkeypatch: pytest.MonkeyPatch) -> StorageServer:
    storage_server.reset()
    monkeypatch.setattr(transfer, "RETRY_DELAYS", (0.01, 0.02, 0.03))
    return storage_server


@pytest.fixture
def jobs(storage: StorageServer, tmp_path: Path) -> Jobs:
    return Jobs(storage, tmp_path)


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        assert "S3CR3T" not in text, text
        assert SIGNATURE not in text, text


def regression_frame(rows: int = 200, seed: int = 0) -> pd.DataFrame:
    """y = 3x + 2 + small noise."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-5, 5, rows)
    return pd.DataFrame({"x": x.round(4), "y": (3 * x + 2 + rng.normal(0, 0.05, rows)).round(4)})


def classification_frame(rows: int = 200, seed: int = 0) -> pd.DataFrame:
    """Two well separated clusters in (a, b), labelled "left" and "right"."""
    rng = np.random.default_rng(seed)
    side = rng.integers(0, 2, rows)
    a = np.where(side == 1, 4.0, -4.0) + rng.normal(0, 0.7, rows)
    b = np.where(side == 1, 2.0, -2.0) + rng.normal(0, 0.7, rows)
    return pd.DataFrame({"a": a.round(3), "b": b.round(3), "label": np.where(side == 1, "right", "left")})
