"""What the reconciler does with versions that are `building`: run the builder, then settle them.

The builder (`python -m podml.serving.build`) is a run-to-completion job like training, on the same
executor: it gets signed URLs for the version's files, loads the model in its own process with its
requirements installed, and reports. `ready` carries the serving path (`onnx` when a verified ONNX
file was written beside the model) and the feature signature; `failed` carries the loader's error.
"""

from __future__ import annotations

import json
import logging
import shlex
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from podml.config import Settings
from podml.executors.base import BUILDER, Executor, Phase, TrainingJobSpec
from podml.registry import repository
from podml.registry.models import Model, ModelVersion
from podml.registry.uploads import MODEL_FILE, REQUIREMENTS_FILE
from podml.resources import Resources
from podml.storage import ObjectNotFoundError, Storage

log = logging.getLogger(__name__)
REPORT_FILE = "build.json"
ONNX_FILE = "model.onnx"


async def _spec(storage: Storage, settings: Settings, version: ModelVersion, model: Model) -> TrainingJobSpec:
    resources = Resources(
        memory_request="256Mi",
        memory_limit=settings.build_memory_limit,
        timeout_seconds=settings.build_timeout_seconds,
    )
    ttl = resources.timeout_seconds + 600
    prefix = version.storage_prefix
    env = {
        "MODEL_NAME": model.name,
        "MODEL_URL": storage.signed_url(prefix + MODEL_FILE, "GET", ttl),
        "OUTPUT_REPORT_URL": storage.signed_url(prefix + REPORT_FILE, "PUT", ttl),
        "OUTPUT_ONNX_URL": storage.signed_url(prefix + ONNX_FILE, "PUT", ttl),
        # No REQUIREMENTS_CACHE_DIR: where environments live is the executor's business (a path
        # of this machine means nothing in a pod, whose root filesystem is read-only).
    }
    if settings.requirements_pip_args:
        env["REQUIREMENTS_PIP_ARGS"] = " ".join(shlex.split(settings.requirements_pip_args))
    if await storage.exists(prefix + REQUIREMENTS_FILE):
        env["REQUIREMENTS_URL"] = storage.signed_url(prefix + REQUIREMENTS_FILE, "GET", ttl)
    return TrainingJobSpec(
        job_id=version.id,
        owner_sub=version.owner_sub,
        configuration_id=None,
        env=env,
        resources=resources,
        program=BUILDER,
    )


async def follow(session: AsyncSession, storage: Storage, executor: Executor, settings: Settings) -> bool:
    """Start builds for new versions (within the limit) and settle the builds that ended; True while
    any version was still building at the start of this pass."""
    running = 0
    building = await repository.list_building(session)
    for version in building:
        try:
            observation = await executor.observe_training(version.id)
            if observation.phase == Phase.MISSING:
                if running >= settings.max_concurrent_builds:
                    continue
                model = await session.get(Model, version.model_id)
                assert model is not None
                await executor.start_training(await _spec(storage, settings, version, model))
                running += 1
            elif observation.phase in (Phase.RUNNING, Phase.PENDING):
                running += 1
            elif observation.phase == Phase.SUCCEEDED:
                await _ready(session, storage, version)
                await executor.cleanup_training(version.id)
            else:
                await _failed(session, version, observation.reason or "the build failed")
                await executor.cleanup_training(version.id)
        except Exception as exc:
            log.exception("version %s: build step failed", version.id)
            await session.rollback()
            await _failed(session, version, f"internal error while building: {exc}")
    return bool(building)


async def _ready(session: AsyncSession, storage: Storage, version: ModelVersion) -> None:
    try:
        report: dict[str, Any] = json.loads(await storage.get_bytes(version.storage_prefix + REPORT_FILE))
    except (ObjectNotFoundError, ValueError):
        await _failed(session, version, "the build exited successfully but wrote no report")
        return
    version.status = "ready"
    version.error = None
    version.serving_path = str(report.get("serving_path") or "sklearn")
    signature = {
        "task": report.get("task"),
        "features": report.get("features"),
        "target": {"classes": report.get("classes")},
        "library_versions": report.get("versions"),
        "onnx": report.get("onnx"),
    }
    # What training recorded (target name, feature types) wins over what the loader could infer.
    version.signature_json = {**signature, **(version.signature_json or {}), "onnx": report.get("onnx")}
    await session.commit()
    log.info("version %s ready (%s)", version.id, version.serving_path)


async def _failed(session: AsyncSession, version: ModelVersion, reason: str) -> None:
    version.status = "failed"
    version.error = reason
    await session.commit()
    log.info("version %s failed: %s", version.id, reason)
