"""A warm zygote for training jobs and version builds: `python -m podml.executors.zygote --socket PATH`.

Importing pandas and scikit-learn takes a second or more; a 1,000-row job takes a fraction of that.
The zygote imports the trainer and its libraries once, then forks per job: the fork detaches into
its own session and becomes the job's supervisor, which forks the trainer with exactly the job's
environment. The zygote is started with an empty environment (no platform settings, no secrets),
so there is nothing in its memory a job should not see.

Protocol: one JSON request per connection, `{"job_dir", "env", "memory_bytes", "cpus", "timeout",
"program"}` (`podml.trainer` or `podml.serving.build`, the version builder),
answered with `{"pid": <supervisor pid>}` or `{"error": "..."}`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any


def _preload() -> dict[str, Any]:
    """Import the trainer, the version builder and every library they may need; return their entry
    points by program name."""
    from threadpoolctl import threadpool_limits

    from podml.executors.base import BUILDER, TRAINER
    from podml.serving import build, onnx_model
    from podml.trainer import run

    run.preload()
    onnx_model.preload()

    def limited(main: Any) -> Any:
        def target(env: dict[str, str]) -> int:
            # As `python -m ...`: SIGTERM unwinds main(), which removes its temporary files.
            signal.signal(signal.SIGTERM, lambda signum, _: sys.exit(128 + signum))
            # Thread pools were sized when the zygote imported them; size them for this job's CPUs.
            with threadpool_limits(limits=max(1, int(env.get("OMP_NUM_THREADS", "1")))):
                code: int = main(env)
                return code

        return target

    return {TRAINER: limited(run.main), BUILDER: limited(build.main)}


def _reap() -> None:
    with contextlib.suppress(ChildProcessError):
        while True:
            pid, _ = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                return


def _spawn(request: dict[str, Any], targets: dict[str, Any], listener: socket.socket) -> int:
    from podml.executors.supervisor import supervise_forked

    target = targets[request.get("program", "podml.trainer")]
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:  # the job's supervisor: its own session, free of the zygote's socket and signals
        listener.close()
        os.setsid()
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        job_dir = Path(request["job_dir"])
        log = os.open(job_dir / "log.txt", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.dup2(log, 1)
        os.dup2(log, 2)
        code = supervise_forked(
            job_dir,
            {str(k): str(v) for k, v in request["env"].items()},
            target,
            memory_bytes=int(request["memory_bytes"]),
            cpus=int(request["cpus"]),
            timeout=float(request["timeout"]),
        )
    finally:
        os._exit(code)


def serve(socket_path: Path) -> None:
    targets = _preload()
    with contextlib.suppress(FileNotFoundError):
        socket_path.unlink()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(socket_path))
    os.chmod(socket_path, 0o600)
    listener.listen(16)
    listener.settimeout(1.0)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    parent = os.getppid()
    print("ready", flush=True)
    while True:
        _reap()
        if os.getppid() != parent:  # the platform is gone (even by SIGKILL): so is its zygote
            return
        try:
            connection, _ = listener.accept()
        except TimeoutError:
            continue
        with connection:
            connection.settimeout(10)
            try:
                request = json.loads(connection.makefile("rb").readline())
                answer: dict[str, Any] = {"pid": _spawn(request, targets, listener)}
            except Exception as exc:
                answer = {"error": f"{type(exc).__name__}: {exc}"}
            with contextlib.suppress(OSError):
                connection.sendall(json.dumps(answer).encode() + b"\n")


def main() -> None:
    parser = argparse.ArgumentParser(prog="podml.executors.zygote")
    parser.add_argument("--socket", type=Path, required=True)
    serve(parser.parse_args().socket)


if __name__ == "__main__":
    main()
