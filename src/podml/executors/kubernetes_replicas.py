"""What a model server's pods and its Deployment say, as the platform's replica states: a pod is
`ready` when its Ready condition is true, `failed` when its container waits in CrashLoopBackOff,
ImagePullBackOff, ErrImagePull or CreateContainerConfigError (with the last termination's reason,
e.g. OOMKilled), `stopping` when it is being deleted, `starting` otherwise."""

from __future__ import annotations

from typing import Any, Final

from podml.executors.base import ReplicaPhase, ReplicaStatus
from podml.executors.kubernetes import terminated_reason
from podml.kubernetes.serving import LABEL_REVISION

CRASHING: Final = frozenset(
    {"CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "CreateContainerConfigError"}
)


def labels_of(obj: Any) -> dict[str, str]:
    return dict(obj.metadata.labels or {}) if obj.metadata is not None else {}


def serves(pod: Any) -> bool:
    """Ready, not terminating, with an address: what an EndpointSlice lists as ready."""
    status = pod.status
    if status is None or not status.pod_ip or pod.metadata.deletion_timestamp is not None:
        return False
    return any(c.type == "Ready" and c.status == "True" for c in status.conditions or [])


def replica_failure(item: Any) -> str | None:
    """The Deployment controller's own complaint: pods it could not create (quota, policy)."""
    for condition in (item.status.conditions or []) if item.status is not None else []:
        if condition.type == "ReplicaFailure" and condition.status == "True":
            return f"Kubernetes could not create the replicas: {condition.message or condition.reason}"
    return None


def replica(pod: Any) -> ReplicaStatus:
    labels = labels_of(pod)
    revision = int(labels.get(LABEL_REVISION, "0") or 0)
    status = pod.status
    statuses = (status.container_statuses or []) if status is not None else []
    restarts = sum(c.restart_count or 0 for c in statuses)
    started = status.start_time.timestamp() if status is not None and status.start_time is not None else None
    url = f"http://{status.pod_ip}:8080" if status is not None and status.pod_ip else None
    reason = None
    for container in statuses:
        last = container.last_state.terminated if container.last_state is not None else None
        if last is not None:
            reason = terminated_reason(last)
    base = {
        "name": pod.metadata.name,
        "revision": revision,
        "restarts": restarts,
        "started_at": started,
        "url": url,
    }
    if pod.metadata.deletion_timestamp is not None:
        return ReplicaStatus(phase=ReplicaPhase.STOPPING, reason=reason, **base)
    for container in statuses:
        waiting = container.state.waiting if container.state is not None else None
        if waiting is not None and waiting.reason in CRASHING:
            detail = reason or f"{waiting.reason}: {waiting.message or ''}".strip(": ")
            return ReplicaStatus(phase=ReplicaPhase.FAILED, reason=detail, **base)
    conditions = {c.type: c.status for c in (status.conditions or [])} if status is not None else {}
    if conditions.get("Ready") == "True":
        return ReplicaStatus(phase=ReplicaPhase.READY, reason=reason, **base)
    return ReplicaStatus(phase=ReplicaPhase.STARTING, reason=reason, **base)
