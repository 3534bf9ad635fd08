"""What the cluster holds is valid, not just what PodML sends: after the executor's real work
against kmock (a training job, a deployment, a new revision, scaling, a restart with other settings)
every version of every object kmock stored passes the strict schemas and our own checks, and each
deployment's objects fit together (`manifests.bundle_problems`). A merge patch that leaves an
invalid object (a list half replaced, a key a patch cannot remove) shows here. Also: the
cross-object checks over the chart's matrix, and each of them shown to catch its mistake."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import kmock
import pytest
from kubernetes_asyncio.client import ApiClient

from podml.executors.kubernetes import KubernetesExecutor
from podml.executors.kubernetes_api import KubeApi
from podml.executors.kubernetes_serving import KubernetesServing
from podml.kubernetes.namespaces import Egress, Quota
from podml.kubernetes.serving import LABEL_DEPLOYMENT, chart_values, serving_objects
from podml.resources import Resources
from tests.kubernetes.manifests import bundle_problems, problems
from tests.kubernetes.test_executor_serving import IMAGE as SERVING_IMAGE
from tests.kubernetes.test_executor_serving import _spec as _serving_spec
from tests.kubernetes.test_executor_training import IMAGE as TRAINER_IMAGE
from tests.kubernetes.test_executor_training import _executor
from tests.kubernetes.test_executor_training import _spec as _training_spec
from tests.kubernetes.test_serving_chart import ENVS, MATRIX, _objects, _render

Bundle = list[dict[str, Any]]
CREDENTIALS = "model-credentials"  # a Secret of the sample bundle (`_bundle`)
# What the API server (or a controller) writes, never the client: kmock 0.8 stores request bodies
# as sent and adds none of these, but a newer one (or a test playing a controller) may, and they say
# nothing about what PodML's creates and merge patches leave behind.
SERVER_OWNED = ("uid", "resourceVersion", "generation", "creationTimestamp", "managedFields")


def _as_written(obj: dict[str, Any]) -> dict[str, Any]:
    written = copy.deepcopy(obj)
    written.pop("status", None)
    for field in SERVER_OWNED:
        written.get("metadata", {}).pop(field, None)
    return written


def _stored(k8s: kmock.KubernetesEmulator) -> Bundle:
    return [_as_written(obj.raw) for obj in k8s.objects.values() if not obj.deleted]


def _deployments(k8s: kmock.KubernetesEmulator) -> dict[str, Bundle]:
    """The stored objects of each deployment (by its label)."""
    found: dict[str, Bundle] = {}
    for obj in _stored(k8s):
        labels = obj["metadata"].get("labels") or {}
        if LABEL_DEPLOYMENT in labels:
            found.setdefault(labels[LABEL_DEPLOYMENT], []).append(obj)
    return found


def _fit_together(k8s: kmock.KubernetesEmulator, public: bool) -> None:
    [bundle] = _deployments(k8s).values()
    kinds = {obj["kind"] for obj in bundle}
    assert kinds >= {"Deployment", "Service", "HorizontalPodAutoscaler"}
    assert ("Ingress" in kinds) == public
    assert bundle_problems(bundle) == []


async def test_every_object_the_executor_leaves_in_the_cluster_is_valid(
    k8s: kmock.KubernetesEmulator, kube_api: ApiClient
) -> None:
    """Every state of every object PodML wrote would be admitted by a 1.30 and a current API server."""
    await _executor(kube_api).start_training(_training_spec())
    serving = KubernetesServing(KubeApi(kube_api, retry_delays=(0.01,)), serving_image=SERVING_IMAGE)
    spec = _serving_spec(public=True)
    await serving.apply_serving(spec)
    _fit_together(k8s, public=True)
    # A new revision: another version, with requirements, and other resources.
    env = {
        **spec.env,
        "MODEL_URL": "https://s3.example.com/v2",
        "REQUIREMENTS_URL": "https://s3.example.com/r",
    }
    resources = Resources(cpu_request="500m", memory_request="1Gi", cpu_limit="2", memory_limit="2Gi")
    spec = replace(spec, revision=2, env=env, resources=resources)
    await serving.apply_serving(spec)
    _fit_together(k8s, public=True)
    # Scaled: pinned at 2 (the replica count is patched), then autoscaled again, and made private.
    spec = replace(spec, replicas=2, min_replicas=2, max_replicas=2)
    await serving.apply_serving(spec)
    _fit_together(k8s, public=True)
    spec = replace(spec, min_replicas=1, max_replicas=5, public=False)
    await serving.apply_serving(spec)
    _fit_together(k8s, public=False)
    # A restarted platform with other settings: the namespaces' quota and policies are patched, the
    # deployment's objects too (another Ingress class, public again).
    kube = KubeApi(
        kube_api,
        retry_delays=(0.01,),
        quota=Quota(cpu="8", memory="16Gi", pods=20),
        egress=Egress(
            object_store_cidrs=("10.0.0.0/8",), platform_namespace="ml", ingress_namespace="traefik"
        ),
    )
    await KubernetesExecutor(kube, trainer_image=TRAINER_IMAGE).start_training(_training_spec())
    restarted = KubernetesServing(kube, serving_image=SERVING_IMAGE, ingress_class="traefik")
    await restarted.apply_serving(replace(spec, revision=3, public=True))
    _fit_together(k8s, public=True)

    patched: set[str] = set()
    for key, obj in k8s.objects.items():
        versions = [v for v in obj.history if v is not None]
        if len(versions) > 1:
            patched.add(versions[0]["kind"])
        for number, version in enumerate(versions):
            assert problems(_as_written(version.raw)) == [], (key, number)
    kinds = {"Deployment", "Service", "HorizontalPodAutoscaler", "Ingress", "ResourceQuota", "NetworkPolicy"}
    assert patched >= kinds  # each kind PodML patches was, and every state it left is valid
    assert {obj["kind"] for obj in _stored(k8s)} >= {"Namespace", "ResourceQuota", "LimitRange", "Job"}


@pytest.mark.parametrize(("public", "replicas", "env", "host", "ingress_class"), MATRIX)
def test_the_objects_of_one_deployment_fit_together(
    public: bool, replicas: tuple[int, int, int], env: int, host: str, ingress_class: str
) -> None:
    """The builders' objects and the chart's render (test_serving_chart's matrix) refer to each
    other correctly: the Service reaches the pods, the Ingress the Service, the HPA the Deployment."""
    objects = _objects(public, replicas, ENVS[env], host, ingress_class)
    assert bundle_problems(serving_objects(objects)) == []
    assert bundle_problems(_render(chart_values(objects), objects.namespace)) == []


# ---- each cross-object check catches its mistake --------------------------------------------------


def _bundle() -> Bundle:
    """A public deployment's objects whose pods also use a Secret and a ConfigMap of our own (beside
    whatever the builders' pods already refer to)."""
    built = serving_objects(_objects(True, (2, 1, 5), ENVS[0], "models.example.com"))
    deployment = _of(built, "Deployment")
    namespace = deployment["metadata"]["namespace"]
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    container.setdefault("envFrom", []).append({"secretRef": {"name": CREDENTIALS}})
    token = {"secretKeyRef": {"name": CREDENTIALS, "key": "token"}}
    container["env"].append({"name": "TOKEN", "valueFrom": token})
    items = [{"key": "settings.json", "path": "settings.json"}]
    pod["volumes"].append({"name": "settings", "configMap": {"name": "model-settings", "items": items}})
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": CREDENTIALS, "namespace": namespace},
        "type": "Opaque",
        "stringData": {"token": "t0ken"},
    }
    settings = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "model-settings", "namespace": namespace},
        "data": {"settings.json": "{}"},
    }
    return [*built, secret, settings]


