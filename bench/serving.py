"""Serving benchmark: the PodML model server and gateway against Seldon MLServer and bare FastAPI.

    .venv/bin/python bench/serving.py [--quick] [--only linear|forest] [--skip-peers] [--no-wait]

Prints, from one run on this machine (every server pinned to core 0 with `taskset -c 0`, the load
generator `wrk` (one thread) on core 1; `apt-get install wrk`):
  1. a bare ASGI hello endpoint's requests/s at 1 and 16 connections (machine-speed reference);
  2. per model (StandardScaler + LinearRegression on 8 features; RandomForestRegressor, 50 trees,
     depth 8), per server: single-row requests/s and p50/p99 latency at 1 and 16 connections, the
     p50 of a 1,000-row batch (wrk with one connection: a sequential client), and the cold start:
     process launch -> first successful prediction, polled with a real request every 10 ms, the
     median of 3 launches after an untimed first one (which writes the bytecode caches that
     `pip install` would have left in an image, and fills the page cache). Servers:
     `python -m podml.serving` on its ONNX path and on its scikit-learn path (`/predict` and the
     V2 `/v2/models/<name>/infer`), the platform's gateway (`podml serve` with SQLite and built-in
     auth: upload a version, deploy it, `/api/v1/predict/{id}` with a bearer token; its cold start
     is `POST /api/deployments` -> first prediction through the gateway), Seldon MLServer +
     mlserver-sklearn (one process: no parallel workers, no metrics server, no access log) and a
     bare FastAPI + joblib app (`serving_peers/fastapi_app.py`);
  3. the cold start through `podml.executors.local_serving.LocalServing` (`apply_serving` -> first
     prediction, its warm zygote started beforehand) when that module exists;
  4. a verdict against the issue's targets, with MLServer measured in the same run.

The peers live in their own virtualenv, created on the first run with `.tools/bin/uv` in
~/.cache/podml-bench/peers (or $PODML_BENCH_PEERS_VENV) with the project's scikit-learn and joblib
versions, so one joblib file loads everywhere. The ONNX file is compiled the way the version builder
does it (`podml.serving.onnx_model.compile_onnx` with its own synthetic sample); when that does not
verify, the [onnx] row says why, the platform serves the model with scikit-learn, and an [onnx*]
row shows the ONNX path compiled from training-like rows instead. Every server gets
OMP/OpenBLAS/MKL_NUM_THREADS=1 and every answer used for a cold start is checked against
scikit-learn's prediction. On a shared machine each measurement first waits (up to 30 s) for other
processes to quieten and is taken once more if they used over 0.15 cores meanwhile; figures still
disturbed are marked "~".
Whole run: about 8 minutes on a quiet machine; `--quick` about 3.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import metadata
from importlib.util import find_spec
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import joblib
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PEER_APPS = Path(__file__).resolve().parent / "serving_peers"
PEER_VENV = Path(os.environ.get("PODML_BENCH_PEERS_VENV", "~/.cache/podml-bench/peers")).expanduser()
SERVER_CPU, CLIENT_CPU = "0", "1"
THREADS = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
FEATURES = 8
BATCH_ROWS = 1000
START_TIMEOUT = 120.0

# The issue's figures for this machine, and its targets.
ISSUE = {"mlserver": {"linear": (370, 480), "forest": (100, 110)}, "hello": (5500, 7900)}
ISSUE_COLD = {"MLServer": 2.9, "BentoML": 5.4}
TARGET_RATIO, TARGET_P99_MS, TARGET_BATCH_MS, TARGET_COLD_S = 3.0, 2.0, 2.0, 1.0

LUA = """\
wrk.method = "{method}"
{body}
{headers}
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH %d %d %d %d %d %d\\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), e.status, e.connect + e.read + e.write + e.timeout))
end
"""


@dataclass(frozen=True)
class Durations:
    warmup: float  # seconds of load before each measurement, not counted
    measure: float  # seconds per single-row measurement
    batch: float  # seconds of 1,000-row batches
    cold_runs: int  # launches per server for the cold start (median)


FULL = Durations(warmup=2.0, measure=5.0, batch=4.0, cold_runs=3)
QUICK = Durations(warmup=0.5, measure=1.5, batch=1.0, cold_runs=1)


@dataclass
class Model:
    key: str
    title: str
    joblib_path: Path
    onnx_path: Path | None
    onnx_note: str  # "verified (float32)" or why not
    onnx_free_path: Path | None  # when the platform's compile fails: compiled on NaN-free real rows
    row: list[float]
    batch: list[list[float]]
    expected: float  # scikit-learn's prediction for `row`


@dataclass(frozen=True)
class Endpoint:
    """One route under load: where, the single-row and 1,000-row bodies, how to read a prediction."""

    base: str
    path: str
    body: bytes
    batch_body: bytes
    v2: bool = False
    headers: tuple[tuple[str, str], ...] = ()

    def prediction(self, answer: bytes) -> float:
        document = json.loads(answer)
        value = document["outputs"][0]["data"][0] if self.v2 else document["predictions"][0]
        return float(value)


@dataclass(frozen=True)
class Load:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int  # non-2xx answers + socket errors
    background: float = 0.0  # cores used by other processes on the machine meanwhile


@dataclass
class Row:
    label: str
    at1: Load | None = None
    at16: Load | None = None
    batch: Load | None = None
    cold: list[float] = field(default_factory=list)
    first: float | None = None  # the untimed first launch (writes bytecode caches, fills the page cache)
    na: str | None = None

    @property
    def cold_s(self) -> float | None:
        return statistics.median(self.cold) if self.cold else None


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pinned(cpu: str, argv: list[str]) -> list[str]:
    return ["taskset", "-c", cpu, *argv] if PINNING else argv


PINNING = (os.cpu_count() or 1) >= 2


# ---- the two models ---------------------------------------------------------------------------------


def build_models(work: Path, only: str | None) -> list[Model]:
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.linear_model import LinearRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from podml.serving.onnx_model import compile_onnx

    rng = np.random.default_rng(7)
    scale, shift = rng.uniform(0.5, 20, FEATURES), rng.uniform(-50, 50, FEATURES)
    X = rng.normal(size=(10_000, FEATURES)) * scale + shift
    y = (X - shift) / scale @ rng.uniform(-3, 3, FEATURES) + rng.normal(0, 0.1, len(X))
    sample = np.round(rng.normal(size=(BATCH_ROWS + 1, FEATURES)) * scale + shift, 4)
    specs: dict[str, tuple[str, Any]] = {
        "linear": (
            "StandardScaler + LinearRegression, 8 features",
            make_pipeline(StandardScaler(), LinearRegression()),
        ),
        "forest": (
            "RandomForestRegressor, 50 trees, depth 8, 8 features",
            RandomForestRegressor(n_estimators=50, max_depth=8, random_state=0, n_jobs=1),
        ),
    }
    models = []
    for key, (title, estimator) in specs.items():
        if only and key != only:
            continue
        estimator.fit(X, y)
        path = work / f"{key}.joblib"
        joblib.dump(estimator, path)
        report = compile_onnx(path, work / f"{key}.onnx")
        onnx_path: Path | None = work / f"{key}.onnx" if report.ok else None
        onnx_free: Path | None = None
        if report.ok:
            note = f"verified by compile_onnx ({report.numeric_type})"
        else:
            note = f"compile_onnx did not verify it, so the platform serves scikit-learn: {report.reason}"
            # What the ONNX path would give if the builder verified on rows like the training data.
            free = [{f"x{j}": v for j, v in enumerate(r)} for r in X[:256].tolist()]
            if compile_onnx(path, work / f"{key}-nan-free.onnx", sample=free).ok:
                onnx_free = work / f"{key}-nan-free.onnx"
        rows = sample.tolist()
        expected = float(estimator.predict(sample[:1])[0])
        models.append(Model(key, title, path, onnx_path, note, onnx_free, rows[0], rows[1:], expected))
    return models


def instances_body(rows: list[list[float]]) -> bytes:
    return json.dumps({"instances": rows}).encode()


def v2_body(rows: list[list[float]]) -> bytes:
    flat = [v for row in rows for v in row]
    tensor = {"name": "input-0", "shape": [len(rows), len(rows[0])], "datatype": "FP64", "data": flat}
    return json.dumps({"inputs": [tensor]}).encode()


def predict_endpoint(
    base: str, path: str, model: Model, headers: tuple[tuple[str, str], ...] = ()
) -> Endpoint:
    return Endpoint(base, path, instances_body([model.row]), instances_body(model.batch), False, headers)


def infer_endpoint(base: str, name: str, model: Model) -> Endpoint:
    return Endpoint(base, f"/v2/models/{name}/infer", v2_body([model.row]), v2_body(model.batch), True)


# ---- processes ----------------------------------------------------------------------------------------


class Server:
    """A server process pinned to the server core, in its own process group, logging to a file."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_path: Path) -> None:
        self.name, self.argv, self.log_path = name, argv, log_path
        # Bytecode caches are written (PYTHONDONTWRITEBYTECODE dropped), as `pip install` leaves them
        # in an image: cold starts then measure the server, not the compilation of its imports.
        skip = ("PODML_", "MLSERVER_", "PYTHONDONTWRITEBYTECODE")
        base = {k: v for k, v in os.environ.items() if not k.startswith(skip)}
        self.env = {**base, **THREADS, **env}
        self.process: subprocess.Popen[bytes] | None = None
        self.started = 0.0

    def start(self) -> None:
        with self.log_path.open("ab") as out:
            self.started = time.perf_counter()
            self.process = subprocess.Popen(
                pinned(SERVER_CPU, self.argv),
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                cwd=self.log_path.parent,
            )

    def exited(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, sig)
            try:
                process.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
        with contextlib.suppress(ProcessLookupError):  # stragglers of the group (workers)
            os.killpg(process.pid, signal.SIGKILL)

    def tail(self, lines: int = 15) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def request(
    base: str, method: str, path: str, body: bytes | None = None, headers: Any = ()
) -> tuple[int, bytes]:
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10)
    try:
        conn.request(method, path, body=body, headers={"Content-Type": "application/json", **dict(headers)})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def first_prediction(
    endpoint: Endpoint, since: float, alive: Callable[[], str | None]
) -> tuple[float, float]:
    """Poll with a real request every 10 ms; (seconds since `since`, the predicted value)."""
    while True:
        try:
            status, answer = request(endpoint.base, "POST", endpoint.path, endpoint.body, endpoint.headers)
            if status == 200:
                return time.perf_counter() - since, endpoint.prediction(answer)
        except (OSError, http.client.HTTPException):
            pass
        problem = alive()
        if problem is None and time.perf_counter() - since > START_TIMEOUT:
            problem = f"no successful prediction within {START_TIMEOUT:g} s"
        if problem is not None:
            raise RuntimeError(problem)
        time.sleep(0.01)


