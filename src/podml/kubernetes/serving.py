"""The Kubernetes objects of one deployment: Deployment, Service, HPA and (public ones) an Ingress.

One source of truth, two forms: `serving_objects` builds them in Python for the executor, and
`charts/model-serving` renders them with Helm from `chart_values` of the same `ServingObjects`;
`tests/kubernetes/test_serving_chart.py` proves the two identical over a matrix of values.

Choices:
* `model-<deployment id>` names the Deployment, the Service and the HPA; the selector is the
  deployment id label alone, so a version switch (a new revision in the pod template's labels) is
  a rolling update of the same Deployment: `maxUnavailable: 0`, `maxSurge: 1`, and pods take
  traffic only once `/ready` answers, so no request fails.
* The pod contract's variables (the model's signed URLs among them) are a Secret per revision,
  `model-<deployment id>-r<revision>`, that the container takes whole (`envFrom`). The platform
  re-signs the URLs before they expire by patching that Secret: the pod template does not change,
  so nothing rolls out, and a container that restarts reads the fresh URLs (a kubelet resolves
  `envFrom` at each container start). The URLs stay out of the Deployment, which more people may
  read than Secrets. The executor deletes a revision's Secret once no pod of it is left.
* Pods run as the image's non-root `appuser` (uid 10001) with a read-only root filesystem, no
  privilege escalation, every capability dropped, the runtime's seccomp profile and no service-account
  token: Pod Security `restricted`. `/tmp` and the home directory are `emptyDir`s: the server
  downloads the model there, and a model with requirements installs them there.
* Liveness `GET /health`, readiness `GET /ready` (503 while loading, and while draining after
  SIGTERM, so endpoints drop a stopping pod before it closes). A model that cannot load makes the
  server exit with the loader's words as the termination message (CrashLoopBackOff shows them).
* The HPA scales on CPU (`targetCPU`%, 70 by default) between the deployment's bounds. Knative's
  in-flight target, which the local executor uses, needs a metrics adapter; CPU needs none.
* An Ingress only for `public` deployments: it routes `/api/v1/predict/<id>` straight to the
  model server, which checks no credentials. Private deployments are reached through the gateway.
  The pods say which they are, `podml/public: "true"` or `"false"` (always written, so that the
  merge patch of a deployment turned private overwrites "true"): the namespace's NetworkPolicy
  admits the Ingress controller's traffic to the `"true"` ones only.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any, Final

from podml.kubernetes.labels import LABEL_USER
from podml.kubernetes.namespaces import LABEL_PUBLIC, MODEL_SERVER_NAME
from podml.kubernetes.security import (
    TERMINATION_LOG,
    container_security_context,
    pod_security_context,
    scratch_volumes,
    termination_message,
)

APP_NAME: Final = MODEL_SERVER_NAME
CONTAINER: Final = "model-server"
PORT: Final = 8080
DRAIN_SECONDS: Final = 5  # well inside terminationGracePeriodSeconds (30)
LABEL_DEPLOYMENT: Final = "podml/deployment"
LABEL_REVISION: Final = "podml/revision"


@dataclass(frozen=True)
class ServingObjects:
    """Everything the objects depend on (the chart's values, in Python)."""

    deployment_id: str
    user: str  # the owner's label value (the namespace is per user too)
    namespace: str
    revision: int
    image: str
    env: dict[str, str]
    requests: dict[str, str]
    limits: dict[str, str]
    replicas: int
    min_replicas: int
    max_replicas: int
    target_cpu: int = 70
    public: bool = False
    ingress_class: str = "nginx"
    ingress_host: str = ""
    pull_policy: str = "IfNotPresent"
    extra_labels: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"model-{self.deployment_id}"

    @property
    def secret_name(self) -> str:
        return secret_name(self.deployment_id, self.revision)


def secret_name(deployment_id: str, revision: int) -> str:
    """The Secret holding one revision's pod-contract variables."""
    return f"model-{deployment_id}-r{revision}"


def _labels(objects: ServingObjects) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": APP_NAME,
        "app.kubernetes.io/instance": objects.name,
        "app.kubernetes.io/managed-by": "podml",
        LABEL_DEPLOYMENT: objects.deployment_id,
        LABEL_USER: objects.user,
        **objects.extra_labels,
    }


def _metadata(objects: ServingObjects) -> dict[str, Any]:
    return {"name": objects.name, "namespace": objects.namespace, "labels": _labels(objects)}


