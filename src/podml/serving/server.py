"""`python -m podml.serving`: settings from the environment, then serve while the model loads.

The pod contract (DESIGN.md): `MODEL_URL` (a signed http(s) URL of `model.joblib`), or `MODEL_PATH`
(a local file), or `MODEL_S3_BUCKET` + `MODEL_S3_KEY` (with the standard `AWS_*` variables and
optional `S3_ENDPOINT_URL`); `MODEL_NAME`; optional `REQUIREMENTS_URL`, `ONNX_URL` (or `ONNX_PATH`);
`PORT` (8080) and `HOST` (0.0.0.0), or `LISTEN_FD` (a listening socket inherited from the parent,
which then chose the address). Tuning: `MAX_BATCH_ROWS` (10,000), `MAX_BODY_BYTES` (64 MiB),
`INLINE_MAX_BYTES` (64 KiB), `REQUIREMENTS_CACHE_DIR` (environments kept for reuse),
`REQUIREMENTS_PIP_ARGS` (extra pip arguments, shell-split, e.g. `--no-index --find-links DIR`),
`SHUTDOWN_DRAIN_SECONDS` (how long /ready answers 503 after SIGTERM before the listener closes; 0),
`SHUTDOWN_TIMEOUT_SECONDS` (30), and `MODEL_LOADER` (`module:function`, default
`podml.serving.loader:load_model`; after MLServer's `implementation` setting).

The HTTP server starts first, so `/health` answers at once and `/ready` tells what loading is doing or
why it failed; the process keeps running after a failed load so that the reason can be read. Under
Kubernetes (`TERMINATION_MESSAGE_PATH` set, as the model-serving pods do) a failed load instead
writes the reason there and exits with code 3: the kubelet keeps the words as the container's
termination message, restarts it with back-off, and the platform fails the deployment with them.
Signed URLs are credentials: only their scheme, host and path are ever logged.
"""

from __future__ import annotations

import importlib
import logging
import os
import shlex
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, Final, cast
from urllib.error import HTTPError, URLError
from urllib.parse import urlsplit, urlunsplit
from urllib.request import Request, urlopen

import uvicorn

from podml.serving.app import DEFAULT_INLINE_MAX_BYTES, DEFAULT_MAX_BODY_BYTES, ServingApp
from podml.serving.contract import LoadedModel
from podml.serving.dataplane import DEFAULT_MAX_BATCH_ROWS, DataPlane
from podml.serving.metrics import InFlight

log = logging.getLogger("podml.serving")

DEFAULT_LOADER: Final = "podml.serving.loader:load_model"
RETRY_DELAYS: Final = (0.5, 1.0, 2.0, 4.0, 8.0)
_RETRY_STATUSES: Final = frozenset({408, 429, 500, 502, 503, 504})
EXIT_CONFIG: Final = 2
EXIT_LOAD: Final = 3  # the model did not load (with TERMINATION_MESSAGE_PATH set)
TERMINATION_MESSAGE_LIMIT: Final = 4096  # what Kubernetes keeps of a termination message


class ConfigError(ValueError):
    pass


@dataclass(frozen=True)
class ServerSettings:
    model_name: str = "model"
    model_url: str | None = None
    model_path: str | None = None
    s3_bucket: str | None = None
    s3_key: str | None = None
    s3_endpoint_url: str | None = None
    requirements_url: str | None = None
    onnx_url: str | None = None
    onnx_path: str | None = None
    host: str = "0.0.0.0"  # noqa: S104 - a pod's server listens on every interface
    port: int = 8080
    listen_fd: int | None = None
    max_batch_rows: int = DEFAULT_MAX_BATCH_ROWS
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    inline_max_bytes: int = DEFAULT_INLINE_MAX_BYTES
    drain_seconds: float = 0.0
    shutdown_timeout: float = 30.0
    loader: str = DEFAULT_LOADER
    requirements_cache_dir: Path = Path("~/.cache/podml/environments")
    pip_args: tuple[str, ...] = ()
    env_ready: bool = False
    termination_path: str | None = None