def check(model: Model, value: float, who: str) -> None:
    if not abs(value - model.expected) <= 1e-3 * (1 + abs(model.expected)):
        raise RuntimeError(f"{who} predicted {value!r}, scikit-learn {model.expected!r}")


def server_alive(server: Server) -> Callable[[], str | None]:
    def alive() -> str | None:
        code = server.exited()
        return None if code is None else f"{server.name} exited with {code}:\n{server.tail()}"

    return alive


@contextlib.contextmanager
def launched(make: Callable[[], Server], endpoint: Endpoint, model: Model, runs: int) -> Iterator[Row]:
    """Launch 1 + `runs` times, timing launch -> first prediction; keep the last one running for load.
    The first launch is not counted (it writes bytecode caches and fills the page cache)."""
    times: list[float] = []
    server: Server | None = None
    try:
        for run in range(runs + 1):
            if run > 0:
                wait_quiet()
            server = make()
            server.start()
            seconds, value = first_prediction(endpoint, server.started, server_alive(server))
            check(model, value, server.name)
            times.append(seconds)
            if run < runs:
                server.stop()
        yield Row("", cold=times[1:], first=times[0])
    finally:
        if server is not None:
            server.stop()


# ---- other processes on the machine -----------------------------------------------------------------
# Other work on a shared machine skews every figure. Before each measurement the bench waits (up to
# QUIET_WAIT seconds) until the rest of the machine uses less than QUIET cores; during it, it counts
# what the rest used: all CPU time (/proc/stat) minus that of the processes pinned to the server
# core (the servers and whatever they fork), of wrk and of this process. Rows measured while the
# rest used more than QUIET cores are marked "~".

