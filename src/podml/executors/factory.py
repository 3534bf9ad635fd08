"""Builds the executor the settings ask for."""

from __future__ import annotations

from podml.config import Settings
from podml.executors.base import Executor
from podml.executors.local import LocalExecutor


def build_executor(settings: Settings) -> Executor:
    if settings.executor == "local":
        return LocalExecutor(settings.executions_dir)
    raise NotImplementedError(
        "PODML_EXECUTOR=kubernetes arrives with the Kubernetes executor; use 'local' for now"
    )
