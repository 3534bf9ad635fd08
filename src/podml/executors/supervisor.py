"""The local executor's per-job supervisor (stdlib only).

It does for one process what the kubelet does for a pod: starts the trainer in its own process
group pinned to N cores, enforces the memory limit (on the group's resident memory) and the
deadline, turns SIGTERM into a graceful stop, and records the outcome in `result.json` in the job
folder. It lives in its own session, so the job (and its result) survives a restart of
`podml serve`; the reconciler adopts it from the files it leaves.

Two ways in: `python -m podml.executors.supervisor ... -- COMMAND` (a fresh process runs COMMAND),
or `supervise_forked()` from the warm zygote (`podml.executors.zygote`), which forks the trainer
with its libraries already imported.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

POLL_SECONDS = 0.1
GRACE_SECONDS = 1.0
_PAGE = os.sysconf("SC_PAGE_SIZE")


def group_rss(pgid: int) -> int:
    """Resident bytes of every process in a process group (children a trainer spawns count too)."""
    total = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
            if int(fields[2]) != pgid:  # fields after "comm)": state ppid pgrp ...
                continue
            with open(f"/proc/{entry.name}/statm", "rb") as handle:
                total += int(handle.read().split()[1]) * _PAGE
        except (OSError, IndexError, ValueError):
            continue
    return total


class ForkedChild:
    """A forked pid with `Popen`'s `wait(timeout)` and return-code conventions."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def wait(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while True:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                return os.waitstatus_to_exitcode(status)
            if time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(str(self.pid), timeout)
            time.sleep(min(0.02, timeout))


def _write_json(path: Path, data: dict[str, object]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


def _record_child(job_dir: Path, pid: int) -> None:
    """The trainer's pid and start time, so the platform can stop it if this supervisor dies."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            start_time = int(handle.read().rsplit(b")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return
    _write_json(job_dir / "child.json", {"pid": pid, "start_time": start_time})


def pin_cpus(count: int) -> None:
    available = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, available[: max(1, min(count, len(available)))])


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signum)


def watch(
    job_dir: Path, child: subprocess.Popen[bytes] | ForkedChild, *, memory_bytes: int, timeout: float
) -> int:
    """Enforce the limits on `child` (its own process group) until it ends; write `result.json`."""
    stop_reason: list[str] = []
    signal.signal(signal.SIGTERM, lambda *_: stop_reason.append("cancelled"))
    signal.signal(signal.SIGINT, lambda *_: stop_reason.append("cancelled"))
    _record_child(job_dir, child.pid)
    started = time.monotonic()
    reason: str | None = None
    killed_at: float | None = None
    while True:
        try:
            code = child.wait(timeout=POLL_SECONDS)
            break
        except subprocess.TimeoutExpired:
            pass
        now = time.monotonic()
        if reason is None:
            if stop_reason:
                reason = "cancelled"
            elif now - started > timeout:
                reason = f"DeadlineExceeded: ran longer than the {timeout:g} s limit"
            elif group_rss(child.pid) > memory_bytes:
                reason = f"OOMKilled: memory use passed the {memory_bytes // 1024**2} MiB limit"
                _signal_group(child.pid, signal.SIGKILL)
                killed_at = now
            if reason is not None and killed_at is None:
                _signal_group(child.pid, signal.SIGTERM)
                killed_at = now
        elif killed_at is not None and now - killed_at > GRACE_SECONDS:
            _signal_group(child.pid, signal.SIGKILL)
    _signal_group(child.pid, signal.SIGKILL)  # leftovers of the group, if any
    seconds = time.monotonic() - started
    _write_json(
        job_dir / "result.json",
        {"exit_code": code, "reason": reason, "finished_at": time.time(), "seconds": seconds},
    )
    return 0 if code == 0 and reason is None else 1


def supervise(job_dir: Path, command: list[str], *, memory_bytes: int, cpus: int, timeout: float) -> int:
    """Run `command` as a fresh process under supervision."""
    pin_cpus(cpus)
    with open(job_dir / "log.txt", "ab", buffering=0) as log:
        child = subprocess.Popen(  # noqa: S603 - the executor's own fixed command
            command, stdout=log, stderr=subprocess.STDOUT, cwd=job_dir / "work", process_group=0
        )
    return watch(job_dir, child, memory_bytes=memory_bytes, timeout=timeout)


def supervise_forked(
    job_dir: Path,
    env: dict[str, str],
    target: Callable[[dict[str, str]], int],
    *,
    memory_bytes: int,
    cpus: int,
    timeout: float,
) -> int:
    """Fork `target(env)` (already imported by the caller) as the job's process, and supervise it."""
    pin_cpus(cpus)
    pid = os.fork()
    if pid == 0:  # the trainer: its own process group, the job's files, exactly the job's environment
        code = 1
        try:
            os.setpgid(0, 0)
            log = os.open(job_dir / "log.txt", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            os.dup2(log, 1)
            os.dup2(log, 2)
            os.chdir(job_dir / "work")
            os.environ.clear()
            os.environ.update(env)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)  # the target may install its own
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            code = target(env)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException as exc:  # nothing may escape a forked child
            with contextlib.suppress(Exception):
                os.write(2, f"error: {type(exc).__name__}: {exc}\n".encode())
        finally:
            with contextlib.suppress(Exception):
                sys.stdout.flush()
                sys.stderr.flush()
            os._exit(code)
    return watch(job_dir, ForkedChild(pid), memory_bytes=memory_bytes, timeout=timeout)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="podml.executors.supervisor")
    parser.add_argument("--job-dir", type=Path, required=True)
    parser.add_argument("--memory-bytes", type=int, required=True)
    parser.add_argument("--cpus", type=int, default=1)
    parser.add_argument("--timeout", type=float, required=True)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given after --")
    return supervise(
        args.job_dir, command, memory_bytes=args.memory_bytes, cpus=args.cpus, timeout=args.timeout
    )


if __name__ == "__main__":
    sys.exit(main())
