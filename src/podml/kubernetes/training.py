"""The batch/v1 Job of one training (or build) job, shaped like the PodML brief's manifest.

`train-<job_id>` in the owner's namespace, labels `podml/user`, `podml/job_id`, `podml/config_id`;
container `trainer` running the `podml-trainer` image with the pod contract's environment (signed
URLs); requests/limits from the job's resources. No retries by Kubernetes (`backoffLimit: 0`: the
trainer's failures are deterministic, and the platform decides about retries), the job's timeout as
`activeDeadlineSeconds`, `ttlSecondsAfterFinished` so finished Jobs do not pile up (the platform
copies the logs first), no service-account token, the restricted security context. The trainer
writes its failure reason to the termination log, so the Job's failure reads as it does locally.
"""

from __future__ import annotations

from typing import Any, Final

from podml.executors.base import TRAINER, TrainingJobSpec
from podml.kubernetes.labels import LABEL_USER, user_label
from podml.kubernetes.namespaces import LABEL_NEEDS_INDEX
from podml.kubernetes.security import (
    TERMINATION_LOG,
    container_security_context,
    pod_security_context,
    scratch_volumes,
    termination_message,
)

LABEL_JOB: Final = "podml/job_id"
LABEL_CONFIG: Final = "podml/config_id"
LABEL_KIND: Final = "podml/kind"
TTL_AFTER_FINISHED: Final = 3600


def training_job(
    spec: TrainingJobSpec, namespace: str, image: str, pull_policy: str = "IfNotPresent"
) -> dict[str, Any]:
    labels = {
        "app.kubernetes.io/name": "podml-trainer",
        "app.kubernetes.io/managed-by": "podml",
        LABEL_USER: user_label(spec.owner_sub),
        LABEL_JOB: str(spec.job_id),
        LABEL_KIND: "train" if spec.program == TRAINER else "build",
    }
    if spec.configuration_id is not None:
        labels[LABEL_CONFIG] = str(spec.configuration_id)
    if spec.program != TRAINER and spec.env.get("REQUIREMENTS_URL"):
        # A build that installs a version's requirements: the one kind of job the namespace's
        # `allow-package-index` egress policy admits.
        labels[LABEL_NEEDS_INDEX] = "true"
    volumes, mounts = scratch_volumes()
    resources = spec.resources
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": spec.name, "namespace": namespace, "labels": labels},
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": resources.timeout_seconds,
            "ttlSecondsAfterFinished": TTL_AFTER_FINISHED,
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "restartPolicy": "Never",
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "securityContext": pod_security_context(),
                    "containers": [
                        {
                            "name": "trainer",
                            "image": image,
                            "imagePullPolicy": pull_policy,
                            "command": ["python", "-m", spec.program],
                            "env": [{"name": key, "value": spec.env[key]} for key in sorted(spec.env)]
                            + [
                                {"name": "HOME", "value": "/home/appuser"},
                                {"name": "TERMINATION_MESSAGE_PATH", "value": TERMINATION_LOG},
                            ],
                            # The trainer's one-line reason becomes the pod's termination message;
                            # a crash that wrote none leaves the end of its log there instead.
                            **termination_message(),
                            "resources": {
                                "requests": {
                                    "cpu": resources.cpu_request,
                                    "memory": resources.memory_request,
                                },
                                "limits": {"cpu": resources.cpu_limit, "memory": resources.memory_limit},
                            },
                            "securityContext": container_security_context(),
                            "volumeMounts": mounts,
                        }
                    ],
                    "volumes": volumes,
                },
            },
        },
    }
