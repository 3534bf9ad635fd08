"""Builds the executor the settings ask for."""

from __future__ import annotations

from podml.config import Settings
from podml.executors.base import Executor, ServingExecutor
from podml.executors.local import LocalExecutor


def build_executor(settings: Settings) -> Executor:
    if settings.executor == "local":
        return LocalExecutor(settings.executions_dir)
    raise NotImplementedError(
        "PODML_EXECUTOR=kubernetes arrives with the Kubernetes executor; use 'local' for now"
    )


def build_serving(settings: Settings) -> ServingExecutor:
    if settings.executor == "local":
        from podml.executors.local_serving import LocalServing

        return LocalServing(settings.executions_dir, scale_down_delay=settings.scale_down_delay_seconds)
    raise NotImplementedError(
        "PODML_EXECUTOR=kubernetes arrives with the Kubernetes executor; use 'local' for now"
    )
