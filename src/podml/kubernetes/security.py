"""The security settings every PodML pod gets: what Pod Security's `restricted` level admits."""

from __future__ import annotations

from typing import Any, Final

RUN_AS: Final = 10001  # the images' non-root appuser


def pod_security_context() -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": RUN_AS,
        "runAsGroup": RUN_AS,
        "fsGroup": RUN_AS,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container_security_context() -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }


def scratch_volumes() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Writable /tmp and home directory (emptyDirs) for a read-only root filesystem: (volumes, mounts)."""
    volumes = [{"name": "tmp", "emptyDir": {}}, {"name": "home", "emptyDir": {}}]
    mounts = [
        {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108 - an emptyDir, the pod's own
        {"name": "home", "mountPath": "/home/appuser"},
    ]
    return volumes, mounts


# The kubelet's per-container file for a one-line failure reason (writable on a read-only root);
# the pod contract passes its path as TERMINATION_MESSAGE_PATH.
TERMINATION_LOG: Final = "/dev/termination-log"


def termination_message() -> dict[str, str]:
    """A container's termination-message fields: the program's own words, or its log's end."""
    return {"terminationMessagePath": TERMINATION_LOG, "terminationMessagePolicy": "FallbackToLogsOnError"}
