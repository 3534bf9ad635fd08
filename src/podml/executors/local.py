"""LocalExecutor: each training job is a supervised subprocess on this machine.

Layout of `DATA_DIR/executions/jobs/<job_id>/`: `supervisor.json` (pid and kernel start time, so a
restarted platform can tell its supervisor from a recycled pid), `log.txt` (stdout and stderr),
`termination-log` (the trainer's one-line failure reason), `result.json` (written by the supervisor
when the job ends) and `work/` (the job's working and temporary folder).

The job gets exactly the environment a pod would: the pod-contract variables with signed URLs and
a few process basics. No `PODML_*` setting, database URL or credential of the platform reaches it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import shutil
import signal
import sys
import uuid
from pathlib import Path
from typing import Any

from podml.executors.base import BUILDER, TRAINER, Executor, Observation, Phase, TrainingJobSpec
from podml.executors.warm import Zygote
from podml.resources import cpu_cores, memory_bytes

log = logging.getLogger(__name__)
WARM_PROGRAMS = (TRAINER, BUILDER)  # what the warm zygote can fork
INHERITED_ENV = ("PATH", "LANG", "LC_ALL", "TZ", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")


def process_start_time(pid: int) -> int | None:
    """The kernel's start time of `pid` (clock ticks since boot), or None if there is no such process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
        if fields[0] == b"Z":  # a zombie has finished
            return None
        return int(fields[19])
    except (OSError, IndexError, ValueError):
        return None


