"""LocalServing with real model-server processes and real HTTP on loopback.

One executor (and so one warm zygote) serves the module; each test makes its own deployments. Small
periods keep the file fast: probes every 0.2 s, a 0.5 s drain, a 2 s scale-down window. Timings are
printed (run with -s to see them), never asserted.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

import httpx
import joblib
import numpy as np
import pytest
from sklearn.linear_model import LinearRegression

from podml.executors.base import ReplicaPhase, ServingObservation, ServingSpec
from podml.executors.local import process_start_time
from podml.executors.local_serving import LocalServing
from podml.resources import Resources
from tests.serving.fakes import model_file
from tests.trainer.storage_server import SIGNATURE, StorageServer, start

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parents[2]
ROW = [1.0, 2.0, 3.0]
T = TypeVar("T")
# What a gateway retries once on another endpoint: the request never reached a model.
CONNECTION_ERRORS = (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)


# ---- fixtures and helpers -------------------------------------------------------------------------


@dataclass(frozen=True)
class Models:
    a: str  # signed URL of model A: y = x0 + x1 + x2
    b: str  # signed URL of model B: y = 2 (x0 + x1 + x2) + 100
    a_bytes: bytes


@pytest.fixture(scope="module")
def storage() -> Iterator[StorageServer]:
    state, server = start()
    yield state
    server.shutdown()
    server.server_close()


def _linear(weight: float, bias: float) -> bytes:
    x = np.random.default_rng(0).normal(size=(50, 3))
    model = LinearRegression().fit(x, x.sum(axis=1) * weight + bias)
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def models(storage: StorageServer) -> Models:
    a = _linear(1.0, 0.0)
    return Models(storage.add(a, "model.joblib"), storage.add(_linear(2.0, 100.0), "model.joblib"), a)


@pytest.fixture(scope="module")
async def serving(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalServing]:
    executor = LocalServing(
        tmp_path_factory.mktemp("executions"),
        probe_period=0.2,
        probe_timeout=0.5,
        scale_down_delay=2.0,
        drain_seconds=0.5,
        backoff_initial=0.3,
        backoff_max=2.0,
    )
    started = time.perf_counter()
    await executor.prepare()
    print(f"\nwarm serving zygote ready in {time.perf_counter() - started:.2f} s")
    yield executor
    await executor.close()


def make_spec(env: dict[str, str], *, replicas: int = 1, **changes: Any) -> ServingSpec:
    spec = ServingSpec(
        deployment_id=uuid.uuid4(),
        owner_sub="owner-1",
        revision=1,
        version_id=uuid.uuid4(),
        env={"MODEL_NAME": "m", **env},
        resources=Resources(),
        replicas=replicas,
        min_replicas=replicas,
        max_replicas=replicas,
    )
    return replace(spec, **changes)


def fake_env(directory: Path, **model: Any) -> dict[str, str]:
    """A fake model of `tests.serving.fakes` (a sum of features a, b, c unless told otherwise)."""
    directory.mkdir(parents=True, exist_ok=True)
    return {
        "MODEL_LOADER": "tests.serving.fakes:load",
        "MODEL_PATH": str(model_file(directory, **model)),
        "PYTHONPATH": str(ROOT),
    }


async def until(check: Callable[[], Awaitable[T | None]], what: str, timeout: float = 30) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        await asyncio.sleep(0.05)


async def ready(serving: LocalServing, spec: ServingSpec, count: int | None = None) -> ServingObservation:
    """The observation once `count` (default: spec.replicas) replicas of the spec's revision serve."""
    wanted = spec.replicas if count is None else count

    async def check() -> ServingObservation | None:
        seen = await serving.observe_serving(spec.deployment_id)
        serving_now = seen.revision == spec.revision and seen.ready_replicas == wanted
        return seen if serving_now and len(serving.endpoints(spec.deployment_id)) == wanted else None

    return await until(check, f"{wanted} ready replicas of revision {spec.revision}")


def predict(url: str, row: list[float] = ROW) -> Any:
    response = httpx.post(f"{url}/predict", json={"instances": [row]}, timeout=10)
    assert response.status_code == 200, response.text
    return round(response.json()["predictions"][0], 6)


def alive(pid: int) -> bool:
    return process_start_time(pid) is not None


