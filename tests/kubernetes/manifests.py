"""Offline checks of Kubernetes objects: the real OpenAPI schemas in strict mode
(`kubernetes-validate`, for 1.30 and the newest version it bundles), plus what the schemas miss:
names, label values, quantities, a selector that matches its pod template, and named ports
(`problems`, one object at a time); and, between the objects applied together (`bundle_problems`),
the references no single object's schema can check."""

from __future__ import annotations

import re
from typing import Any

import kubernetes_validate

VERSIONS = ("1.30.0", kubernetes_validate.latest_version())
DNS_1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS_1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|Ki|Mi|Gi|Ti|M|G|T)?$")
WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job")
DATA_FIELDS = {"Secret": ("data", "stringData"), "ConfigMap": ("data", "binaryData")}


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


def bundle_problems(objects: list[dict[str, Any]]) -> list[str]:
    """Everything wrong between objects applied together, e.g. one deployment's ([] when they fit):
    a Service whose selector matches no pod template of the bundle, or whose `targetPort` (a name or
    a number) no container of those pods declares; an Ingress backend naming a Service, or a port of
    it (name or number), that the bundle lacks; an HPA whose `scaleTargetRef` (apiVersion, kind,
    name) is no object of the bundle; a pod that refers to a Secret or ConfigMap (envFrom, a key
    ref, a volume, an image pull secret), or a key of one, that the bundle lacks. References are
    resolved in the referring object's namespace; optional ones (`optional: true`) may be absent."""
    found: list[str] = []
    index = {_key(obj): obj for obj in objects}
    for obj in objects:
        kind, namespace, name = _key(obj)
        spec = obj.get("spec") or {}
        if kind == "Service":
            found += _service_problems(obj, [w for w in objects if _key(w)[0] in WORKLOADS])
        elif kind == "Ingress":
            backends = [spec.get("defaultBackend")] + [
                path.get("backend")
                for rule in spec.get("rules") or []
                for path in (rule.get("http") or {}).get("paths") or []
            ]
            for backend in backends:
                wanted = (backend or {}).get("service")
                if wanted is not None:
                    found += _backend_problems(
                        name, wanted, index.get(("Service", namespace, wanted["name"]))
                    )
        elif kind == "HorizontalPodAutoscaler":
            ref = spec["scaleTargetRef"]
            target = index.get((ref["kind"], namespace, ref["name"]))
            if target is None or target.get("apiVersion") != ref.get("apiVersion"):
                found.append(
                    f"HPA {name} scales {ref.get('apiVersion')} {ref['kind']} {ref['name']}, "
                    "which the bundle does not hold"
                )
        for ref_kind, ref_name, key, where in _pod_references(obj):
            held = index.get((ref_kind, namespace, ref_name))
            if held is None:
                found.append(f"{kind} {name} ({where}) refers to {ref_kind} {ref_name}, not in the bundle")
            elif key is not None and not any(key in (held.get(f) or {}) for f in DATA_FIELDS[ref_kind]):
                found.append(f"{kind} {name} ({where}) refers to key {key!r}, not in {ref_kind} {ref_name}")
    return found


def _key(obj: dict[str, Any]) -> tuple[str, str | None, str]:
    meta = obj.get("metadata") or {}
    return obj.get("kind", ""), meta.get("namespace"), meta.get("name", "")


def _service_problems(service: dict[str, Any], workloads: list[dict[str, Any]]) -> list[str]:
    _, namespace, name = _key(service)
    spec = service.get("spec") or {}
    selector: dict[str, str] = spec.get("selector") or {}
    if not selector:  # endpoints managed by hand: nothing to match
        return []
    selected = [
        w
        for w in workloads
        if _key(w)[1] == namespace and all(_pod_labels(w).get(k) == v for k, v in selector.items())
    ]
    if not selected:
        return [f"Service {name}: its selector {selector} matches no pod template of the bundle"]
    found = []
    for port in spec.get("ports") or []:
        target = port.get("targetPort", port["port"])  # the API server defaults it to `port`
        for workload in selected:
            declared = [p for c in _containers(workload) for p in c.get("ports") or []]
            field = "name" if isinstance(target, str) else "containerPort"
            if not any(p.get(field) == target for p in declared):
                found.append(
                    f"Service {name} targetPort {target!r} is no port of {workload['kind']} "
                    f"{_key(workload)[2]}'s containers"
                )
    return found


def _backend_problems(ingress: str, wanted: dict[str, Any], service: dict[str, Any] | None) -> list[str]:
    if service is None:
        return [f"Ingress {ingress} routes to Service {wanted['name']}, not in the bundle"]
    port = wanted.get("port") or {}
    ports = (service.get("spec") or {}).get("ports") or []
    if "name" in port and port["name"] not in {p.get("name") for p in ports}:
        return [
            f"Ingress {ingress} routes to port {port['name']!r}, which Service {wanted['name']} does not name"
        ]
    if "number" in port and port["number"] not in {p.get("port") for p in ports}:
        return [f"Ingress {ingress} routes to port {port['number']}, which Service {wanted['name']} lacks"]
    return []


def _pod_references(obj: dict[str, Any]) -> list[tuple[str, str, str | None, str]]:
    """(kind, name, key or None, where) of each Secret and ConfigMap a pod template needs."""
    spec = (
        obj.get("spec")
        if obj.get("kind") == "Pod"
        else ((obj.get("spec") or {}).get("template") or {}).get("spec")
    )
    if not spec:
        return []
    found: list[tuple[str, str, str | None, str]] = []

    def add(kind: str, ref: dict[str, Any] | None, name_field: str, key: str | None, where: str) -> None:
        if ref is not None and not ref.get("optional", False):
            found.append((kind, ref.get(name_field, ""), key, where))

    containers = [c for field in ("initContainers", "containers") for c in spec.get(field) or []]
    for c in containers:
        for source in c.get("envFrom") or []:
            add("Secret", source.get("secretRef"), "name", None, f"{c['name']} envFrom")
            add("ConfigMap", source.get("configMapRef"), "name", None, f"{c['name']} envFrom")
        for env in c.get("env") or []:
            value_from = env.get("valueFrom") or {}
            for field, kind in (("secretKeyRef", "Secret"), ("configMapKeyRef", "ConfigMap")):
                ref = value_from.get(field)
                add(kind, ref, "name", (ref or {}).get("key"), f"{c['name']} env {env['name']}")
    for volume in spec.get("volumes") or []:
        sources = [volume, *((volume.get("projected") or {}).get("sources") or [])]
        for source in sources:
            secret, config_map = source.get("secret"), source.get("configMap")
            name_field = "secretName" if source is volume else "name"  # a projection says `name`
            for ref, kind, field in ((secret, "Secret", name_field), (config_map, "ConfigMap", "name")):
                for item in (ref or {}).get("items") or [{"key": None}]:
                    add(kind, ref, field, item["key"], f"volume {volume['name']}")
    for secret in spec.get("imagePullSecrets") or []:
        add("Secret", secret, "name", None, "imagePullSecrets")
    return found
