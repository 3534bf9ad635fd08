"""Run the real `podml serve` command in a subprocess on a free loopback port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RunningServer:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    env: dict[str, str]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def podml_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "podml", *args]


@contextmanager
def podml_serve(
    data_dir: Path, env: dict[str, str], timeout: float = 60, port: int | None = None
) -> Iterator[RunningServer]:
    port = port or free_port()
    full_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PODML_")},
        "PODML_DATA_DIR": str(data_dir),
        "PODML_HOST": "127.0.0.1",
        "PODML_PORT": str(port),
        **env,
    }
    log_path = data_dir / "serve.log"
    data_dir.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            podml_command("serve"), env=full_env, stdout=log, stderr=subprocess.STDOUT, cwd=data_dir
        )
    server = RunningServer(url=f"http://127.0.0.1:{port}", process=process, log_path=log_path, env=full_env)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"podml serve exited with {process.returncode}:\n{server.log()}")
            try:
                if httpx.get(f"{server.url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"podml serve did not become healthy:\n{server.log()}")
            time.sleep(0.1)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