class LocalExecutor(Executor):
    name = "local"

    def __init__(
        self,
        root: Path,
        *,
        python: str = sys.executable,
        command: list[str] | None = None,
        warm: bool = True,
        environments_dir: Path | None = None,
    ) -> None:
        self.root = root / "jobs"
        # Where builds keep the virtual environments of versions' requirements, shared with the
        # model servers on this machine (a pod has its own, in its home directory).
        self.environments_dir = environments_dir or root / "environments"
        self.python = python
        # What runs inside the supervisor: the trainer program, as in the pod's container.
        self.command = command or [python, "-m", "podml.trainer"]
        # The warm zygote forks the trainer with its libraries imported (only for the real trainer).
        self.zygote = Zygote(root, python) if warm and command is None else None
        self._reapers: dict[uuid.UUID, asyncio.Task[Any]] = {}

    async def prepare(self) -> None:
        if self.zygote is not None:
            await self.zygote.ensure()

    def _dir(self, job_id: uuid.UUID) -> Path:
        return self.root / str(job_id)

    def _environment(self, spec: TrainingJobSpec, job_dir: Path, cpus: int) -> dict[str, str]:
        work = job_dir / "work"
        env = {name: os.environ[name] for name in INHERITED_ENV if name in os.environ}
        threads = str(cpus)
        env.update(
            {
                "HOME": str(work),
                "TMPDIR": str(work / "tmp"),
                "PYTHONUNBUFFERED": "1",
                "PYTHONDONTWRITEBYTECODE": "1",
                "OMP_NUM_THREADS": threads,
                "OPENBLAS_NUM_THREADS": threads,
                "MKL_NUM_THREADS": threads,
                "TERMINATION_MESSAGE_PATH": str(job_dir / "termination-log"),
                "REQUIREMENTS_CACHE_DIR": str(self.environments_dir),
            }
        )
        env.update(spec.env)
        return env

    async def start_training(self, spec: TrainingJobSpec) -> None:
        job_dir = self._dir(spec.job_id)
        if (job_dir / "supervisor.json").exists():
            return
        (job_dir / "work" / "tmp").mkdir(parents=True, exist_ok=True)
        cpus = max(1, math.ceil(cpu_cores(spec.resources.cpu_limit)))
        env = self._environment(spec, job_dir, cpus)
        pid = await self._fork_warm(job_dir, env, spec, cpus) if spec.program in WARM_PROGRAMS else None
        if pid is None:
            pid = await self._spawn_cold(job_dir, env, spec, cpus)
        started = process_start_time(pid)
        tmp = job_dir / "supervisor.json.tmp"
        tmp.write_text(json.dumps({"pid": pid, "start_time": started}))
        os.replace(tmp, job_dir / "supervisor.json")

    async def _fork_warm(
        self, job_dir: Path, env: dict[str, str], spec: TrainingJobSpec, cpus: int
    ) -> int | None:
        if self.zygote is None:
            return None
        request = {
            "job_dir": str(job_dir),
            "env": env,
            "memory_bytes": memory_bytes(spec.resources.memory_limit),
            "cpus": cpus,
            "timeout": spec.resources.timeout_seconds,
            "program": spec.program,
        }
        try:
            return await self.zygote.spawn(request)
        except (OSError, RuntimeError, ValueError) as exc:
            log.warning("warm start unavailable (%s); starting job %s cold", exc, spec.job_id)
            return None

    async def _spawn_cold(self, job_dir: Path, env: dict[str, str], spec: TrainingJobSpec, cpus: int) -> int:
        command = [
            self.python, "-m", "podml.executors.supervisor",
            "--job-dir", str(job_dir),
            "--memory-bytes", str(memory_bytes(spec.resources.memory_limit)),
            "--cpus", str(cpus),
            "--timeout", str(spec.resources.timeout_seconds),
            "--", *(self.command if spec.program == TRAINER else [self.python, "-m", spec.program]),
        ]  # fmt: skip
        with open(job_dir / "log.txt", "ab") as output:  # noqa: ASYNC230 - opening for append is instant
            process = await asyncio.create_subprocess_exec(
                *command,
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=output,
                stderr=output,
                cwd=job_dir,
                start_new_session=True,
            )
        self._reapers[spec.job_id] = asyncio.create_task(process.wait())
        return process.pid

    def _supervisor_pid(self, job_dir: Path) -> int | None:
        """The supervisor's pid if that very process is still alive."""
        return _live_pid(job_dir / "supervisor.json")

    def _kill_orphans(self, job_dir: Path) -> None:
        """The trainer's process group, if it outlived its supervisor."""
        pid = _live_pid(job_dir / "child.json")
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)

    async def observe_training(self, job_id: uuid.UUID) -> Observation:
        job_dir = self._dir(job_id)
        result_path = job_dir / "result.json"
        if result_path.exists():
            result = json.loads(result_path.read_text())
            code, reason = result.get("exit_code"), result.get("reason")
            if code == 0 and reason is None:
                return Observation(Phase.SUCCEEDED, exit_code=0)
            return Observation(Phase.FAILED, exit_code=code, reason=reason or self._failure(job_dir, code))
        if not (job_dir / "supervisor.json").exists():
            return Observation(Phase.MISSING, reason="the platform has no record of this job's process")
        if self._supervisor_pid(job_dir) is not None:
            return Observation(Phase.RUNNING)
        if result_path.exists():  # it finished between the two checks
            return await self.observe_training(job_id)
        self._kill_orphans(job_dir)
        reason = "lost: the job's process ended without reporting (was the machine restarted?)"
        return Observation(Phase.FAILED, reason=reason)

    def _failure(self, job_dir: Path, code: int | None) -> str:
        message = ""
        with contextlib.suppress(OSError):
            message = (job_dir / "termination-log").read_text(errors="replace").strip()
        if message:
            return message
        if code is not None and code < 0:
            return f"the trainer was killed by signal {signal.Signals(-code).name}"
        return f"the trainer exited with code {code}; see the job's logs"

    async def cancel_training(self, job_id: uuid.UUID) -> None:
        job_dir = self._dir(job_id)
        pid = self._supervisor_pid(job_dir)
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        else:
            self._kill_orphans(job_dir)

    async def training_logs(self, job_id: uuid.UUID, tail_bytes: int = 256 * 1024) -> str:
        path = self._dir(job_id) / "log.txt"
        return await asyncio.to_thread(_tail, path, tail_bytes)

    async def cleanup_training(self, job_id: uuid.UUID) -> None:
        reaper = self._reapers.pop(job_id, None)
        if reaper is not None and not reaper.done():
            reaper.cancel()
        await asyncio.to_thread(shutil.rmtree, self._dir(job_id), True)

    async def close(self) -> None:
        for reaper in self._reapers.values():
            reaper.cancel()
        self._reapers.clear()
        if self.zygote is not None:
            await self.zygote.stop()


def _live_pid(record_path: Path) -> int | None:
    """The pid in a `{pid, start_time}` record, if that very process is still alive."""
    try:
        record = json.loads(record_path.read_text())
    except (OSError, ValueError):
        return None
    pid = int(record["pid"])
    alive = process_start_time(pid)
    return pid if alive is not None and alive == record.get("start_time") else None


def _tail(path: Path, size: int) -> str:
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            end = handle.tell()
            handle.seek(max(0, end - size))
            data = handle.read()
    except FileNotFoundError:
        return ""
    text = data.decode("utf-8", errors="replace")
    return text if len(data) < size else text.split("\n", 1)[-1]
