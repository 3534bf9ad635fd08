"""Replica processes for `LocalServing`: their environment, how they are launched, and their end.

A replica is a model-server process (`python -m podml.serving` semantics) listening on a loopback
socket bound before it starts (so its address is known at once and cannot be taken). It is forked
by the warm serving zygote (`podml.serving.zygote`) when one is running, else spawned cold. Either
way it lives in its own session, dies with the platform process (PR_SET_PDEATHSIG), and its end is
reported with its exit code (negative: the signal that killed it).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import math
import os
import shutil
import signal
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from podml.executors.local import INHERITED_ENV as _INHERITED
from podml.executors.warm import clean_environment
from podml.resources import QuantityError, cpu_cores

log = logging.getLogger(__name__)

ZYGOTE_START_TIMEOUT = 120.0
ZYGOTE_RETRY_SECONDS = 60.0
SPAWN_TIMEOUT = 15.0
# Run by a cold replica's first process: die with the platform, then become the model server.
_LAUNCHER = (
    "import ctypes, os, sys\n"
    "try:\n"
    "    ctypes.CDLL(None).prctl(1, 9, 0, 0, 0)\n"
    "except (OSError, AttributeError):\n"
    "    pass\n"
    "if os.getppid() != int(sys.argv[1]):\n"
    "    os._exit(1)\n"
    "os.execv(sys.argv[2], sys.argv[2:])\n"
)


def replica_environment(
    spec_env: dict[str, str], home: Path, *, threads: int, drain_seconds: float, cache_dir: Path
) -> dict[str, str]:
    """What a replica's process gets: a pod's environment, nothing of the platform's own settings.

    Process basics, HOME and TMPDIR in the replica's own folder and thread counts for its CPU limit,
    then the deployment's pod-contract variables; the platform decides the drain. HOST and PORT (or
    LISTEN_FD) are added where the socket is bound.
    """
    env = {name: os.environ[name] for name in _INHERITED if name in os.environ}
    count = str(threads)
    env.update(
        {
            "HOME": str(home),
            "TMPDIR": str(home / "tmp"),
            "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            "OMP_NUM_THREADS": count,
            "OPENBLAS_NUM_THREADS": count,
            "MKL_NUM_THREADS": count,
            "REQUIREMENTS_CACHE_DIR": str(cache_dir),
        }
    )
    env.update(spec_env)
    env["SHUTDOWN_DRAIN_SECONDS"] = f"{drain_seconds:g}"
    return env


def replica_threads(cpu_limit: str) -> int:
    """Threads for BLAS and OpenMP: the CPU limit rounded up (1 when it cannot be read)."""
    try:
        return max(1, math.ceil(cpu_cores(cpu_limit)))
    except QuantityError:
        return 1


def fresh_home(home: Path) -> None:
    """The replica's HOME, with an empty TMPDIR: a restart does not inherit its predecessor's files."""
    shutil.rmtree(home / "tmp", ignore_errors=True)
    (home / "tmp").mkdir(parents=True, exist_ok=True)


def exit_reason(code: int) -> str:
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by signal {-code} ({signal.Signals(-code).name})"
        return f"killed by signal {-code}"
    return f"exited with code {code}"


def last_line(path: Path, size: int = 4096) -> str | None:
    """The last non-empty line of a log (what a crashed server said last), shortened."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - size))
            lines = [line.strip() for line in handle.read().decode("utf-8", "replace").splitlines()]
    except OSError:
        return None
    lines = [line for line in lines if line]
    return lines[-1][:300] if lines else None


