"""The platform's handle on the warm zygote (`podml.executors.zygote`): start it, ask it to fork a
job, stop it. Jobs outlive it: each one runs in its own session."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
START_TIMEOUT = 120.0


def clean_environment(home: Path) -> dict[str, str]:
    """A zygote's environment: nothing of the platform's own (forks of it become jobs or replicas),
    one thread per pool while importing (each fork sizes its pools for its own CPUs)."""
    env = {name: os.environ[name] for name in ("PATH", "LANG", "LC_ALL", "TZ") if name in os.environ}
    env.update(
        {
            "HOME": str(home),
            "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            "OMP_NUM_THREADS": "1",
            "OPENBLAS_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
        }
    )
    return env


class Zygote:
    def __init__(self, root: Path, python: str) -> None:
        self.socket = root / "zygote.sock"
        self.root = root
        self.python = python
        self._process: asyncio.subprocess.Process | None = None
        self._lock = asyncio.Lock()

    def _environment(self) -> dict[str, str]:
        # As `python -m podml.trainer` does: read by numpy when the zygote imports it.
        return {**clean_environment(self.root), "NUMPY_MADVISE_HUGEPAGE": "0"}

    async def ensure(self) -> None:
        async with self._lock:
            if self._process is not None and self._process.returncode is None:
                return
            self.root.mkdir(parents=True, exist_ok=True)
            with open(self.root / "zygote.log", "ab") as errors:  # noqa: ASYNC230 - instant
                self._process = await asyncio.create_subprocess_exec(
                    self.python, "-m", "podml.executors.zygote", "--socket", str(self.socket),
                    env=self._environment(),
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=errors,
                    cwd=self.root,
                    start_new_session=True,
                )  # fmt: skip
            assert self._process.stdout is not None
            try:
                line = await asyncio.wait_for(self._process.stdout.readline(), START_TIMEOUT)
            except TimeoutError:
                line = b""
            if line.strip() != b"ready":
                await self.stop()
                raise RuntimeError("the warm zygote did not start; see executions/zygote.log")
            log.info("warm zygote ready (pid %s)", self._process.pid)

    async def spawn(self, request: dict[str, Any]) -> int:
        await self.ensure()
        reader, writer = await asyncio.wait_for(asyncio.open_unix_connection(str(self.socket)), 10)
        try:
            writer.write(json.dumps(request).encode() + b"\n")
            await writer.drain()
            answer = json.loads(await asyncio.wait_for(reader.readline(), 10))
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        if "pid" not in answer:
            raise RuntimeError(answer.get("error", "no answer from the zygote"))
        return int(answer["pid"])

    async def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.returncode is not None:
            return
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 5)
        except TimeoutError:
            process.kill()
            await process.wait()
