"""Tiny `LoadedModel`s for the server's tests (after MLServer's `tests/fixtures.py`), a loader the
server process can use for them (`MODEL_LOADER=tests.serving.fakes:load`), and a helper that runs
`python -m podml.serving` on a free loopback port.

A fake "model file" is JSON: `{"model": "sum" | "sign" | "error" | "slow", "delay": s,
"load_delay": s, "load_error": "reason", "import": "module the load needs"}`.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx

from podml.serving.contract import Feature, InvalidInput, ModelInfo, Prediction

ROOT = Path(__file__).resolve().parents[2]


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(f"{where}: expected a number, got {value!r}")
    return float(value)


class SumModel:
    """A regressor over features a, b, c: the sum of the row."""

    features: tuple[str, ...] = ("a", "b", "c")
    task: Any = "regression"
    classes: list[Any] | None = None

    def __init__(self, name: str = "sum") -> None:
        self.info = ModelInfo(
            name=name,
            task=self.task,
            features=[Feature(f) for f in self.features],
            classes=self.classes,
            serving_path="python",
        )

    def _rows(self, rows: Sequence[Sequence[Any]]) -> list[list[float]]:
        width = len(self.features)
        out = []
        for i, row in enumerate(rows):
            if len(row) != width:
                raise InvalidInput(f"row {i} has {len(row)} values; the model takes {width}")
            out.append([_number(v, f"row {i}, feature {self.features[j]!r}") for j, v in enumerate(row)])
        return out

    def _answer(self, rows: list[list[float]], probabilities: bool) -> Prediction:
        return Prediction([sum(r) for r in rows])

    def predict_instances(self, rows: Sequence[Sequence[Any]], *, probabilities: bool = False) -> Prediction:
        return self._answer(self._rows(rows), probabilities)

    def predict_records(
        self, rows: Sequence[Mapping[str, Any]], *, probabilities: bool = False
    ) -> Prediction:
        ordered = []
        for i, record in enumerate(rows):
            unknown = sorted(set(record) - set(self.features))
            if unknown:
                raise InvalidInput(f"record {i}: unknown feature {unknown[0]!r}")
            missing = [f for f in self.features if f not in record]
            if missing:
                raise InvalidInput(f"record {i}: missing feature {missing[0]!r}")
            ordered.append([record[f] for f in self.features])
        return self._answer(self._rows(ordered), probabilities)


class SignModel(SumModel):
    """A classifier over a, b: "pos" when a + b > 0, with probabilities."""

    features = ("a", "b")
    task = "classification"
    classes = ["neg", "pos"]

    def _answer(self, rows: list[list[float]], probabilities: bool) -> Prediction:
        labels = ["pos" if sum(r) > 0 else "neg" for r in rows]
        probs = [[0.2, 0.8] if label == "pos" else [0.9, 0.1] for label in labels] if probabilities else None
        return Prediction(labels, probs)


class ErrorModel(SumModel):
    """Fails every prediction with an unexpected exception (the server must answer 500)."""

    def _answer(self, rows: list[list[float]], probabilities: bool) -> Prediction:
        raise RuntimeError("kaboom: secret internal detail")


class SlowModel(SumModel):
    def __init__(self, name: str = "slow", delay: float = 0.5) -> None:
        super().__init__(name)
        self.delay = delay

    def _answer(self, rows: list[list[float]], probabilities: bool) -> Prediction:
        time.sleep(self.delay)
        return super()._answer(rows, probabilities)


def load(path: Path, *, name: str, prefer_onnx: bool = True, onnx_path: Path | None = None) -> SumModel:
    """The server's `MODEL_LOADER` for fake model files."""
    spec = json.loads(Path(path).read_text())
    time.sleep(spec.get("load_delay", 0))
    if "import" in spec:  # a package the model's requirements.txt brings
        importlib.import_module(spec["import"])
    if "load_error" in spec:
        raise ValueError(spec["load_error"])
    kind = spec.get("model", "sum")
    if kind == "slow":
        return SlowModel(name, spec.get("delay", 0.5))
    return {"sum": SumModel, "sign": SignModel, "error": ErrorModel}[kind](name)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ServerProcess:
    """`python -m podml.serving` in a subprocess, with nothing but the given variables."""

    def __init__(self, env: Mapping[str, str], *, fake: bool = True) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        full = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "MODEL_NAME": "m",
        }
        if fake:
            full["MODEL_LOADER"] = "tests.serving.fakes:load"
        full.update(env)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "podml.serving"],
            env=full,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.client = httpx.Client(base_url=self.url, timeout=10)

    def wait_live(self, timeout: float = 10) -> None:
        self._wait(lambda: self.client.get("/health").status_code == 200, timeout)

    def wait_ready(self, timeout: float = 10) -> None:
        self._wait(lambda: self.client.get("/ready").status_code == 200, timeout)

    def _wait(self, check: Any, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the server exited {self.process.returncode}:\n{self.output()}")
            try:
                if check():
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.02)
        raise AssertionError(f"the server did not get there in {timeout} s:\n{self.output()}")

    def terminate(self, timeout: float = 15) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def output(self) -> str:
        if self.process.poll() is None:
            return "(still running)"
        assert self.process.stdout is not None
        return self.process.stdout.read()

    def close(self) -> None:
        self.client.close()
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)
        if self.process.stdout is not None:
            self.process.stdout.close()


def model_file(directory: Path, **spec: Any) -> Path:
    path = directory / f"fake-{len(list(directory.iterdir()))}.json"
    path.write_text(json.dumps(spec))
    return path
