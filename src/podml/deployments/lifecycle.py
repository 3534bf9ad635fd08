"""What the reconciler does for deployments: make the executor's replicas match each row, and write
back what it observes (status, reason, replica states, the version behind traffic).

A spec is (re)applied when the revision or the replica bounds change, when the executor has lost
the deployment (a restarted platform), and before its signed URLs expire; applying the same
revision again never restarts a replica. A version still building holds the rollout back; a
failed one fails the deployment (the previous revision, if any, keeps serving). A spec the executor
refuses (on Kubernetes: a quota, an admission policy, an object the API server finds invalid) fails
the deployment with the refusal's words; it is asked again after `RETRY_REFUSED_SECONDS`, or at once
when the owner changes the deployment.
"""

from __future__ import annotations

import asyncio
import logging
import shlex
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from podml.config import Settings
from podml.database import utcnow
from podml.deployments import repository
from podml.deployments.models import Deployment
from podml.executors.base import (
    ExecutorError,
    ReplicaPhase,
    ServingExecutor,
    ServingObservation,
    ServingSpec,
)
from podml.registry.builds import ONNX_FILE
from podml.registry.models import ModelVersion
from podml.registry.uploads import MODEL_FILE, REQUIREMENTS_FILE
from podml.resources import Resources
from podml.storage import Storage

log = logging.getLogger(__name__)
_TROUBLED = (ReplicaPhase.UNHEALTHY, ReplicaPhase.FAILED)
# A spec the executor refused is asked again after this long (or at once, when the owner changes it).
RETRY_REFUSED_SECONDS: Final = 30.0


@dataclass
class _Applied:
    key: tuple[Any, ...]
    at: float


@dataclass(frozen=True)
class _Refused:
    key: tuple[Any, ...]
    at: float
    reason: str