def _of(bundle: Bundle, kind: str) -> dict[str, Any]:
    """The bundle's one object of this kind (`Secret/<name>`: that Secret)."""
    kind, _, name = kind.partition("/")
    [found] = [o for o in bundle if o["kind"] == kind and name in ("", o["metadata"]["name"])]
    return found


def _port(bundle: Bundle) -> dict[str, Any]:
    port: dict[str, Any] = _of(bundle, "Ingress")["spec"]["rules"][0]["http"]["paths"][0]["backend"][
        "service"
    ]
    return port


def _without(kind: str) -> Callable[[Bundle], None]:
    def drop(bundle: Bundle) -> None:
        bundle.remove(_of(bundle, kind))

    return drop


def _set(kind: str, path: str, value: Any) -> Callable[[Bundle], None]:
    """Set a dotted path (list indexes as numbers) of the bundle's object of this kind."""

    def change(bundle: Bundle) -> None:
        *parents, last = path.split(".")
        target: Any = _of(bundle, kind)
        for step in parents:
            target = target[int(step)] if step.isdigit() else target[step]
        target[last] = value

    return change


MISTAKES: list[tuple[str, Callable[[Bundle], None], str]] = [
    (
        "service-selector",
        _set("Service", "spec.selector", {LABEL_DEPLOYMENT: "x"}),
        "matches no pod template",
    ),
    ("target-port-name", _set("Service", "spec.ports.0.targetPort", "grpc"), "targetPort 'grpc' is no port"),
    ("target-port-number", _set("Service", "spec.ports.0.targetPort", 9090), "targetPort 9090 is no port"),
    ("ingress-service", lambda b: _port(b).update(name="model-x"), "routes to Service model-x, not in"),
    ("ingress-port-name", lambda b: _port(b).update(port={"name": "web"}), "routes to port 'web'"),
    ("ingress-port-number", lambda b: _port(b).update(port={"number": 8080}), "routes to port 8080"),
    ("hpa-name", _set("HorizontalPodAutoscaler", "spec.scaleTargetRef.name", "x"), "Deployment x, which"),
    ("hpa-kind", _set("HorizontalPodAutoscaler", "spec.scaleTargetRef.kind", "StatefulSet"), "StatefulSet"),
    ("hpa-api", _set("HorizontalPodAutoscaler", "spec.scaleTargetRef.apiVersion", "apps/v1beta1"), "v1beta1"),
    (
        "no-secret",
        _without(f"Secret/{CREDENTIALS}"),
        "(model-server envFrom) refers to Secret model-credentials, not in",
    ),
    (
        "no-key",
        _set(f"Secret/{CREDENTIALS}", "stringData", {"other": "x"}),
        "(model-server env TOKEN) refers to key 'token'",
    ),
    ("no-config-map", _without("ConfigMap"), "(volume settings) refers to ConfigMap model-settings"),
    ("config-map-key", _set("ConfigMap", "data", {}), "refers to key 'settings.json', not in ConfigMap"),
    (
        "other-namespace",
        _set(f"Secret/{CREDENTIALS}", "metadata.namespace", "user-other"),
        "Secret model-credentials, not in",
    ),
    (
        "pull-secret",
        _set("Deployment", "spec.template.spec.imagePullSecrets", [{"name": "registry"}]),
        "(imagePullSecrets) refers to Secret registry",
    ),
]


def test_the_sample_bundle_is_valid() -> None:
    bundle = _bundle()
    assert bundle_problems(bundle) == []
    for obj in bundle:
        assert problems(obj) == [], obj["kind"]


@pytest.mark.parametrize(("mutate", "expected"), [m[1:] for m in MISTAKES], ids=[m[0] for m in MISTAKES])
def test_each_cross_object_check_catches_its_mistake(mutate: Callable[[Bundle], None], expected: str) -> None:
    bundle = _bundle()
    mutate(bundle)
    found = bundle_problems(bundle)
    assert any(expected in problem for problem in found), found


def test_equivalent_spellings_and_optional_references_pass() -> None:
    """A port by number instead of by name, and a Secret the pod may do without, are fine."""
    bundle = _bundle()
    _set("Service", "spec.ports.0.targetPort", 8080)(bundle)
    _port(bundle)["port"] = {"number": 80}
    container = _of(bundle, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    container["envFrom"][-1]["secretRef"]["optional"] = True
    container["env"][-1]["valueFrom"]["secretKeyRef"]["optional"] = True
    _without(f"Secret/{CREDENTIALS}")(bundle)
    assert bundle_problems(bundle) == []
