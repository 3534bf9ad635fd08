"""The local executor and its supervisor, with small scripts standing in for the trainer."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
import uuid
from pathlib import Path

import pytest

from podml.executors.base import Observation, Phase, TrainingJobSpec
from podml.executors.local import LocalExecutor, process_start_time
from podml.resources import Resources


def script_executor(root: Path, code: str) -> LocalExecutor:
    return LocalExecutor(root, command=[sys.executable, "-c", code])


def spec(**resources: object) -> TrainingJobSpec:
    return TrainingJobSpec(
        job_id=uuid.uuid4(),
        owner_sub="owner-1",
        configuration_id=uuid.uuid4(),
        env={"DATASET_URL": "http://127.0.0.1:1/d.csv?sig=abc", "Y_COLUMN": "y"},
        resources=Resources(**resources),  # type: ignore[arg-type]
    )


async def wait_final(executor: LocalExecutor, job_id: uuid.UUID, timeout: float = 20) -> Observation:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        observation = await executor.observe_training(job_id)
        if observation.phase not in (Phase.RUNNING, Phase.PENDING):
            return observation
        await asyncio.sleep(0.05)
    raise AssertionError("job did not finish")


async def wait_for_log(executor: LocalExecutor, job_id: uuid.UUID, text: str) -> None:
    for _ in range(400):
        if text in await executor.training_logs(job_id):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{text!r} never appeared in the job's log")


async def test_success_logs_and_cleanup(tmp_path: Path) -> None:
    executor = script_executor(
        tmp_path, "print('hello from the job'); import sys; print('oops', file=sys.stderr)"
    )
    job = spec()
    await executor.start_training(job)
    await executor.start_training(job)  # idempotent: no second process
    assert (await wait_final(executor, job.job_id)).phase == Phase.SUCCEEDED
    logs = await executor.training_logs(job.job_id)
    assert logs.count("hello from the job") == 1
    assert "oops" in logs
    await executor.cleanup_training(job.job_id)
    assert (await executor.observe_training(job.job_id)).phase == Phase.MISSING
    await executor.close()


async def test_failure_reason_comes_from_the_termination_message(tmp_path: Path) -> None:
    code = (
        "import os, sys\n"
        "open(os.environ['TERMINATION_MESSAGE_PATH'], 'w').write('column \"z\" is not in the CSV')\n"
        "sys.exit(2)"
    )
    executor = script_executor(tmp_path, code)
    job = spec()
    await executor.start_training(job)
    observation = await wait_final(executor, job.job_id)
    assert observation == Observation(Phase.FAILED, exit_code=2, reason='column "z" is not in the CSV')


async def test_exit_without_message_names_the_code(tmp_path: Path) -> None:
    executor = script_executor(tmp_path, "raise SystemExit(7)")
    job = spec()
    await executor.start_training(job)
    observation = await wait_final(executor, job.job_id)
    assert observation.phase == Phase.FAILED
    assert observation.reason is not None
    assert "code 7" in observation.reason


async def test_the_job_sees_only_the_pod_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PODML_SECRET_KEY", "must-not-leak")
    monkeypatch.setenv("PODML_DATABASE_URL", "postgresql://secret@db/podml")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "nope")
    code = (
        "import os, json; print(json.dumps({'env': dict(os.environ), 'cpus': len(os.sched_getaffinity(0))}))"
    )
    executor = script_executor(tmp_path, code)
    job = spec(cpu_limit="1")
    await executor.start_training(job)
    assert (await wait_final(executor, job.job_id)).phase == Phase.SUCCEEDED
    report = json.loads((await executor.training_logs(job.job_id)).strip().splitlines()[-1])
    env = report["env"]
    assert env["DATASET_URL"] == job.env["DATASET_URL"]
    assert env["Y_COLUMN"] == "y"
    assert env["OMP_NUM_THREADS"] == "1"
    assert not [name for name in env if name.startswith(("PODML_", "AWS_"))]
    assert report["cpus"] == 1
    assert Path(env["HOME"]).is_relative_to(tmp_path)


async def test_memory_limit_kills_the_job(tmp_path: Path) -> None:
    code = (
        "import time\nblocks = []\nfor _ in range(100):\n"
        "    blocks.append(bytearray(16 * 1024 * 1024))\n    time.sleep(0.02)\ntime.sleep(30)"
    )
    executor = script_executor(tmp_path, code)
    job = spec(memory_limit="128Mi", memory_request="64Mi")
    await executor.start_training(job)
    observation = await wait_final(executor, job.job_id)
    assert observation.phase == Phase.FAILED
    assert observation.reason is not None
    assert observation.reason.startswith("OOMKilled")


async def test_deadline(tmp_path: Path) -> None:
    executor = script_executor(tmp_path, "import time; time.sleep(60)")
    job = spec(timeout_seconds=1)
    started = time.monotonic()
    await executor.start_training(job)
    observation = await wait_final(executor, job.job_id)
    assert observation.reason is not None
    assert observation.reason.startswith("DeadlineExceeded")
    assert time.monotonic() - started < 5


async def test_cancel_stops_within_two_seconds(tmp_path: Path) -> None:
    # A trainer that ignores SIGTERM still stops: the supervisor follows up with SIGKILL.
    code = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('started', flush=True); time.sleep(60)"
    )
    executor = script_executor(tmp_path, code)
    job = spec()
    await executor.start_training(job)
    await wait_for_log(executor, job.job_id, "started")
    asked = time.monotonic()
    await executor.cancel_training(job.job_id)
    observation = await wait_final(executor, job.job_id)
    assert time.monotonic() - asked < 2
    assert observation.reason == "cancelled"


async def test_a_new_executor_adopts_a_running_job(tmp_path: Path) -> None:
    code = "import time; time.sleep(1.0); print('done')"
    first = script_executor(tmp_path, code)
    job = spec()
    await first.start_training(job)
    await first.close()  # the platform goes away; the job does not
    second = script_executor(tmp_path, code)
    assert (await second.observe_training(job.job_id)).phase == Phase.RUNNING
    assert (await wait_final(second, job.job_id)).phase == Phase.SUCCEEDED
    assert "done" in await second.training_logs(job.job_id)


async def test_a_dead_supervisor_is_reported_lost_and_its_trainer_stopped(tmp_path: Path) -> None:
    executor = script_executor(tmp_path, "import time; print('up', flush=True); time.sleep(60)")
    job = spec()
    await executor.start_training(job)
    job_dir = tmp_path / "jobs" / str(job.job_id)
    await wait_for_log(executor, job.job_id, "up")
    child = json.loads((job_dir / "child.json").read_text())["pid"]
    os.kill(json.loads((job_dir / "supervisor.json").read_text())["pid"], signal.SIGKILL)
    await asyncio.sleep(0.3)
    observation = await executor.observe_training(job.job_id)
    assert observation.phase == Phase.FAILED
    assert observation.reason is not None
    assert observation.reason.startswith("lost")
    await asyncio.sleep(0.2)
    assert process_start_time(child) is None  # gone (or a zombie awaiting its reaper)