class DeploymentLoop:
    """One reconciler's memory of what it applied (so it re-applies only when something changed)."""

    def __init__(
        self,
        storage: Storage,
        serving: ServingExecutor,
        settings: Settings,
        on_deleted: Callable[[uuid.UUID], None] | None = None,
    ) -> None:
        self.storage = storage
        self.serving = serving
        self.settings = settings
        self.on_deleted = on_deleted
        self._applied: dict[uuid.UUID, _Applied] = {}
        self._refused: dict[uuid.UUID, _Refused] = {}  # what the executor refused, and when
        self._has_requirements: dict[uuid.UUID, bool] = {}
        self._deleting: dict[uuid.UUID, asyncio.Task[None]] = {}

    async def follow(self, session: AsyncSession) -> bool:
        """One pass over every deployment; True while any of them is still settling."""
        busy = False
        for deployment in await repository.list_all(session):
            try:
                busy |= await self._follow_one(session, deployment)
            except Exception:
                log.exception("deployment %s: reconcile step failed", deployment.id)
                await session.rollback()
                busy = True
        return busy

    async def _follow_one(self, session: AsyncSession, deployment: Deployment) -> bool:
        if deployment.status == "deleting":
            return await self._teardown(session, deployment)
        version = await session.get(ModelVersion, deployment.version_id)
        observation = await self.serving.observe_serving(deployment.id)
        hold: tuple[str, str] | None = None
        if version is None:
            hold = ("failed", "the deployed model version no longer exists")
        elif version.status == "building":
            hold = ("pending", f"waiting for version {version.version_tag} to finish building")
        elif version.status == "failed":
            hold = ("failed", f"version {version.version_tag} failed to build: {version.error}")
        else:
            try:
                if await self._apply_if_needed(deployment, version, observation):
                    observation = await self.serving.observe_serving(deployment.id)
            except ExecutorError as exc:  # refused (a quota, a policy, an invalid object): say so
                hold = ("failed", str(exc))
        status, reason = _derive(deployment, observation, hold)
        return await self._record(session, deployment, observation, status, reason)

    async def _teardown(self, session: AsyncSession, deployment: Deployment) -> bool:
        """Stop the replicas in the background (they drain for a second or more: other deployments
        must not wait for that), then remove the row; True while that is under way."""
        deployment_id = deployment.id
        task = self._deleting.get(deployment_id)
        if task is None:
            stop = self.serving.delete_serving(
                deployment_id, owner_sub=deployment.owner_sub, revision=deployment.revision
            )
            self._deleting[deployment_id] = asyncio.create_task(stop)
            return True
        if not task.done():
            return True
        del self._deleting[deployment_id]
        problem = "cancelled" if task.cancelled() else task.exception()
        if problem is not None:
            log.error("deployment %s: stopping its replicas failed (%r); retrying", deployment_id, problem)
            return True
        await repository.remove(session, deployment_id)
        await session.commit()
        self._applied.pop(deployment_id, None)
        if self.on_deleted is not None:
            self.on_deleted(deployment_id)
        log.info("deployment %s deleted", deployment_id)
        return False

    async def close(self) -> None:
        """Wait for teardowns under way (the executor closes after this)."""
        tasks = list(self._deleting.values())
        self._deleting.clear()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _apply_if_needed(
        self, deployment: Deployment, version: ModelVersion, observation: ServingObservation
    ) -> bool:
        key = (
            deployment.revision,
            deployment.version_id,
            deployment.replicas,
            deployment.min_replicas,
            deployment.max_replicas,
            deployment.target_concurrency,
            deployment.public,
        )
        applied = self._applied.get(deployment.id)
        stale = applied is None or time.monotonic() - applied.at > self.settings.signed_url_ttl_seconds / 2
        if applied is not None and applied.key == key and observation.exists and not stale:
            return False
        refused = self._refused.get(deployment.id)
        if (
            refused is not None
            and refused.key == key
            and time.monotonic() - refused.at < RETRY_REFUSED_SECONDS
        ):
            raise ExecutorError(refused.reason)  # asked again only after a while, or once changed
        try:
            await self.serving.apply_serving(await self._spec(deployment, version))
        except ExecutorError as exc:
            self._refused[deployment.id] = _Refused(key=key, at=time.monotonic(), reason=str(exc))
            raise
        self._refused.pop(deployment.id, None)
        self._applied[deployment.id] = _Applied(key=key, at=time.monotonic())
        return True

    async def _spec(self, deployment: Deployment, version: ModelVersion) -> ServingSpec:
        ttl = self.settings.signed_url_ttl_seconds
        prefix = version.storage_prefix
        env = {
            # The replica's model name is the deployment id: /v2/models/{deployment_id}/... then
            # means the same thing at the gateway and at the replica.
            "MODEL_NAME": str(deployment.id),
            "MODEL_URL": self.storage.signed_url(prefix + MODEL_FILE, "GET", ttl),
            # No REQUIREMENTS_CACHE_DIR: the executor chooses (local: one shared folder; a pod:
            # its home directory, the only writable place besides /tmp).
        }
        if version.serving_path == "onnx":
            env["ONNX_URL"] = self.storage.signed_url(prefix + ONNX_FILE, "GET", ttl)
        if version.id not in self._has_requirements:
            self._has_requirements[version.id] = await self.storage.exists(prefix + REQUIREMENTS_FILE)
        if self._has_requirements[version.id]:
            env["REQUIREMENTS_URL"] = self.storage.signed_url(prefix + REQUIREMENTS_FILE, "GET", ttl)
            if self.settings.requirements_pip_args:
                env["REQUIREMENTS_PIP_ARGS"] = " ".join(shlex.split(self.settings.requirements_pip_args))
        return ServingSpec(
            deployment_id=deployment.id,
            owner_sub=deployment.owner_sub,
            revision=deployment.revision,
            version_id=version.id,
            env=env,
            resources=Resources.from_json(deployment.resources_json),
            replicas=deployment.replicas,
            min_replicas=deployment.min_replicas,
            max_replicas=deployment.max_replicas,
            target_concurrency=deployment.target_concurrency or self.settings.autoscale_target_concurrency,
            public=deployment.public,
        )

    async def _record(
        self,
        session: AsyncSession,
        deployment: Deployment,
        observation: ServingObservation,
        status: str,
        reason: str | None,
    ) -> bool:
        replicas = [
            {
                "name": r.name,
                "revision": r.revision,
                "phase": str(r.phase),
                "restarts": r.restarts,
                "reason": r.reason,
                "started_at": r.started_at,
            }
            for r in observation.replicas
        ]
        serving_version = deployment.serving_version_id
        if observation.revision == deployment.revision and observation.ready_replicas > 0:
            serving_version = deployment.version_id
        elif not observation.exists:
            serving_version = None
        changes: dict[str, Any] = {
            "status": status,
            "reason": reason,
            "ready_replicas": observation.ready_replicas,
            "desired_replicas": observation.desired_replicas or deployment.replicas,
            "replicas_json": replicas,
            "serving_version_id": serving_version,
        }
        if status == "ready" and deployment.ready_at is None:
            changes["ready_at"] = utcnow()
        if any(getattr(deployment, name) != value for name, value in changes.items()):
            # A conditional UPDATE, not the ORM object: the owner may have deleted or changed the
            # deployment since this pass read it, and what they asked for must win.
            result = await session.execute(
                update(Deployment)
                .where(
                    Deployment.id == deployment.id,
                    Deployment.status != "deleting",
                    Deployment.revision == deployment.revision,
                )
                .values(**changes)
                .execution_options(synchronize_session=False)
            )
            await session.commit()
            if getattr(result, "rowcount", 0) and deployment.status != status:
                log.info("deployment %s: %s -> %s (%s)", deployment.id, deployment.status, status, reason)
        return status != "ready"


def _derive(
    deployment: Deployment, observation: ServingObservation, hold: tuple[str, str] | None
) -> tuple[str, str | None]:
    """The deployment's status and reason from what the executor sees."""
    serving = observation.ready_replicas
    at_target = observation.revision == deployment.revision
    if hold is not None:
        status, reason = hold
        if serving and not at_target:
            return ("failed" if status == "failed" else "updating"), f"{reason}; the previous version serves"
        if serving and at_target:  # e.g. the version was deleted under a running deployment
            return "degraded", reason
        return status, reason
    wanted = max(observation.desired_replicas, 1)
    target = [r for r in observation.replicas if r.revision == deployment.revision]
    if observation.failure is not None and not (serving and at_target):
        if serving:
            return "failed", f"{observation.failure}; the previous version keeps serving"
        return "failed", observation.failure
    if not at_target:
        new_ready = sum(1 for r in target if r.phase == ReplicaPhase.READY)
        if serving:
            return "updating", f"rolling out: {new_ready}/{wanted} new replicas ready"
        return "pending", _first_reason(target) or f"starting replicas (0/{wanted} ready)"
    if serving >= wanted:
        return "ready", None
    troubled = [r for r in target if r.phase in _TROUBLED or r.restarts > 0]
    if serving and not troubled:
        return "ready", f"scaling: {serving}/{wanted} replicas ready"
    if deployment.ready_at is not None:
        return "degraded", _first_reason(troubled) or f"{serving}/{wanted} replicas ready"
    return "pending", _first_reason(target) or f"starting replicas ({serving}/{wanted} ready)"


def _first_reason(replicas: list[Any]) -> str | None:
    for replica in replicas:
        if replica.reason:
            return f"{replica.name}: {replica.reason}"
    return None