CLK_TCK = os.sysconf("SC_CLK_TCK")
QUIET, QUIET_WAIT, ATTEMPTS = 0.15, 30.0, 2
WAITED: list[float] = []
NOTES: list[str] = []  # what went wrong on the platform's side, printed at the end


def _busy_seconds() -> float:
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return (sum(values) - values[3] - values[4]) / CLK_TCK  # all but idle and iowait


def _pinned_seconds() -> dict[int, float]:
    found: dict[int, float] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            if os.sched_getaffinity(int(entry.name)) != {int(SERVER_CPU)}:
                continue
            fields = Path(f"/proc/{entry.name}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        found[int(entry.name)] = (int(fields[11]) + int(fields[12])) / CLK_TCK
    return found


def _own_seconds() -> float:
    usage = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    return sum(u.ru_utime + u.ru_stime for u in usage)


class Meter:
    """Cores used by processes other than ours since the meter was made."""

    def __init__(self) -> None:
        self.wall, self.busy = time.perf_counter(), _busy_seconds()
        self.pinned, self.own = _pinned_seconds(), _own_seconds()

    def background(self) -> float:
        if not PINNING:
            return 0.0
        busy, pinned, own = _busy_seconds(), _pinned_seconds(), _own_seconds()
        ours = sum(v - self.pinned.get(pid, 0.0) for pid, v in pinned.items()) + own - self.own
        return max(0.0, (busy - self.busy - ours) / (time.perf_counter() - self.wall))


def wait_quiet() -> None:
    started = time.perf_counter()
    while PINNING and QUIET_WAIT > 0:
        meter = Meter()
        time.sleep(0.3)
        used = meter.background()
        if used < QUIET:
            break
        if time.perf_counter() - started > QUIET_WAIT:
            log(f"  the machine stays busy ({used:.2f} cores used by other processes); measuring anyway")
            break
    waited = time.perf_counter() - started
    if waited > 1:
        log(f"  waited {waited:.0f} s for other processes to quieten")
    WAITED.append(waited)


# ---- load ---------------------------------------------------------------------------------------------


def lua_string(text: str) -> str:
    level = "=" * 4
    while f"]{level}]" in text:
        level += "="
    return f"[{level}[{text}]{level}]"


def wrk(endpoint: Endpoint | None, url: str, connections: int, seconds: float, batch: bool = False) -> Load:
    """One wrk run (one thread, pinned to the client core); GET `url` when `endpoint` is None."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        if endpoint is None:
            script.write(LUA.format(method="GET", body="", headers=""))
        else:
            body = (endpoint.batch_body if batch else endpoint.body).decode()
            headers = [("Content-Type", "application/json"), *endpoint.headers]
            lines = "\n".join(f"wrk.headers[ {lua_string(k)} ] = {lua_string(v)}" for k, v in headers)
            script.write(LUA.format(method="POST", body=f"wrk.body = {lua_string(body)}", headers=lines))
    try:
        argv = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s"]
        meter = Meter()
        done = subprocess.run(
            pinned(CLIENT_CPU, [*argv, "-s", script.name, url]),
            capture_output=True,
            text=True,
            check=False,
            timeout=seconds + 60,
        )
        background = meter.background()
    finally:
        os.unlink(script.name)
    match = re.search(r"^BENCH (\d+) (\d+) (\d+) (\d+) (\d+) (\d+)$", done.stdout, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {(done.stderr or done.stdout).strip()[-300:]}")
    requests, duration_us, p50, p99, status_errors, socket_errors = map(int, match.groups())
    errors = status_errors + socket_errors
    return Load(requests / (duration_us / 1e6), p50 / 1000, p99 / 1000, requests, errors, background)


def measure(endpoint: Endpoint, row: Row, durations: Durations) -> Row:
    url = endpoint.base + endpoint.path
    log(f"  load: {row.label}")

    def steady(connections: int, warmup: float, seconds: float, batch: bool) -> Load:
        """Warm up and measure; once more when other processes got busy meanwhile (the quieter wins)."""
        best: Load | None = None
        for _ in range(ATTEMPTS):
            wait_quiet()
            wrk(endpoint, url, connections, warmup, batch=batch)
            load = wrk(endpoint, url, connections, seconds, batch=batch)
            if best is None or load.background < best.background:
                best = load
            if load.background <= QUIET:
                break
            log(f"  other processes used {load.background:.2f} cores meanwhile")
        assert best is not None
        return best

    row.at1 = steady(1, durations.warmup, durations.measure, False)
    row.at16 = steady(16, durations.warmup, durations.measure, False)
    row.batch = steady(1, min(durations.warmup, 1.0), durations.batch, True)
    return row


# ---- the servers --------------------------------------------------------------------------------------


def onnx_rows(model: Model, work: Path, durations: Durations) -> list[Row]:
    if model.onnx_path is not None:
        return model_server(model, "onnx", model.onnx_path, work, durations)
    rows = [Row("podml model server [onnx] /predict", na="n/a (compile_onnx did not verify it; see below)")]
    if model.onnx_free_path is not None:
        rows += model_server(model, "onnx*", model.onnx_free_path, work, durations, v2=False)
    return rows


def model_server(
    model: Model, tag: str, onnx: Path | None, work: Path, durations: Durations, v2: bool = True
) -> list[Row]:
    labels = [f"podml model server [{tag}] /predict", f"podml model server [{tag}] V2 infer"]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {"MODEL_PATH": str(model.joblib_path), "MODEL_NAME": model.key, "PORT": str(port)}
    env |= {"HOST": "127.0.0.1", **({"ONNX_PATH": str(onnx)} if onnx else {})}

    def make() -> Server:
        argv = [sys.executable, "-m", "podml.serving"]
        return Server(f"podml model server [{tag}]", argv, env, work / f"podml-{model.key}-{tag[:4]}.log")

    endpoint = predict_endpoint(base, "/predict", model)
    with launched(make, endpoint, model, durations.cold_runs) as row:
        served = json.loads(request(base, "GET", "/ready")[1]).get("serving_path")
        if served != tag.rstrip("*"):
            labels = [label.replace(f"[{tag}]", f"[{tag}->{served}]") for label in labels]
        row.label = labels[0]
        rows = [measure(endpoint, row, durations)]
        if v2:
            rows.append(measure(infer_endpoint(base, model.key, model), Row(labels[1]), durations))
    return rows


def mlserver(model: Model, work: Path, durations: Durations) -> Row:
    label = f"MLServer {peer_version('mlserver')} V2 infer"
    folder = work / f"mlserver-{model.key}"
    (folder / model.key).mkdir(parents=True, exist_ok=True)
    port = free_port()
    settings = {
        "debug": False,  # True (the default) turns on uvicorn's access log
        "parallel_workers": 0,  # inference in the server process, like ours
        "metrics_endpoint": None,  # no separate metrics server
        "host": "127.0.0.1",
        "http_port": port,
        "grpc_port": free_port(),
        "metrics_port": free_port(),
    }
    (folder / "settings.json").write_text(json.dumps(settings))
    model_settings = {
        "name": model.key,
        "implementation": "mlserver_sklearn.SKLearnModel",
        "parameters": {"uri": str(model.joblib_path)},
    }
    (folder / model.key / "model-settings.json").write_text(json.dumps(model_settings))

    def make() -> Server:
        argv = [str(PEER_VENV / "bin" / "mlserver"), "start", str(folder)]
        return Server("MLServer", argv, {}, work / f"mlserver-{model.key}.log")

    endpoint = infer_endpoint(f"http://127.0.0.1:{port}", model.key, model)
    with launched(make, endpoint, model, durations.cold_runs) as row:
        row.label = label
        return measure(endpoint, row, durations)


def fastapi_app(model: Model, work: Path, durations: Durations) -> Row:
    port = free_port()
    argv = [str(PEER_VENV / "bin" / "python"), "-m", "uvicorn", "fastapi_app:app"]
    argv += ["--app-dir", str(PEER_APPS), "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    argv += ["--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning"]

    def make() -> Server:
        return Server("FastAPI + joblib", argv, {"MODEL_PATH": str(model.joblib_path)}, work / "fastapi.log")

    endpoint = predict_endpoint(f"http://127.0.0.1:{port}", "/predict", model)
    with launched(make, endpoint, model, durations.cold_runs) as row:
        row.label = "FastAPI + joblib /predict"
        return measure(endpoint, row, durations)


def hello(work: Path, durations: Durations) -> tuple[Load, Load]:
    port = free_port()
    argv = [sys.executable, "-m", "uvicorn", "hello:app", "--app-dir", str(PEER_APPS), "--lifespan", "off"]
    argv += ["--host", "127.0.0.1", "--port", str(port), "--loop", "uvloop", "--http", "httptools"]
    argv += ["--no-access-log", "--log-level", "warning"]
    server = Server("hello", argv, {}, work / "hello.log")
    server.start()
    url = f"http://127.0.0.1:{port}/"
    try:
        while True:
            with contextlib.suppress(OSError, http.client.HTTPException):
                if request(url, "GET", "/")[0] == 200:
                    break
            if server.exited() is not None or time.perf_counter() - server.started > 30:
                raise RuntimeError(f"the hello server did not start:\n{server.tail()}")
            time.sleep(0.01)
        loads = []
        for connections in (1, 16):
            wait_quiet()
            wrk(None, url, connections, durations.warmup)
            loads.append(wrk(None, url, connections, durations.measure))
        return loads[0], loads[1]
    finally:
        server.stop()


# ---- the gateway --------------------------------------------------------------------------------------


class Platform:
    """A real `podml serve` (SQLite, local storage, built-in auth) pinned to the server core."""

    def __init__(self, work: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        data = work / "platform"
        data.mkdir(parents=True, exist_ok=True)
        env = {
            "PODML_DATA_DIR": str(data),
            "PODML_HOST": "127.0.0.1",
            "PODML_PORT": str(self.port),
            "PODML_RECONCILE_BUSY_INTERVAL_SECONDS": "0.05",
            "PODML_RECONCILE_INTERVAL_SECONDS": "1",
        }
        argv = [sys.executable, "-m", "podml", "serve"]  # what .venv/bin/podml runs
        self.server = Server("podml serve", argv, env, data / "serve.log")
        self.http = httpx.Client(base_url=self.url, timeout=60)

    def __enter__(self) -> Platform:
        self.server.start()
        while True:
            with contextlib.suppress(httpx.TransportError):
                if self.http.get("/healthz", timeout=1).status_code == 200:
                    break
            if self.server.exited() is not None or time.perf_counter() - self.server.started > 60:
                log(f"podml serve's log:\n{self.server.tail(40)}")
                last = self.server.tail(1).strip(" │╰─╯")
                raise RuntimeError(f"podml serve did not become healthy: {last}")
            time.sleep(0.05)
        credentials = {"email": "bench@example.com", "password": "bench-password"}
        self.http.post("/api/auth/register", json=credentials)
        token = self.http.post("/api/auth/login", json=credentials)
        token.raise_for_status()
        self.token = token.json()["access_token"]
        self.http.headers["Authorization"] = f"Bearer {self.token}"
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()
        self.server.stop()

    def has_deployments(self) -> bool:
        paths = self.http.get("/openapi.json").json().get("paths", {})
        return "/api/deployments" in paths

    def version(self, model: Model) -> dict[str, Any]:
        created = self.http.post("/api/models", json={"name": f"bench-{model.key}", "framework": "sklearn"})
        created.raise_for_status()
        with model.joblib_path.open("rb") as handle:
            upload = self.http.post(
                f"/api/models/{created.json()['id']}/versions",
                files={"model": ("model.joblib", handle, "application/octet-stream")},
            )
        upload.raise_for_status()
        version: dict[str, Any] = upload.json()
        deadline = time.monotonic() + START_TIMEOUT
        while version["status"] == "building" and time.monotonic() < deadline:
            time.sleep(0.1)
            version = self.http.get(f"/api/model-versions/{version['id']}").json()
        if version["status"] != "ready":
            raise RuntimeError(f"version {version['status']}: {version.get('error')}")
        return version

    def deploy(self, version_id: str, model: Model) -> tuple[str | None, float]:
        """POST /api/deployments, then poll the gateway with a real request every 10 ms: (the
        deployment's id, seconds from the POST to the first prediction); id None when the API
        has no deployments (404/405)."""
        body = {"version_id": version_id, "replicas": 1, "min_replicas": 1, "max_replicas": 1}
        started = time.perf_counter()
        created = self.http.post("/api/deployments", json=body)
        if created.status_code in (404, 405):
            return None, 0.0
        created.raise_for_status()
        deployment_id: str = created.json()["id"]

        def alive() -> str | None:
            if self.server.exited() is not None:
                return f"podml serve exited:\n{self.server.tail()}"
            if time.perf_counter() - started > 2:  # a failed deployment says so; ask now and then
                status = self.status(deployment_id)
                if status.get("status") == "failed":
                    return f"the deployment failed: {status.get('reason')}"
            return None

        seconds, value = first_prediction(self.endpoint(deployment_id, model), started, alive)
        check(model, value, "the gateway")
        return deployment_id, seconds

    def endpoint(self, deployment_id: str, model: Model) -> Endpoint:
        auth = (("Authorization", f"Bearer {self.token}"),)
        return predict_endpoint(self.url, f"/api/v1/predict/{deployment_id}", model, auth)

    def status(self, deployment_id: str) -> dict[str, Any]:
        answer: dict[str, Any] = self.http.get(f"/api/deployments/{deployment_id}").json()
        return answer

    def undeploy(self, deployment_id: str) -> None:
        """DELETE, then wait (up to 30 s) until it is gone."""
        answer = self.http.delete(f"/api/deployments/{deployment_id}")
        if answer.status_code not in (204, 404):
            raise RuntimeError(f"DELETE /api/deployments/{deployment_id}: {answer.status_code} {answer.text}")
        deadline = time.monotonic() + 30
        while (status := self.http.get(f"/api/deployments/{deployment_id}")).status_code != 404:
            if time.monotonic() > deadline:
                state = status.json().get("status") if status.status_code == 200 else status.status_code
                NOTES.append(
                    f"DELETE /api/deployments/{deployment_id} answered 204, yet GET still says {state!r} 30 s"
                    " later (its replica keeps running, idle, on the server core)"
                )
                log(f"  {NOTES[-1]}")
                return
            time.sleep(0.1)


def gateway(model: Model, work: Path, durations: Durations) -> Row:
    """Deploy 1 + cold_runs times (the first not counted), keep the last deployment for load."""
    with Platform(work / f"gateway-{model.key}") as platform_:
        if not platform_.has_deployments():
            return Row("podml gateway", na="n/a (gateway not available in this checkout)")
        version = platform_.version(model)
        label = f"podml gateway [{version.get('serving_path')}] /api/v1/predict"
        times: list[float] = []
        deployment_id: str | None = None
        for run in range(durations.cold_runs + 1):
            if deployment_id is not None:
                platform_.undeploy(deployment_id)
            if run > 0:
                wait_quiet()
            deployment_id, seconds = platform_.deploy(version["id"], model)
            if deployment_id is None:
                return Row(label, na="n/a (gateway not available in this checkout)")
            times.append(seconds)
        assert deployment_id is not None
        deadline = time.monotonic() + 60
        while platform_.status(deployment_id).get("status") != "ready" and time.monotonic() < deadline:
            time.sleep(0.1)
        row = Row(label, cold=times[1:], first=times[0])
        measure(platform_.endpoint(deployment_id, model), row, durations)
        with contextlib.suppress(httpx.HTTPError, RuntimeError):
            platform_.undeploy(deployment_id)
        return row


def local_serving(model: Model, work: Path, durations: Durations) -> str:
    if find_spec("podml.executors.local_serving") is None:
        return "n/a (podml.executors.local_serving is not in this checkout)"
    env = {"MODEL_PATH": str(model.joblib_path), "MODEL_NAME": model.key, **THREADS}
    if model.onnx_path is not None:
        env["ONNX_PATH"] = str(model.onnx_path)
    spec = {"env": env, "body": instances_body([model.row]).decode(), "runs": durations.cold_runs + 1}
    argv = [
        sys.executable,
        str(PEER_APPS / "local_serving_probe.py"),
        str(work / "local-serving"),
        json.dumps(spec),
    ]
    done = subprocess.run(
        pinned(SERVER_CPU, argv), capture_output=True, text=True, check=False, timeout=300, cwd=work
    )
    try:
        result = json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return f"n/a (the probe failed: {done.stderr.strip()[-300:]})"
    if "error" in result:
        return f"n/a ({result['error'][:300]})"
    first, *runs = result["runs"]
    shown = ", ".join(f"{r:.2f}" for r in runs)
    median = statistics.median(runs)
    ok = "OK" if median <= TARGET_COLD_S else "MISSED"
    return (
        f"{median:.2f} s [{result.get('serving_path')}] {ok} (runs {shown}; first {first:.2f};"
        f" starting the warm zygote before: {result['prepare']:.2f} s, not counted)"
    )


# ---- the peers' virtualenv ------------------------------------------------------------------------------


def peer_requirements() -> list[str]:
    return [
        "--compile-bytecode",  # cold starts should not pay for writing .pyc files
        "mlserver",
        "mlserver-sklearn",
        f"scikit-learn=={metadata.version('scikit-learn')}",
        f"joblib=={metadata.version('joblib')}",
        "fastapi",
        "uvicorn",
        "uvloop",
        "httptools",
    ]


def ensure_peers() -> None:
    marker = PEER_VENV / ".podml-bench"
    wanted = "\n".join(peer_requirements())
    if marker.exists() and marker.read_text() == wanted:
        return
    uv = ROOT / ".tools" / "bin" / "uv"
    uv_command = str(uv) if uv.exists() else shutil.which("uv")
    if uv_command is None:
        raise RuntimeError("uv not found: run `make install` (it puts uv in .tools/bin)")
    log(f"creating the peers' virtualenv in {PEER_VENV}")
    if not (PEER_VENV / "bin" / "python").exists():
        subprocess.run([uv_command, "venv", "--python", sys.executable, str(PEER_VENV)], check=True)
    python = str(PEER_VENV / "bin" / "python")
    subprocess.run([uv_command, "pip", "install", "--python", python, *peer_requirements()], check=True)
    marker.write_text(wanted)


def peer_version(package: str) -> str:
    found = list(PEER_VENV.glob(f"lib/python*/site-packages/{package.replace('-', '_')}-*.dist-info"))
    return found[0].name.removesuffix(".dist-info").rsplit("-", 1)[1] if found else "?"


# ---- report -----------------------------------------------------------------------------------------------


def fmt_rps(load: Load | None) -> str:
    if load is None:
        return "-"
    return f"{load.rps:,.0f}" + ("!" if load.errors else "") + ("~" if load.background > QUIET else "")


def fmt_lat(load: Load | None) -> str:
    return "-" if load is None else f"{load.p50_ms:.2f} / {load.p99_ms:.2f}"


def print_table(model: Model, rows: list[Row]) -> None:
    print(f"\n{model.key}: {model.title}")
    print(
        f"{'':<42}{'---- 1 connection ----':>25}{'---- 16 connections ----':>27}{'1,000 rows':>11}{'cold':>8}"
    )
    header = f"{'server':<42}{'req/s':>8}{'p50 / p99 ms':>17}{'req/s':>8}{'p50 / p99 ms':>19}"
    print(f"{header}{'p50 ms':>11}{'start s':>8}")
    for row in rows:
        if row.na is not None:
            print(f"{row.label:<46}  {row.na}")
            continue
        cold = "" if row.cold_s is None else f"{row.cold_s:.2f}"
        batch = "-" if row.batch is None else f"{row.batch.p50_ms:.2f}"
        if row.batch is not None and row.batch.background > QUIET:
            batch += "~"
        print(
            f"{row.label:<42}{fmt_rps(row.at1):>8}{fmt_lat(row.at1):>17}{fmt_rps(row.at16):>8}"
            f"{fmt_lat(row.at16):>19}{batch:>11}{cold:>8}"
        )
    loads = [load for row in rows for load in (row.at1, row.at16, row.batch) if load]
    if any(load.errors for load in loads):
        print("  ! = some answers were errors (non-2xx or socket errors); see the logs")
    busy = [load.background for load in loads if load.background > QUIET]
    if busy:
        print(f"  ~ = other processes used {min(busy):.2f}-{max(busy):.2f} cores meanwhile: low figures")
    print(f"  ONNX: {model.onnx_note}")
    if model.onnx_free_path is not None:
        print("  [onnx*] = compiled by compile_onnx from 256 training-like rows without missing values")
        print("            (not what the builder does today: it verifies on synthetic rows with NaN)")


def find(rows: list[Row], prefix: str) -> Row | None:
    for row in rows:
        if row.label.startswith(prefix) and row.na is None and row.at16 is not None:
            return row
    return None


def verdict(models: list[Model], results: dict[str, list[Row]], cold_notes: dict[str, str]) -> None:
    print("\nTargets (MLServer measured in this run)")

    def line(what: str, value: str, target: str, ok: bool | None) -> None:
        mark = "n/a" if ok is None else ("OK" if ok else "MISSED")
        print(f"  {what:<56}{value:>30}   {target:<12}{mark}")

    for model in models:
        rows = results[model.key]
        peer = find(rows, "MLServer")
        path = "onnx" if model.onnx_path else "sklearn"
        ours = [
            (f"model server [{path}]", find(rows, f"podml model server [{path}] /predict")),
            ("gateway", find(rows, "podml gateway")),
        ]
        extra = find(rows, "podml model server [onnx*]")
        for name, row in [*ours, *([("model server [onnx*]", extra)] if extra else [])]:
            what = f"{model.key}: single-row req/s @16, {name} / MLServer"
            target = f">= {TARGET_RATIO:g}x" if row is None or row is not extra else "(info)"
            if row is None or peer is None or row.at16 is None or peer.at16 is None:
                line(what, "n/a", target, None)
                continue
            ratio = row.at16.rps / peer.at16.rps
            shown = f"{row.at16.rps:,.0f} / {peer.at16.rps:,.0f} = {ratio:.1f}x"
            line(what, shown, target, ratio >= TARGET_RATIO if row is not extra else None)
        if model.key != "linear":
            continue
        for name, row in ours:
            p99 = None if row is None or row.at1 is None else row.at1.p99_ms
            value = "n/a" if p99 is None else f"{p99:.2f} ms"
            ok = None if p99 is None else p99 <= TARGET_P99_MS
            line(f"linear: p99 @1 connection, {name}", value, f"<= {TARGET_P99_MS:g} ms", ok)
            batch = None if row is None or row.batch is None else row.batch.p50_ms
            value = "n/a" if batch is None else f"{batch:.2f} ms"
            ok = None if batch is None else batch <= TARGET_BATCH_MS
            line(f"linear: 1,000-row batch p50, {name}", value, f"<= {TARGET_BATCH_MS:g} ms", ok)
    for model in models:
        for row in results[model.key]:
            cold = row.cold_s
            if cold is None:
                continue
            server = row.label.split(" /")[0].split(" V2")[0]
            runs = ", ".join(f"{c:.2f}" for c in row.cold)
            first = "" if row.first is None else f"first {row.first:.2f}; "
            shown = f"({first}{runs}) {cold:.2f} s"
            if row.label.startswith("podml"):
                line(
                    f"{model.key}: cold start, {server}",
                    shown,
                    f"<= {TARGET_COLD_S:g} s",
                    cold <= TARGET_COLD_S,
                )
            else:
                line(f"{model.key}: cold start, {server}", shown, "(peer)", None)
        note = cold_notes[model.key]
        print(f"  {model.key}: cold start, LocalServing apply_serving -> first prediction: {note}")
    issue = ", ".join(f"{k} ≈ {v:g} s" for k, v in ISSUE_COLD.items())
    print(
        f"  (cold start: the median of the timed launches, after an untimed first one; the issue's: {issue}."
    )
    print("   The gateway's is POST /api/deployments -> first prediction through it.)")


def machine() -> str:
    cpu = "?"
    with contextlib.suppress(OSError):
        for text in Path("/proc/cpuinfo").read_text().splitlines():
            if text.startswith("model name"):
                cpu = text.split(":", 1)[1].strip()
                break
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


def versions(skip_peers: bool) -> str:
    ours = [f"{p} {metadata.version(p)}" for p in ("scikit-learn", "onnxruntime", "uvicorn")]
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False).stdout.split()
    ours.append(f"wrk {wrk_version[1] if len(wrk_version) > 1 else '?'}")
    if not skip_peers:
        ours += [f"peers: mlserver {peer_version('mlserver')}", f"fastapi {peer_version('fastapi')}"]
    return ", ".join(ours)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="short measurements: a smoke run")
    parser.add_argument("--only", choices=["linear", "forest"], help="one model only")
    parser.add_argument("--skip-peers", action="store_true", help="no MLServer, no FastAPI")
    parser.add_argument(
        "--no-wait", action="store_true", help="neither wait for other processes to quieten nor measure again"
    )
    args = parser.parse_args()
    if args.no_wait:
        global QUIET_WAIT, ATTEMPTS
        QUIET_WAIT, ATTEMPTS = 0.0, 1
    durations = QUICK if args.quick else FULL
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install -y wrk")
    if PINNING:
        os.sched_setaffinity(0, {int(CLIENT_CPU)})  # this process polls and parses on the client core
    began = time.perf_counter()
    if not args.skip_peers:
        ensure_peers()
    with tempfile.TemporaryDirectory(prefix="podml-bench-serving-") as tmp:
        work = Path(tmp)
        log("fitting the models and compiling ONNX")
        models = build_models(work, args.only)
        log("bare ASGI hello")
        hello1, hello16 = hello(work, durations)
        print(f"\nPodML serving benchmark ({machine()})")
        print(versions(args.skip_peers))
        pin = (
            f"servers on core {SERVER_CPU}, wrk (1 thread) on core {CLIENT_CPU}" if PINNING else "no pinning"
        )
        print(f"{pin}; {durations.measure:g} s per measurement after {durations.warmup:g} s of warm-up")
        ref = ISSUE["hello"]
        print(
            f"bare ASGI hello (uvicorn + uvloop + httptools): {fmt_rps(hello1)} req/s @1, "
            f"{fmt_rps(hello16)} req/s @16 (issue: ≈ {ref[0]:,} / ≈ {ref[1]:,})"
        )
        results: dict[str, list[Row]] = {}
        cold_notes: dict[str, str] = {}
        jobs: list[tuple[str, Callable[[Model], list[Row]]]] = [
            ("podml model server [onnx]", lambda m: onnx_rows(m, work, durations)),
            ("podml model server [sklearn]", lambda m: model_server(m, "sklearn", None, work, durations)),
            ("podml gateway", lambda m: [gateway(m, work, durations)]),
        ]
        if not args.skip_peers:
            jobs += [
                ("MLServer", lambda m: [mlserver(m, work, durations)]),
                ("FastAPI + joblib", lambda m: [fastapi_app(m, work, durations)]),
            ]
        for model in models:
            rows: list[Row] = []
            for name, job in jobs:
                log(f"{model.key}: {name}")
                try:
                    rows += job(model)
                except Exception as exc:
                    reason = " ".join(str(exc).split())[:300]
                    log(f"{model.key}: {name} failed: {exc}")
                    rows.append(Row(name, na=f"n/a (failed: {reason})"))
            log(f"{model.key}: LocalServing")
            wait_quiet()
            try:
                cold_notes[model.key] = local_serving(model, work, durations)
            except Exception as exc:
                cold_notes[model.key] = f"n/a (failed: {exc})"
            results[model.key] = rows
            print_table(model, rows)
            if not args.skip_peers:
                issue = ISSUE["mlserver"][model.key]
                print(f"  (the issue's MLServer figures for this model: ≈ {issue[0]} @1, ≈ {issue[1]} @16)")
        verdict(models, results, cold_notes)
        for note in NOTES:
            print(f"note: {note}")
        elapsed, waited = time.perf_counter() - began, sum(WAITED)
        print(f"\nwhole run: {elapsed:.0f} s, of which {waited:.0f} s waiting for other processes to quieten")


if __name__ == "__main__":
    main()
