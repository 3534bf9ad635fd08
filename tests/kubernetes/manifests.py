"""Offline checks of Kubernetes objects: the real OpenAPI schemas in strict mode
(`kubernetes-validate`, for 1.30 and the newest version it bundles), plus what the schemas miss:
names, label values, quantities, a selector that matches its pod template, and named ports."""

from __future__ import annotations

import re
from typing import Any

import kubernetes_validate

VERSIONS = ("1.30.0", kubernetes_validate.latest_version())
DNS_1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS_1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|Ki|Mi|Gi|Ti|M|G|T)?$")


def problems(obj: dict[str, Any]) -> list[str]:
    """Everything wrong with one object ([] when it would be accepted)."""
    found: list[str] = []
    for version in VERSIONS:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            found.append(f"{version}: {exc.message} at {'.'.join(str(p) for p in exc.path)}")
    meta = obj.get("metadata", {})
    kind = obj.get("kind")
    name = meta.get("name", "")
    pattern = DNS_1035_LABEL if kind == "Service" else DNS_1123_LABEL
    if len(name) > 63 or not pattern.match(name):
        found.append(f"{kind} name {name!r} is not a valid DNS label")
    for key, value in {**meta.get("labels", {}), **_pod_labels(obj)}.items():
        if len(value) > 63 or not LABEL_VALUE.match(value):
            found.append(f"label {key}={value!r} is not a valid label value")
    for container in _containers(obj):
        for kind_of, amounts in (container.get("resources") or {}).items():
            for resource, amount in amounts.items():
                if not QUANTITY.match(str(amount)):
                    found.append(f"{container['name']} {kind_of}.{resource} {amount!r} is not a quantity")
        ports = {port.get("name") for port in container.get("ports", [])}
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            port = ((container.get(probe) or {}).get("httpGet") or {}).get("port")
            if isinstance(port, str) and port not in ports:
                found.append(f"{probe} uses port {port!r}, which the container does not name")
    if kind == "Deployment":
        wanted = obj["spec"]["selector"]["matchLabels"]
        labels = _pod_labels(obj)
        if any(labels.get(key) != value for key, value in wanted.items()):
            found.append(f"selector {wanted} does not match the pod template's labels {labels}")
    return found


def _pod_labels(obj: dict[str, Any]) -> dict[str, str]:
    template = (obj.get("spec") or {}).get("template") or {}
    labels: dict[str, str] = (template.get("metadata") or {}).get("labels") or {}
    return labels


def _containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    spec = ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}
    containers: list[dict[str, Any]] = spec.get("containers", [])
    return containers