def _container(objects: ServingObjects) -> dict[str, Any]:
    probe = {"httpGet": {"path": "/health", "port": "http"}, "periodSeconds": 10, "failureThreshold": 3}
    return {
        "name": CONTAINER,
        "image": objects.image,
        "imagePullPolicy": objects.pull_policy,
        "ports": [{"name": "http", "containerPort": PORT, "protocol": "TCP"}],
        "envFrom": [{"secretRef": {"name": objects.secret_name}}],
        "env": [
            {"name": "PORT", "value": str(PORT)},
            {"name": "HOME", "value": "/home/appuser"},
            # After SIGTERM, /ready answers 503 but the listener stays open this long, while the
            # pod's removal reaches the gateways' watches and kube-proxy: no request is refused.
            {"name": "SHUTDOWN_DRAIN_SECONDS", "value": str(DRAIN_SECONDS)},
            # A model that cannot load exits with the reason here (see `podml.serving.server`).
            {"name": "TERMINATION_MESSAGE_PATH", "value": TERMINATION_LOG},
        ],
        **termination_message(),
        "resources": {"requests": dict(objects.requests), "limits": dict(objects.limits)},
        "livenessProbe": {**probe, "initialDelaySeconds": 5},
        "readinessProbe": {
            "httpGet": {"path": "/ready", "port": "http"},
            "periodSeconds": 2,
            "failureThreshold": 1,
        },
        "startupProbe": {
            "httpGet": {"path": "/health", "port": "http"},
            "periodSeconds": 1,
            "failureThreshold": 60,
        },
        "securityContext": container_security_context(),
        "volumeMounts": scratch_volumes()[1],
    }


def deployment(objects: ServingObjects) -> dict[str, Any]:
    selector = {LABEL_DEPLOYMENT: objects.deployment_id}
    pod_labels = {
        **_labels(objects),
        LABEL_REVISION: str(objects.revision),
        LABEL_PUBLIC: "true" if objects.public else "false",
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(objects),
        "spec": {
            "replicas": objects.replicas,
            "revisionHistoryLimit": 3,
            "selector": {"matchLabels": selector},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {
                "metadata": {"labels": pod_labels},
                "spec": {
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "terminationGracePeriodSeconds": 30,
                    "securityContext": pod_security_context(),
                    "containers": [_container(objects)],
                    "volumes": scratch_volumes()[0],
                },
            },
        },
    }


def secret(objects: ServingObjects) -> dict[str, Any]:
    """The revision's pod-contract variables (`envFrom` of the model server)."""
    labels = {**_labels(objects), LABEL_REVISION: str(objects.revision)}
    built: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": objects.secret_name, "namespace": objects.namespace, "labels": labels},
        "type": "Opaque",
    }
    if objects.env:
        built["data"] = {
            key: base64.b64encode(objects.env[key].encode()).decode() for key in sorted(objects.env)
        }
    return built


def service(objects: ServingObjects) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(objects),
        "spec": {
            "type": "ClusterIP",
            "selector": {LABEL_DEPLOYMENT: objects.deployment_id},
            "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def autoscaler(objects: ServingObjects) -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": _metadata(objects),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": objects.name},
            "minReplicas": objects.min_replicas,
            "maxReplicas": objects.max_replicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": objects.target_cpu},
                    },
                }
            ],
        },
    }


def ingress(objects: ServingObjects) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "http": {
            "paths": [
                {
                    "path": f"/api/v1/predict/{objects.deployment_id}",
                    "pathType": "Exact",
                    "backend": {"service": {"name": objects.name, "port": {"name": "http"}}},
                }
            ]
        }
    }
    if objects.ingress_host:
        rule = {"host": objects.ingress_host, **rule}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {
            **_metadata(objects),
            "annotations": {"nginx.ingress.kubernetes.io/rewrite-target": "/predict"},
        },
        "spec": {"ingressClassName": objects.ingress_class, "rules": [rule]},
    }


def serving_objects(objects: ServingObjects) -> list[dict[str, Any]]:
    """The deployment's objects, in the order they are applied."""
    built = [secret(objects), deployment(objects), service(objects), autoscaler(objects)]
    if objects.public:
        built.append(ingress(objects))
    return built


def chart_values(objects: ServingObjects) -> dict[str, Any]:
    """The values that make `charts/model-serving` render `serving_objects(objects)`."""
    return {
        "deploymentId": objects.deployment_id,
        "user": objects.user,
        "revision": objects.revision,
        "image": {"reference": objects.image, "pullPolicy": objects.pull_policy},
        "env": dict(objects.env),
        "resources": {"requests": dict(objects.requests), "limits": dict(objects.limits)},
        "replicas": {"initial": objects.replicas, "min": objects.min_replicas, "max": objects.max_replicas},
        "autoscaling": {"targetCPUUtilizationPercentage": objects.target_cpu},
        "public": objects.public,
        "ingress": {"className": objects.ingress_class, "host": objects.ingress_host},
        "extraLabels": dict(objects.extra_labels),
    }