def rss_bytes(pid: int) -> int | None:
    """The process's resident memory (VmRSS), or None when it is gone."""
    try:
        with open(f"/proc/{pid}/status", "rb") as handle:
            for line in handle:
                if line.startswith(b"VmRSS:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def activity(pid: int) -> tuple[int, ...] | None:
    """Bytes read and written (sockets included) and CPU ticks so far: while these move, a process
    that is slow to answer a probe is busy answering others, not hung."""
    try:
        with open(f"/proc/{pid}/io", "rb") as handle:
            io = dict(line.split(b":", 1) for line in handle.read().splitlines() if b":" in line)
        with open(f"/proc/{pid}/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
        return int(io[b"rchar"]), int(io[b"wchar"]), int(fields[11]) + int(fields[12])
    except (OSError, KeyError, ValueError, IndexError):
        return None


@dataclass
class ReplicaProcess:
    """One launch of a replica: where it listens and how it ended."""

    pid: int
    port: int
    exited: asyncio.Future[int]  # its exit code; negative when a signal killed it
    warm: bool
    launched: float = field(default_factory=time.monotonic)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def alive(self) -> bool:
        return not self.exited.done()

    def signal(self, signum: int) -> None:
        """Signal the replica's process group (it is a session leader), unless it has ended."""
        if self.exited.done():
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signum)


def _listener() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    return sock


async def spawn_cold(python: str, env: dict[str, str], log_path: Path, cwd: Path) -> ReplicaProcess:
    """`python -m podml.serving` as a fresh process, on a socket bound here (`LISTEN_FD`)."""
    sock = _listener()
    try:
        port = int(sock.getsockname()[1])
        env = {**env, "HOST": "127.0.0.1", "PORT": str(port), "LISTEN_FD": str(sock.fileno())}
        with open(log_path, "ab") as output:  # noqa: ASYNC230 - opening for append is instant
            process = await asyncio.create_subprocess_exec(
                python, "-c", _LAUNCHER, str(os.getpid()), python, "-m", "podml.serving",
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=output,
                stderr=output,
                cwd=cwd,
                start_new_session=True,
                pass_fds=(sock.fileno(),),
            )  # fmt: skip
    finally:
        sock.close()
    exited: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def reap() -> None:
        code = await process.wait()
        if not exited.done():
            exited.set_result(code)

    reaper = asyncio.create_task(reap())
    exited.add_done_callback(lambda _: reaper.cancel() if not reaper.done() else None)
    return ReplicaProcess(process.pid, port, exited, warm=False)


class ServingZygote:
    """The platform's handle on the warm serving zygote: start it, have it fork replicas, hear of
    their end, stop it (its replicas end with it)."""

    def __init__(self, root: Path, python: str) -> None:
        self.root = root
        self.python = python
        self._process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._exits: dict[int, asyncio.Future[int]] = {}
        self._ids = itertools.count(1)
        self._lock = asyncio.Lock()
        self._failed_at: float | None = None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.returncode is None and self._reader is not None

    def _environment(self) -> dict[str, str]:
        return clean_environment(self.root)

    async def ensure(self) -> None:
        """Start the zygote unless it runs; RuntimeError when it cannot (retried after a while)."""
        async with self._lock:
            if self.running:
                return
            if self._failed_at is not None and time.monotonic() - self._failed_at < ZYGOTE_RETRY_SECONDS:
                raise RuntimeError("the warm serving zygote failed to start recently")
            try:
                await self._start()
            except BaseException:
                self._failed_at = time.monotonic()
                await self._kill()
                raise
            self._failed_at = None

    async def _start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / "zygote.log", "ab") as errors:  # noqa: ASYNC230 - instant
            self._process = await asyncio.create_subprocess_exec(
                self.python, "-m", "podml.serving.zygote",
                env=self._environment(),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=errors,
                cwd=self.root,
                start_new_session=True,
                limit=1 << 20,
            )  # fmt: skip
        assert self._process.stdout is not None
        try:
            line = await asyncio.wait_for(self._process.stdout.readline(), ZYGOTE_START_TIMEOUT)
        except TimeoutError:
            line = b""
        try:
            ready = json.loads(line).get("ready") is True
        except ValueError:
            ready = False
        if not ready:
            raise RuntimeError("the warm serving zygote did not start; see serving/zygote.log")
        self._reader = asyncio.create_task(self._read(self._process))
        log.info("warm serving zygote ready (pid %s)", self._process.pid)

    async def _read(self, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        try:
            while line := await process.stdout.readline():
                try:
                    message = json.loads(line)
                except ValueError:
                    continue
                if "exited" in message:
                    future = self._exits.pop(int(message["exited"]), None)
                    if future is not None and not future.done():
                        future.set_result(int(message["code"]))
                    continue
                pending = self._pending.pop(message.get("id"), None)
                if pending is None or pending.done():
                    continue
                if "pid" in message:  # listen for its end before anyone can miss it
                    self._exits[int(message["pid"])] = asyncio.get_running_loop().create_future()
                pending.set_result(message)
        finally:
            self._lost()

    def _lost(self) -> None:
        """The zygote ended: its replicas were killed with it (PR_SET_PDEATHSIG)."""
        for pending in self._pending.values():
            if not pending.done():
                pending.set_exception(RuntimeError("the warm serving zygote ended"))
        self._pending.clear()
        for future in self._exits.values():
            if not future.done():
                future.set_result(-signal.SIGKILL)
        self._exits.clear()
        self._reader = None

    async def spawn(
        self, env: dict[str, str], log_path: Path, cwd: Path, threads: int, cold: bool
    ) -> ReplicaProcess:
        """Have the zygote fork a replica (`cold`: exec a fresh `python -m podml.serving`)."""
        await self.ensure()
        process = self._process
        assert process is not None
        assert process.stdin is not None
        request_id = next(self._ids)
        answer_future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = answer_future
        request = {"id": request_id, "env": env, "log": str(log_path), "cwd": str(cwd)}
        request.update({"threads": threads, "cold": cold})
        try:
            process.stdin.write(json.dumps(request).encode() + b"\n")
            await process.stdin.drain()
            answer = await asyncio.wait_for(answer_future, SPAWN_TIMEOUT)
        except (OSError, TimeoutError) as exc:
            self._pending.pop(request_id, None)
            raise RuntimeError(f"the warm serving zygote did not answer: {exc!r}") from None
        if "pid" not in answer:
            raise RuntimeError(str(answer.get("error", "the warm serving zygote refused")))
        pid = int(answer["pid"])
        exited = self._exits.get(pid)
        if exited is None:  # it ended already and the zygote said so
            exited = asyncio.get_running_loop().create_future()
            exited.set_result(-signal.SIGKILL)
        return ReplicaProcess(pid, int(answer["port"]), exited, warm=True)

    async def _kill(self) -> None:
        process, self._process = self._process, None
        reader, self._reader = self._reader, None
        if process is not None and process.returncode is None:
            if process.stdin is not None:
                process.stdin.close()  # end of input: the zygote kills its replicas and ends
            try:
                await asyncio.wait_for(process.wait(), 5)
            except TimeoutError:
                process.kill()
                await process.wait()
        if reader is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(reader, 5)
        self._lost()

    async def stop(self) -> None:
        async with self._lock:
            await self._kill()
