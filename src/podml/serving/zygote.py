"""A warm zygote for model servers: `python -m podml.serving.zygote` (driven by `LocalServing`).

A cold `python -m podml.serving` spends most of its start importing numpy, scikit-learn, pandas,
ONNX Runtime and uvicorn. The zygote imports them once (and creates no thread pool, no ONNX Runtime
session and no event loop), then forks one child per replica. The child becomes exactly what
`python -m podml.serving` would be: its own session, the replica's environment (nothing of the
zygote's), its log file on stdout and stderr, and a listening socket the zygote bound on
127.0.0.1:0 before forking, so the port is known at once and nobody else can take it. A replica
whose model brings its own requirements (`"cold": true`) execs a fresh `python -m podml.serving`
on that same socket instead (`LISTEN_FD`), since it will re-execute under another interpreter anyway.

The zygote is started with an almost empty environment (no platform settings, no secrets). Every
child dies with it (PR_SET_PDEATHSIG), and it dies with the platform process that started it.

Protocol, one JSON document per line: requests on stdin,
`{"id": n, "env": {...}, "log": path, "cwd": path, "threads": k, "cold": false}`, answered on stdout
with `{"id": n, "pid": p, "port": q}` or `{"id": n, "error": "..."}`; and, for every child that ends,
`{"exited": pid, "code": c}` (c < 0: killed by signal -c). The first line is `{"ready": true}`.
End of input (the platform closed the pipe, or is gone) kills every child and ends the zygote.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import json
import os
import selectors
import signal
import socket
import sys
import tempfile
import time
from typing import Any

PR_SET_PDEATHSIG = 1
PR_SET_NAME = 15
_EOF_GRACE_SECONDS = 2.0


def _prctl(option: int, value: int | bytes) -> None:
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)


def die_with_parent(parent: int, signum: int = signal.SIGKILL) -> None:
    """Ask Linux to send `signum` to this process when its parent ends; exit now if it already has."""
    _prctl(PR_SET_PDEATHSIG, signum)
    if os.getppid() != parent:
        os._exit(1)


# What a replica may need: the server, its libraries and their submodules models refer to.
PRELOAD = (
    "numpy", "pandas", "joblib", "threadpoolctl", "onnxruntime", "prometheus_client", "orjson",
    "httptools", "uvloop", "uvicorn", "uvicorn.loops.uvloop", "uvicorn.lifespan.on",
    "uvicorn.protocols.http.httptools_impl",
    "sklearn.compose", "sklearn.impute", "sklearn.pipeline", "sklearn.preprocessing",
    "podml.serving.server", "podml.serving.loader", "podml.serving.sklearn_model",
    "podml.serving.onnx_model", "podml.trainer.features",
)  # fmt: skip


def preload() -> None:
    """Import the model server and every library a model may need, without starting anything."""
    from podml import catalog

    estimators = {d.rpartition(".")[0] for s in catalog.CATALOG.values() for d in s.estimators.values()}
    for module in (*PRELOAD, *sorted(estimators)):
        with contextlib.suppress(ImportError):
            importlib.import_module(module)


def _listener() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    return sock


def _child(request: dict[str, Any], sock: socket.socket, zygote: int, private: list[int]) -> None:
    """In the forked child: become the replica. Never returns."""
    code = 1
    try:
        os.setsid()
        die_with_parent(zygote)
        _prctl(PR_SET_NAME, b"podml-replica")  # what ps -o comm and top show (argv stays the zygote's)
        signal.set_wakeup_fd(-1)
        for signum in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, signal.SIG_DFL)
        for fd in private:
            with contextlib.suppress(OSError):
                os.close(fd)
        null = os.open(os.devnull, os.O_RDONLY)
        log = os.open(request["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(null)
        os.close(log)
        os.chdir(request["cwd"])
        host, port = sock.getsockname()[:2]
        env = {str(k): str(v) for k, v in request["env"].items()}
        env.update({"HOST": host, "PORT": str(port)})
        if request.get("cold"):
            sock.set_inheritable(True)
            env["LISTEN_FD"] = str(sock.fileno())
            os.execve(sys.executable, [sys.executable, "-m", "podml.serving"], env)  # noqa: S606
        os.environ.clear()
        os.environ.update(env)
        tempfile.tempdir = None  # computed again from TMPDIR
        for entry in reversed([p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]):
            sys.path.insert(0, entry)
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=max(1, int(request.get("threads", 1))))
        from podml.serving.server import main

        code = main(env, sockets=[sock])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException as exc:  # nothing may escape into the zygote's loop
        with contextlib.suppress(Exception):
            os.write(2, f"error: the replica could not start: {type(exc).__name__}: {exc}\n".encode())
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


class _Zygote:
    def __init__(self, requests: int, answers: int) -> None:
        self.requests = requests
        self.answers = answers
        self.children: set[int] = set()
        self.pid = os.getpid()
        self.wake_read, self.wake_write = os.pipe()
        os.set_blocking(self.wake_read, False)
        os.set_blocking(self.wake_write, False)
        self.selector = selectors.DefaultSelector()

    def send(self, document: dict[str, Any]) -> None:
        data = json.dumps(document).encode() + b"\n"
        while data:
            data = data[os.write(self.answers, data) :]

    def spawn(self, request: dict[str, Any]) -> dict[str, Any]:
        sock = _listener()
        try:
            sys.stdout.flush()
            sys.stderr.flush()
            private = [self.requests, self.answers, self.wake_read, self.wake_write, self.selector.fileno()]
            pid = os.fork()
            if pid == 0:
                _child(request, sock, self.pid, private)
            self.children.add(pid)
            return {"pid": pid, "port": sock.getsockname()[1]}
        finally:
            sock.close()

    def handle(self, line: bytes) -> None:
        request_id: Any = None
        try:
            request = json.loads(line)
            request_id = request.get("id")
            answer = self.spawn(request)
        except Exception as exc:
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        self.send({"id": request_id, **answer})

    def reap(self) -> None:
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid in self.children:
                self.children.discard(pid)
                self.send({"exited": pid, "code": os.waitstatus_to_exitcode(status)})

    def kill_children(self) -> None:
        for pid in list(self.children):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + _EOF_GRACE_SECONDS
        while self.children and time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                self.reap()
            time.sleep(0.01)

    def run(self, parent: int) -> None:
        signal.set_wakeup_fd(self.wake_write)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        self.selector.register(self.requests, selectors.EVENT_READ)
        self.selector.register(self.wake_read, selectors.EVENT_READ)
        self.send({"ready": True})
        buffer = b""
        while True:
            for key, _ in self.selector.select(timeout=1.0):
                if key.fd == self.wake_read:
                    with contextlib.suppress(BlockingIOError):
                        while os.read(self.wake_read, 4096):
                            pass
                    continue
                data = os.read(self.requests, 1 << 16)
                if not data:
                    return
                buffer += data
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    if line.strip():
                        self.handle(line)
            self.reap()
            if os.getppid() != parent:
                return


def main() -> None:
    parent = os.getppid()
    die_with_parent(parent)
    # The protocol gets private descriptors; stray output of imported libraries goes to stderr (the log).
    requests, answers = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(2, 1)
    os.close(null)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    preload()
    zygote = _Zygote(requests, answers)
    try:
        zygote.run(parent)
    finally:
        zygote.kill_children()


if __name__ == "__main__":
    main()