def settings_from_env(env: Mapping[str, str]) -> ServerSettings:
    """Read the pod contract's variables; ConfigError names every bad one."""
    problems: list[str] = []

    def text(key: str) -> str | None:
        value = env.get(key, "").strip()
        return value or None

    def number(key: str, default: float, low: float, high: float, kind: type = int) -> Any:
        raw = text(key)
        if raw is None:
            return default
        try:
            value = kind(raw)
        except ValueError:
            problems.append(f"{key} must be {'an integer' if kind is int else 'a number'}, not {raw!r}")
            return default
        if not low <= value <= high:
            problems.append(f"{key} must be between {low:g} and {high:g}, not {raw}")
            return default
        return value

    model_url = text("MODEL_URL")
    if model_url is not None and urlsplit(model_url).scheme not in ("http", "https"):
        problems.append(f"MODEL_URL must be an http(s) URL, not {redact(model_url)!r}")
    settings = ServerSettings(
        model_name=text("MODEL_NAME") or "model",
        model_url=model_url,
        model_path=text("MODEL_PATH"),
        s3_bucket=text("MODEL_S3_BUCKET"),
        s3_key=text("MODEL_S3_KEY"),
        s3_endpoint_url=text("S3_ENDPOINT_URL"),
        requirements_url=text("REQUIREMENTS_URL"),
        onnx_url=text("ONNX_URL"),
        onnx_path=text("ONNX_PATH"),
        host=text("HOST") or "0.0.0.0",  # noqa: S104
        port=number("PORT", 8080, 0, 65535),
        listen_fd=None if (fd := number("LISTEN_FD", -1, 0, 65535)) < 0 else fd,
        max_batch_rows=number("MAX_BATCH_ROWS", DEFAULT_MAX_BATCH_ROWS, 1, 10_000_000),
        max_body_bytes=number("MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES, 1024, 1 << 34),
        inline_max_bytes=number("INLINE_MAX_BYTES", DEFAULT_INLINE_MAX_BYTES, 0, 1 << 34),
        drain_seconds=number("SHUTDOWN_DRAIN_SECONDS", 0.0, 0, 3600, float),
        shutdown_timeout=number("SHUTDOWN_TIMEOUT_SECONDS", 30.0, 0, 3600, float),
        loader=text("MODEL_LOADER") or DEFAULT_LOADER,
        pip_args=tuple(shlex.split(env.get("REQUIREMENTS_PIP_ARGS", ""))),
        requirements_cache_dir=Path(
            text("REQUIREMENTS_CACHE_DIR") or "~/.cache/podml/environments"
        ).expanduser(),
        env_ready=env.get("SERVING_ENV_READY") == "1",
        termination_path=text("TERMINATION_MESSAGE_PATH"),
    )
    if problems:
        raise ConfigError("; ".join(problems))
    return settings


def redact(url: str) -> str:
    """The URL without its query string, fragment and user info: safe to log."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def download(url: str, destination: Path, what: str) -> int:
    """GET `url` into `destination`, retrying transient failures; the number of bytes written."""
    attempt = 0
    while True:
        try:
            with urlopen(Request(url), timeout=60) as response, destination.open("wb") as out:  # noqa: S310
                shutil.copyfileobj(response, out, 1 << 20)
                return out.tell()
        except HTTPError as exc:
            reason = f"HTTP {exc.code} {exc.reason}"
            if exc.code not in _RETRY_STATUSES:
                hint = "; the signed URL may have expired" if exc.code == 403 else ""
                raise RuntimeError(
                    f"downloading the {what} failed ({reason}) at {redact(url)}{hint}"
                ) from None
        except (URLError, OSError) as exc:
            reason = str(getattr(exc, "reason", exc))
        if attempt >= len(RETRY_DELAYS):
            raise RuntimeError(
                f"downloading the {what} failed after {attempt + 1} attempts at {redact(url)}: {reason}"
            )
        log.warning("downloading the %s: %s; retrying in %g s", what, reason, RETRY_DELAYS[attempt])
        time.sleep(RETRY_DELAYS[attempt])
        attempt += 1


def fetch_model(settings: ServerSettings, workdir: Path) -> Path:
    if settings.model_path is not None:
        path = Path(settings.model_path)
        if not path.is_file():
            raise RuntimeError(f"MODEL_PATH {path} is not a file")
        return path
    destination = workdir / "model.joblib"
    if settings.model_url is not None:
        size = download(settings.model_url, destination, "model")
        log.info("downloaded the model from %s (%d bytes)", redact(settings.model_url), size)
        return destination
    if settings.s3_bucket and settings.s3_key:
        import boto3  # lazily: only this path needs it (about 0.3 s to import)

        client = boto3.client("s3", endpoint_url=settings.s3_endpoint_url)
        client.download_file(settings.s3_bucket, settings.s3_key, str(destination))
        log.info("downloaded the model from s3://%s/%s", settings.s3_bucket, settings.s3_key)
        return destination
    raise RuntimeError("no model to serve: set MODEL_URL, MODEL_PATH, or MODEL_S3_BUCKET and MODEL_S3_KEY")


def resolve_loader(spec: str) -> Callable[..., LoadedModel]:
    module_name, _, function = spec.partition(":")
    if not module_name or not function:
        raise RuntimeError(f"MODEL_LOADER must be 'module:function', not {spec!r}")
    return cast(Callable[..., LoadedModel], getattr(importlib.import_module(module_name), function))


def prepare_requirements(settings: ServerSettings, workdir: Path) -> str | None:
    """Install what REQUIREMENTS_URL asks for; the interpreter to re-execute under, if not this one."""
    if settings.requirements_url is None or settings.env_ready:
        return None
    destination = workdir / "requirements.txt"
    download(settings.requirements_url, destination, "requirements")
    try:
        from podml.serving import requirements
    except ImportError:  # an image without the installer: the packages must already be there
        log.warning("requirements.txt given but this image cannot install requirements; ignoring it")
        return None
    started = time.perf_counter()
    text = destination.read_text(encoding="utf-8", errors="replace")
    environment = requirements.prepare_environment(
        text, cache_dir=settings.requirements_cache_dir, pip_args=settings.pip_args
    )
    if environment.created:
        installed = ", ".join(environment.installed) or "nothing"
        log.info("installed %s in %.1f s", installed, time.perf_counter() - started)
    if Path(environment.python) == Path(sys.executable):
        log.info("the requirements are already satisfied")
        return None
    return environment.python


def load(
    settings: ServerSettings, plane: DataPlane, workdir: Path, on_failed: Callable[[], None] | None = None
) -> None:
    """Everything between the listener and readiness; runs in a thread, never raises."""
    started = time.perf_counter()
    try:
        python = prepare_requirements(settings, workdir)
        if python is not None:
            log.info("re-executing under %s for the model's requirements", python)
            _flush()
            if settings.listen_fd is not None:  # the new program listens on the same socket
                os.set_inheritable(settings.listen_fd, True)
            env = {**os.environ, "SERVING_ENV_READY": "1"}
            os.execve(python, [python, "-m", "podml.serving"], env)  # noqa: S606
        model_file = fetch_model(settings, workdir)
        onnx_file = Path(settings.onnx_path) if settings.onnx_path is not None else None
        if settings.onnx_url is not None:
            onnx_file = workdir / "model.onnx"
            download(settings.onnx_url, onnx_file, "ONNX model")
        load_model = resolve_loader(settings.loader)
        model = load_model(model_file, name=settings.model_name, prefer_onnx=True, onnx_path=onnx_file)
        plane.set_model(model)
        elapsed = time.perf_counter() - started
        log.info("model %r ready in %.2f s (%s)", settings.model_name, elapsed, model.info.serving_path)
    except Exception as exc:
        reason = str(exc) or type(exc).__name__
        expected = isinstance(exc, RuntimeError) or type(exc).__name__ in (
            "ModelLoadError",
            "RequirementsError",
        )
        log.error("loading the model failed: %s", reason, exc_info=not expected)
        plane.set_failed(f"loading the model failed: {reason}")
        if on_failed is not None:
            on_failed()


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        stream.flush()


def configure_logging() -> None:
    handler = logging.StreamHandler(sys.stdout)
    formatter = logging.Formatter("%(asctime)s.%(msecs)03dZ %(levelname)s %(message)s", "%Y-%m-%dT%H:%M:%S")
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)


def serve(settings: ServerSettings, sockets: list[socket.socket] | None = None) -> int:
    """Serve until a signal stops the server: on `sockets` (already listening) when given, else on
    `HOST`:`PORT`."""
    plane = DataPlane(settings.model_name, max_batch_rows=settings.max_batch_rows)
    app = ServingApp(
        plane, max_body_bytes=settings.max_body_bytes, inline_max_bytes=settings.inline_max_bytes
    )
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        proxy_headers=False,
        server_header=False,
        log_config=None,
        timeout_graceful_shutdown=int(settings.shutdown_timeout) or None,
    )
    server = _Server(config, plane, settings.drain_seconds, app.metrics.in_flight)
    workdir = Path(tempfile.mkdtemp(prefix="podml-serving-"))
    try:
        on_failed = server.stop_now if settings.termination_path else None
        threading.Thread(
            target=load, args=(settings, plane, workdir, on_failed), name="load", daemon=True
        ).start()
        server.run(sockets=sockets)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if settings.termination_path and plane.state == "failed":
        write_termination_message(settings.termination_path, plane.reason or "loading the model failed")
        return EXIT_LOAD
    return 0 if server.started else 1


def write_termination_message(path: str, message: str) -> None:
    try:
        Path(path).write_text(message.encode()[:TERMINATION_MESSAGE_LIMIT].decode(errors="ignore"))
    except OSError as exc:
        log.warning("could not write the termination message to %s: %s", path, exc)


class _Server(uvicorn.Server):
    """uvicorn's Server with a two-step SIGTERM: /ready answers 503 at once, the listener closes after
    `drain` seconds, requests in flight finish, then the process exits 0 (uvicorn would re-raise the
    signal). A second signal stops at once."""

    def __init__(
        self, config: uvicorn.Config, plane: DataPlane, drain: float, in_flight: InFlight | None = None
    ) -> None:
        super().__init__(config)
        self.plane = plane
        self.drain = drain
        self.exit_at: float | None = None
        if in_flight is not None and type(self.server_state.tasks) is set:
            # uvicorn keeps one task per request, created as soon as the headers are read.
            self.server_state.tasks = _CountedTasks(in_flight)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.exit_at is not None or self.drain <= 0:
            if self.should_exit and sig == signal.SIGINT:
                self.force_exit = True
            self.should_exit = True
        if self.exit_at is None:
            log.info("signal %d: not ready any more; stopping in %g s", sig, self.drain)
            self.plane.set_stopping()
            self.exit_at = time.monotonic() + self.drain

    def stop_now(self) -> None:
        """Stop without draining (nothing was ever served); safe from another thread."""
        self.should_exit = True

    async def on_tick(self, counter: int) -> bool:
        if self.exit_at is not None and time.monotonic() >= self.exit_at:
            self.should_exit = True
        return await super().on_tick(counter)


class _CountedTasks(set[Any]):
    """uvicorn's set of request tasks, counting them in and out of `InFlight`."""

    def __init__(self, in_flight: InFlight) -> None:
        super().__init__()
        self.in_flight = in_flight

    def add(self, task: Any) -> None:
        if task not in self:
            self.in_flight.started()
        super().add(task)

    def discard(self, task: Any) -> None:
        if task in self:
            self.in_flight.finished()
        super().discard(task)


def main(env: Mapping[str, str], sockets: list[socket.socket] | None = None) -> int:
    """The program: settings from `env`, then serve (on `sockets` when the caller bound them)."""
    configure_logging()
    try:
        settings = settings_from_env(env)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return EXIT_CONFIG
    if sockets is None and settings.listen_fd is not None:
        try:
            sockets = [socket.socket(fileno=settings.listen_fd)]
        except OSError as exc:
            print(f"error: LISTEN_FD {settings.listen_fd}: {exc}", file=sys.stderr, flush=True)
            return EXIT_CONFIG
    host, port = sockets[0].getsockname()[:2] if sockets else (settings.host, settings.port)
    log.info("serving model %r on %s:%d", settings.model_name, host, port)
    return serve(settings, sockets)