@dataclass
class Load:
    """Clients that behave like the gateway: each request goes to a random endpoint of the moment,
    and a connection error is retried once on another endpoint. Every other outcome is final."""

    serving: LocalServing
    deployment_id: uuid.UUID
    clients: int = 4
    answers: list[tuple[float, Any]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    retried: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def __enter__(self) -> Load:
        for _ in range(self.clients):
            thread = threading.Thread(target=self._run, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(15)

    def _run(self) -> None:
        with httpx.Client(timeout=10) as client:
            while not self._stop.is_set():
                self._one(client)

    def _one(self, client: httpx.Client) -> None:
        tried: list[str] = []
        for _ in range(2):
            endpoints = self.serving.endpoints(self.deployment_id)
            others = [e for e in endpoints if e not in tried] or endpoints
            if not others:
                self.failures.append("no endpoint")
                time.sleep(0.01)  # what the gateway answers at once: 503
                return
            url = random.choice(others)
            try:
                response = client.post(f"{url}/predict", json={"instances": [ROW]})
            except CONNECTION_ERRORS as exc:
                tried.append(url)
                error = f"{url}: {type(exc).__name__}: {exc}"
                continue
            if response.status_code != 200:
                self.failures.append(f"{url}: HTTP {response.status_code} {response.text}")
            else:
                self.answers.append((time.monotonic(), round(response.json()["predictions"][0], 6)))
            if tried:
                self.retried += 1
            return
        self.failures.append(error)


# ---- tests ----------------------------------------------------------------------------------------


async def test_a_replica_serves_its_model_and_starts_warm(
    serving: LocalServing, models: Models, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    spec = make_spec({"MODEL_URL": models.a})
    started = time.perf_counter()
    await serving.apply_serving(spec)
    first = await until(
        lambda: asyncio.to_thread(_first_answer, serving, spec.deployment_id), "a first prediction"
    )
    print(f"\nwarm start, launch -> first /predict (scikit-learn linear model): {first - started:.3f} s")

    seen = await ready(serving, spec)
    assert seen.exists
    assert seen.failure is None
    assert seen.desired_replicas == 1
    (replica,) = seen.replicas
    assert replica.phase == ReplicaPhase.READY
    assert replica.restarts == 0
    assert replica.pid is not None
    assert alive(replica.pid)
    assert serving.endpoints(spec.deployment_id) == [replica.url]
    assert replica.url is not None
    assert predict(replica.url) == 6.0
    folder = serving.root / str(spec.deployment_id)
    log = (folder / "replica-1.log").read_text()
    assert "downloaded the model" in log
    published = json.loads((folder / "endpoints.json").read_text())
    assert published["endpoints"] == [replica.url]
    secret = SIGNATURE.split("=")[1].split("&")[0]
    for path in serving.root.rglob("*"):
        if path.is_file() and path.suffix in (".log", ".json"):
            assert secret not in path.read_text(errors="replace"), path
    assert secret not in caplog.text
    await serving.delete_serving(spec.deployment_id)


def _first_answer(serving: LocalServing, deployment_id: uuid.UUID) -> float | None:
    for url in serving.endpoints(deployment_id):
        try:
            if httpx.post(f"{url}/predict", json={"instances": [ROW]}, timeout=5).status_code == 200:
                return time.perf_counter()
        except httpx.TransportError:
            pass
    return None


ENV_LOADER = """
import json, os
from pathlib import Path
from threadpoolctl import threadpool_info
from tests.serving.fakes import SumModel

def load(path, *, name, prefer_onnx=True, onnx_path=None):
    threads = {f'{i["internal_api"]}:{i["filepath"]}': i["num_threads"] for i in threadpool_info()}
    seen = {"env": dict(os.environ), "cwd": os.getcwd(), "threads": threads}
    (Path(os.environ["HOME"]) / "seen.json").write_text(json.dumps(seen))
    return SumModel(name)
"""


async def test_replicas_get_a_pods_environment_warm_or_cold(
    serving: LocalServing, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "podml_env_loader.py").write_text(ENV_LOADER)
    monkeypatch.setenv("PODML_SECRET_KEY", "the-platform-secret")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "the-platform-credential")
    env = fake_env(tmp_path / "m")
    env.update({"MODEL_LOADER": "podml_env_loader:load", "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}"})
    # An interpreter on which the zygote cannot start (say, a broken library): replicas start cold.
    python = tmp_path / "python"
    python.write_text(
        f'#!/bin/sh\ncase "$*" in *podml.serving.zygote*) exit 3;; esac\nexec {sys.executable} "$@"\n'
    )
    python.chmod(0o755)
    cold = LocalServing(tmp_path / "executions", python=str(python), probe_period=0.2, drain_seconds=0.2)
    await cold.prepare()
    assert "warm serving unavailable" in caplog.text
    try:
        for executor, kind in ((serving, "warm"), (cold, "cold")):
            spec = make_spec(env, resources=Resources(cpu_limit="2"))
            started = time.perf_counter()
            await executor.apply_serving(spec)
            (replica,) = (await ready(executor, spec)).replicas
            print(f"\n{kind} start of a fake model, launch -> ready: {time.perf_counter() - started:.3f} s")
            home = executor.root / str(spec.deployment_id) / "replica-1"
            seen = json.loads((home / "seen.json").read_text())
            child = seen["env"]
            assert child["HOME"] == str(home)
            assert child["TMPDIR"] == str(home / "tmp")
            assert seen["cwd"] == str(home)
            assert child["OMP_NUM_THREADS"] == "2"
            assert child["SHUTDOWN_DRAIN_SECONDS"] == f"{executor.drain_seconds:g}"
            assert child["HOST"] == "127.0.0.1"
            assert replica.url == f"http://127.0.0.1:{child['PORT']}"
            assert child["MODEL_PATH"] == env["MODEL_PATH"]
            assert not [name for name in child if name.startswith(("PODML_", "AWS_"))]
            assert "the-platform-secret" not in json.dumps(seen)
            # BLAS pools are sized for the CPU limit (OpenMP's, in a warm replica, only on its main thread).
            assert all(n == 2 for name, n in seen["threads"].items() if name.startswith("openblas"))
            assert replica.url is not None
            assert predict(replica.url) == 6.0
            assert replica.pid is not None
            pid = replica.pid
        await cold.close()
        assert not alive(pid), "close() leaves no replica behind"
    finally:
        await cold.close()


async def test_same_revision_refreshes_the_spec_and_a_killed_replica_restarts(
    serving: LocalServing, storage: StorageServer, models: Models
) -> None:
    spec = make_spec({"MODEL_URL": models.a})
    await serving.apply_serving(spec)
    (before,) = (await ready(serving, spec)).replicas
    fresh_url = storage.add(models.a_bytes, "model.joblib")  # a new signed URL of the same model
    await serving.apply_serving(replace(spec, env={**spec.env, "MODEL_URL": fresh_url}))
    await asyncio.sleep(0.5)
    (same,) = (await serving.observe_serving(spec.deployment_id)).replicas
    assert (same.pid, same.restarts, same.phase) == (before.pid, 0, ReplicaPhase.READY)
    assert storage.count("GET", fresh_url) == 0

    assert before.pid is not None
    killed = time.perf_counter()
    os.kill(before.pid, signal.SIGKILL)
    await until(
        lambda: asyncio.sleep(0, before.url not in serving.endpoints(spec.deployment_id)),
        "the killed replica leaving the endpoints",
    )
    print(f"\nSIGKILL noticed and out of the endpoints after {time.perf_counter() - killed:.3f} s")
    seen = await serving.observe_serving(spec.deployment_id)
    assert seen.replicas[0].reason == "killed by signal 9 (SIGKILL)"
    seen = await ready(serving, spec)
    print(f"back in service after {time.perf_counter() - killed:.3f} s (back-off 0.3 s)")
    (after,) = seen.replicas
    assert after.restarts == 1
    assert after.pid != before.pid
    assert after.reason == "killed by signal 9 (SIGKILL)"  # the last failure, as Kubernetes keeps it
    assert storage.count("GET", fresh_url) == 1  # the restart used the refreshed URL
    assert after.url is not None
    assert predict(after.url) == 6.0
    await serving.delete_serving(spec.deployment_id)


async def test_a_rolling_update_and_a_scale_down_lose_no_request(
    serving: LocalServing, models: Models
) -> None:
    spec = make_spec({"MODEL_URL": models.a}, replicas=2)
    await serving.apply_serving(spec)
    old = (await ready(serving, spec)).replicas
    with Load(serving, spec.deployment_id) as load:
        await asyncio.sleep(0.5)
        switched = time.perf_counter()
        new_spec = replace(spec, revision=2, version_id=uuid.uuid4(), env={**spec.env, "MODEL_URL": models.b})
        await serving.apply_serving(new_spec)
        during = await serving.observe_serving(spec.deployment_id)
        assert during.revision == 1  # the old replicas serve while the new ones start
        await ready(serving, new_spec)
        print(f"\nrevision 2 took the traffic {time.perf_counter() - switched:.3f} s after the apply")
        await until(
            lambda: asyncio.sleep(0, not any(r.pid is not None and alive(r.pid) for r in old)),
            "the old replicas to drain and stop",
        )
        moved = time.monotonic()
        await asyncio.sleep(0.3)
        one = replace(new_spec, replicas=1, min_replicas=1, max_replicas=1)  # scale down, same revision
        await serving.apply_serving(one)
        await ready(serving, one)

        async def stopped() -> bool:
            return len((await serving.observe_serving(spec.deployment_id)).replicas) == 1

        await until(stopped, "the extra replica to drain and stop")
        await asyncio.sleep(0.3)
    print(f"{len(load.answers)} answers, {load.retried} retried after a connection error")
    assert load.failures == []
    values = {value for _, value in load.answers}
    assert values == {6.0, 112.0}
    assert {value for at, value in load.answers if at > moved} == {112.0}
    seen = await serving.observe_serving(spec.deployment_id)
    assert [(r.revision, r.phase) for r in seen.replicas] == [(2, ReplicaPhase.READY)]
    for url in serving.endpoints(spec.deployment_id):
        assert predict(url) == 112.0
    await serving.delete_serving(spec.deployment_id)


async def test_autoscaling_follows_the_requests_in_flight(serving: LocalServing, tmp_path: Path) -> None:
    env = fake_env(tmp_path, model="slow", delay=0.05)
    spec = make_spec(env, replicas=1, min_replicas=1, max_replicas=3, target_concurrency=1.0)
    await serving.apply_serving(spec)
    await ready(serving, spec)
    started = time.perf_counter()
    with Load(serving, spec.deployment_id, clients=6) as load:

        async def scaled_up() -> ServingObservation | None:
            seen = await serving.observe_serving(spec.deployment_id)
            return seen if seen.desired_replicas >= 2 and seen.ready_replicas >= 2 else None

        seen = await until(scaled_up, "a scale-up under load", timeout=30)
        took = time.perf_counter() - started
        print(f"\nunder load: {seen.desired_replicas} replicas wanted after {took:.2f} s")
        await asyncio.sleep(1.0)
    idle = time.perf_counter()

    async def scaled_down() -> ServingObservation | None:
        seen = await serving.observe_serving(spec.deployment_id)
        at_min = seen.desired_replicas == 1 and len(seen.replicas) == 1
        return seen if at_min and len(serving.endpoints(spec.deployment_id)) == 1 else None

    await until(scaled_down, "the scale-down once idle", timeout=30)
    print(f"back to 1 replica {time.perf_counter() - idle:.2f} s after the load stopped (window 2 s)")
    assert load.failures == []
    assert len(load.answers) > 0
    await serving.delete_serving(spec.deployment_id)


async def test_a_version_that_does_not_load_never_takes_the_traffic(
    serving: LocalServing, tmp_path: Path
) -> None:
    spec = make_spec(fake_env(tmp_path / "good"))
    await serving.apply_serving(spec)
    (good,) = (await ready(serving, spec)).replicas
    broken = replace(spec, revision=2, env=fake_env(tmp_path / "bad", load_error="the pickle needs xgboost"))
    await serving.apply_serving(broken)

    async def failing() -> ServingObservation | None:
        seen = await serving.observe_serving(spec.deployment_id)
        new = [r for r in seen.replicas if r.revision == 2]
        return seen if seen.failure is not None and new and new[0].restarts >= 1 else None

    seen = await until(failing, "the broken revision to be reported failed")
    assert seen.failure == "loading the model failed: the pickle needs xgboost"
    assert seen.revision == 1
    assert seen.ready_replicas == 1
    (new,) = [r for r in seen.replicas if r.revision == 2]
    assert new.reason == "loading the model failed: the pickle needs xgboost"
    assert new.phase in (ReplicaPhase.FAILED, ReplicaPhase.STARTING)
    assert serving.endpoints(spec.deployment_id) == [good.url]

    fixed = replace(spec, revision=3, env=fake_env(tmp_path / "fixed", model="sign"))
    await serving.apply_serving(fixed)
    seen = await ready(serving, fixed)
    assert seen.failure is None
    assert all(r.revision == 3 or r.phase == ReplicaPhase.STOPPING for r in seen.replicas)
    await until(
        lambda: asyncio.sleep(0, len(serving.endpoints(spec.deployment_id)) == 1), "revision 3 serving"
    )
    await serving.delete_serving(spec.deployment_id)


async def test_crashes_memory_and_liveness_are_reasons(serving: LocalServing, tmp_path: Path) -> None:
    crashing = make_spec({**fake_env(tmp_path / "crash"), "MAX_BATCH_ROWS": "0"})
    greedy = make_spec(fake_env(tmp_path / "greedy"), resources=Resources(memory_limit="64Mi"))
    hung = make_spec(fake_env(tmp_path / "hung"))
    for spec in (crashing, greedy, hung):
        await serving.apply_serving(spec)
    (replica,) = (await ready(serving, hung)).replicas
    assert replica.pid is not None
    os.kill(replica.pid, signal.SIGSTOP)  # it stops answering /health

    async def failed() -> ServingObservation | None:
        seen = await serving.observe_serving(crashing.deployment_id)
        return seen if seen.failure is not None else None

    seen = await until(failed, "the crash loop to be reported")
    reason = "exited with code 2: error: MAX_BATCH_ROWS must be between 1 and 1e+07, not 0"
    assert seen.failure == f"the model server keeps failing: {reason}"
    assert seen.replicas[0].reason == reason
    assert seen.replicas[0].restarts >= 2

    async def reason_of(spec: ServingSpec, start: str) -> str | None:
        replicas = (await serving.observe_serving(spec.deployment_id)).replicas
        reason = replicas[0].reason if replicas else None
        return reason if reason is not None and reason.startswith(start) else None

    oom = await until(lambda: reason_of(greedy, "OOMKilled"), "the OOM kill")
    assert oom.startswith("OOMKilled: used ")
    assert oom.endswith(" MiB of 64 MiB")

    liveness = await until(lambda: reason_of(hung, "liveness probe failed:"), "the liveness kill")
    assert liveness == "liveness probe failed: no answer within 0.5 s"
    assert not alive(replica.pid)
    (restarted,) = (await ready(serving, hung)).replicas
    assert restarted.restarts == 1
    for spec in (crashing, greedy, hung):
        await serving.delete_serving(spec.deployment_id)


OWNER = """
import asyncio, json, sys, uuid
from pathlib import Path
from podml.executors.base import ServingSpec
from podml.executors.local_serving import LocalServing
from podml.resources import Resources

async def main(root, env, requirements):
    executor = LocalServing(Path(root), probe_period=0.2, drain_seconds=0.5)
    specs = [ServingSpec(uuid.uuid4(), "owner-1", 1, uuid.uuid4(), e, Resources(), 1, 1, 1)
             for e in (env, {**env, "REQUIREMENTS_URL": requirements})]
    for spec in specs:
        await executor.apply_serving(spec)
    while not all(executor.endpoints(s.deployment_id) for s in specs):
        await asyncio.sleep(0.05)
    seen = [await executor.observe_serving(s.deployment_id) for s in specs]
    print(json.dumps([{"id": str(s.deployment_id), "endpoints": executor.endpoints(s.deployment_id),
                       "pids": [r.pid for r in o.replicas]} for s, o in zip(specs, seen)]), flush=True)
    await asyncio.sleep(3600)

asyncio.run(main(sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]))
"""


async def test_other_processes_read_the_endpoints_and_replicas_die_with_their_owner(
    storage: StorageServer, models: Models, tmp_path: Path
) -> None:
    root = tmp_path / "executions"
    requirements = storage.add(b"numpy\n", "requirements.txt")  # satisfied: a cold start, no install
    env = {"MODEL_URL": models.a, "MODEL_NAME": "m"}
    owner = await asyncio.create_subprocess_exec(
        *[sys.executable, "-c", textwrap.dedent(OWNER), str(root), json.dumps(env), requirements],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        cwd=ROOT,
    )
    reader = LocalServing(root, warm=False)
    try:
        assert owner.stdout is not None
        line = await asyncio.wait_for(owner.stdout.readline(), 60)
        deployments = json.loads(line)
        for deployment in deployments:
            deployment_id = uuid.UUID(deployment["id"])
            assert reader.endpoints(deployment_id) == deployment["endpoints"]
            assert predict(deployment["endpoints"][0]) == 6.0
            assert (await reader.observe_serving(deployment_id)).exists is False  # not its own
        cold_pid = deployments[1]["pids"][0]
        command = Path(f"/proc/{cold_pid}/cmdline").read_bytes().split(b"\0")
        assert command[1:3] == [b"-m", b"podml.serving"]  # REQUIREMENTS_URL: a fresh interpreter

        owner.kill()
        await owner.wait()
        pids = [pid for deployment in deployments for pid in deployment["pids"]]
        await until(lambda: asyncio.sleep(0, not any(alive(pid) for pid in pids)), "the replicas to die")
        await asyncio.sleep(0.6)  # the reader looks at the file again
        for deployment in deployments:
            assert reader.endpoints(uuid.UUID(deployment["id"])) == []
    finally:
        if owner.returncode is None:
            owner.kill()
            await owner.wait()
        await reader.close()


async def test_the_endpoints_file_follows_changes_and_delete_removes_everything(
    serving: LocalServing, tmp_path: Path
) -> None:
    reader = LocalServing(serving.root.parent, warm=False)
    spec = make_spec(fake_env(tmp_path), replicas=1, min_replicas=1, max_replicas=2)
    await serving.apply_serving(spec)
    await ready(serving, spec)
    assert reader.endpoints(spec.deployment_id) == serving.endpoints(spec.deployment_id)
    await serving.apply_serving(replace(spec, replicas=2))  # the same revision, scaled
    seen = await ready(serving, replace(spec, replicas=2))
    assert all(r.restarts == 0 for r in seen.replicas)
    await until(
        lambda: asyncio.sleep(0, len(reader.endpoints(spec.deployment_id)) == 2), "the reader to see two"
    )
    assert sorted(reader.endpoints(spec.deployment_id)) == sorted(serving.endpoints(spec.deployment_id))
    started = time.perf_counter()
    calls = 10_000
    for _ in range(calls):
        reader.endpoints(spec.deployment_id)
    print(f"\nendpoints() from the file: {(time.perf_counter() - started) / calls * 1e6:.2f} µs a call")

    pids = [r.pid for r in seen.replicas if r.pid is not None]
    await serving.delete_serving(spec.deployment_id)
    assert not any(alive(pid) for pid in pids)
    assert not (serving.root / str(spec.deployment_id)).exists()
    assert serving.endpoints(spec.deployment_id) == []
    assert (await serving.observe_serving(spec.deployment_id)) == ServingObservation(exists=False)
    await serving.delete_serving(spec.deployment_id)  # idempotent
    assert (await serving.observe_serving(uuid.uuid4())).exists is False
    await asyncio.sleep(0.6)
    assert reader.endpoints(spec.deployment_id) == []
    await reader.close()


async def test_the_supervision_loop_survives_its_own_errors(
    serving: LocalServing, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    spec = make_spec(fake_env(tmp_path))
    await serving.apply_serving(spec)
    (before,) = (await ready(serving, spec)).replicas

    async def broken(replica: Any) -> None:
        raise RuntimeError("a bug in a probe")

    monkeypatch.setattr(serving.prober, "probe", broken)
    await until(lambda: asyncio.sleep(0, "a bug in a probe" in caplog.text), "the error to be logged")
    monkeypatch.undo()
    assert before.pid is not None
    os.kill(before.pid, signal.SIGKILL)

    async def restarted() -> ServingObservation | None:
        seen = await serving.observe_serving(spec.deployment_id)
        return seen if seen.ready_replicas == 1 and seen.replicas[0].restarts == 1 else None

    await until(restarted, "the killed replica to be restarted")
    assert "supervising deployment" in caplog.text
    await serving.delete_serving(spec.deployment_id)


async def test_a_deletion_that_drains_holds_up_no_other_deployment(
    serving: LocalServing, tmp_path: Path
) -> None:
    """Deleting waits for the requests in flight (here one taking 8 s); meanwhile another deployment
    starts and takes traffic: nothing in the executor waits for the drain but the deletion."""
    slow = make_spec(fake_env(tmp_path / "slow", model="slow", delay=8.0))
    await serving.apply_serving(slow)
    await ready(serving, slow)
    url = serving.endpoints(slow.deployment_id)[0]
    in_flight = asyncio.create_task(asyncio.to_thread(predict, url))
    await asyncio.sleep(0.5)  # the request is in the replica now
    deletion = asyncio.create_task(serving.delete_serving(slow.deployment_id))
    await asyncio.sleep(0.2)

    other = make_spec(fake_env(tmp_path / "other"))
    await serving.apply_serving(other)
    await ready(serving, other)
    assert predict(serving.endpoints(other.deployment_id)[0]) == 6.0
    assert not deletion.done(), "the other deployment waited for the slow one's drain"
    assert not in_flight.done()

    assert await in_flight == 6.0  # the drained request was answered, not cut off
    await deletion
    assert serving.endpoints(slow.deployment_id) == []
    await serving.delete_serving(other.deployment_id)
