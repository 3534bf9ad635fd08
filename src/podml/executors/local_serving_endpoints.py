"""`serving/<deployment_id>/endpoints.json`: where a deployment takes traffic, for other processes.

The process that runs the replicas answers `endpoints()` from memory and rewrites this file (atomically)
whenever the list changes. Any other process (an API replica beside `podml worker`) reads it through
`EndpointsReader`: at most one `stat` per deployment every half second, a read only when the file
changed, and an empty list when the process that wrote it is gone (its replicas died with it).
"""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from podml.executors.local import process_start_time

ENDPOINTS_FILE = "endpoints.json"
RECHECK_SECONDS = 0.5


def write_endpoints(directory: Path, document: dict[str, Any]) -> None:
    """Replace the file at once: a reader sees the old list or the new one, never half of one."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / ENDPOINTS_FILE
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(document))
    os.replace(tmp, path)


@dataclass
class _Cached:
    checked_at: float
    key: tuple[int, int, int] | None  # inode, mtime and size: a replaced file is a new inode
    endpoints: list[str]
    owner: tuple[int, int | None] | None  # the writer's pid and kernel start time


class EndpointsReader:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._cache: dict[uuid.UUID, _Cached] = {}

    def endpoints(self, deployment_id: uuid.UUID) -> list[str]:
        now = time.monotonic()
        cached = self._cache.get(deployment_id)
        if cached is not None and now - cached.checked_at < RECHECK_SECONDS:
            return list(cached.endpoints)
        path = self.root / str(deployment_id) / ENDPOINTS_FILE
        try:
            stat = path.stat()
            key: tuple[int, int, int] | None = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        except OSError:
            key = None
        if cached is None or key != cached.key:
            cached = _read(path, key, now)
        cached.checked_at = now
        if cached.owner is not None and process_start_time(cached.owner[0]) != cached.owner[1]:
            cached.endpoints = []  # whoever wrote it is gone, and its replicas with it
        self._cache[deployment_id] = cached
        return list(cached.endpoints)

    def forget(self, deployment_id: uuid.UUID) -> None:
        self._cache.pop(deployment_id, None)


def _read(path: Path, key: tuple[int, int, int] | None, now: float) -> _Cached:
    if key is None:
        return _Cached(now, None, [], None)
    try:
        document = json.loads(path.read_text())
        endpoints = [str(url) for url in document.get("endpoints", [])]
        owner = document.get("owner") or {}
        pid, start = owner.get("pid"), owner.get("start_time")
        holder = (int(pid), None if start is None else int(start)) if pid is not None else None
    except (OSError, ValueError, TypeError, AttributeError):
        return _Cached(now, key, [], None)
    return _Cached(now, key, endpoints, holder)
