"""KubernetesServing against kmock: the objects it writes are the builders' (hence the chart's),
scale and version switches patch them, pod states become replica states, delete removes it all.
The tests play the Deployment controller and the kubelet by writing pods and status."""

from __future__ import annotations

import base64
import uuid
from dataclasses import replace
from typing import Any

import kmock
from kubernetes_asyncio import client
from kubernetes_asyncio.client import ApiClient

from podml.executors.base import ReplicaPhase, ServingSpec
from podml.executors.kubernetes_api import KubeApi
from podml.executors.kubernetes_serving import KubernetesServing
from podml.kubernetes.namespaces import Egress, namespace_name
from podml.kubernetes.serving import deployment
from podml.resources import Resources
from tests.kubernetes.manifests import problems

IMAGE = "registry.example.com/kubeserve-base:0.1.0"
OWNER = "3c59dc04-8e26-4c0b-a2f8-2a0b6c1f3e77"


def _spec(**changes: Any) -> ServingSpec:
    spec = ServingSpec(
        deployment_id=uuid.uuid4(),
        owner_sub=OWNER,
        revision=1,
        version_id=uuid.uuid4(),
        env={"MODEL_NAME": "m", "MODEL_URL": "https://s3.example.com/m.joblib?sig=1"},
        resources=Resources(cpu_request="200m", memory_request="300Mi", cpu_limit="1", memory_limit="1Gi"),
        replicas=1,
        min_replicas=1,
        max_replicas=3,
    )
    return replace(spec, **changes)


async def _pod(api: ApiClient, spec: ServingSpec, name: str, revision: int, status: dict[str, Any]) -> None:
    body: Any = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace_name(OWNER),
            "labels": {"podml/deployment": str(spec.deployment_id), "podml/revision": str(revision)},
        },
        "spec": {"containers": [{"name": "model-server", "image": IMAGE}]},
        "status": status,
    }
    core = client.CoreV1Api(api)
    try:
        await core.create_namespaced_pod(namespace_name(OWNER), body)
    except client.ApiException:
        await core.patch_namespaced_pod_status(name, namespace_name(OWNER), {"status": status})


READY = {
    "podIP": "10.1.2.3",
    "conditions": [{"type": "Ready", "status": "True"}],
    "containerStatuses": [
        {
            "name": "model-server",
            "image": IMAGE,
            "imageID": "",
            "ready": True,
            "restartCount": 0,
            "state": {"running": {}},
        }
    ],
}
CRASHING = {
    "conditions": [{"type": "Ready", "status": "False"}],
    "containerStatuses": [
        {
            "name": "model-server",
            "image": IMAGE,
            "imageID": "",
            "ready": False,
            "restartCount": 4,
            "state": {"waiting": {"reason": "CrashLoopBackOff"}},
            "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}},
        }
    ],
}


async def _secret_env(api: ApiClient, name: str) -> dict[str, str]:
    """The pod-contract variables a container of the revision starts with."""
    secret = await client.CoreV1Api(api).read_namespaced_secret(name, namespace_name(OWNER))
    return {key: base64.b64decode(value).decode() for key, value in (secret.data or {}).items()}


async def test_a_deployment_is_written_observed_switched_and_deleted(
    k8s: kmock.KubernetesEmulator, kube_api: ApiClient
) -> None:
    serving = KubernetesServing(KubeApi(kube_api, retry_delays=(0.01,)), serving_image=IMAGE)
    spec = _spec()
    namespace = namespace_name(OWNER)
    await serving.apply_serving(spec)
    await serving.apply_serving(spec)  # idempotent
    apps = client.AppsV1Api(kube_api)
    stored = await apps.read_namespaced_deployment(spec.name, namespace)
    expected = deployment(serving.objects(spec, namespace))
    assert problems(expected) == []
    assert stored.spec.template.spec.containers[0].image == IMAGE
    assert stored.spec.template.metadata.labels["podml/revision"] == "1"
    hpa = await client.AutoscalingV2Api(kube_api).read_namespaced_horizontal_pod_autoscaler(
        spec.name, namespace
    )
    assert (hpa.spec.min_replicas, hpa.spec.max_replicas) == (1, 3)
    service = await client.CoreV1Api(kube_api).read_namespaced_service(spec.name, namespace)
    assert service.spec.selector == {"podml/deployment": str(spec.deployment_id)}

    seen = await serving.observe_serving(spec.deployment_id)
    assert (seen.exists, seen.ready_replicas, serving.endpoints(spec.deployment_id)) == (True, 0, [])
    await _pod(kube_api, spec, "model-a", 1, READY)
    seen = await serving.observe_serving(spec.deployment_id)
    assert seen.ready_replicas == 1
    assert seen.replicas[0].url == "http://10.1.2.3:8080"
    assert serving.endpoints(spec.deployment_id) == [f"http://{spec.name}.{namespace}.svc.cluster.local"]

    # Re-signed URLs for the same revision: the Secret changes, the pod template does not (no
    # rollout), and a container that restarts reads the fresh URLs.
    template = stored.spec.template.to_dict()
    await serving.apply_serving(
        replace(spec, env={**spec.env, "MODEL_URL": "https://s3.example.com/v1?fresh"})
    )
    assert (await apps.read_namespaced_deployment(spec.name, namespace)).spec.template.to_dict() == template
    assert (await _secret_env(kube_api, f"{spec.name}-r1"))["MODEL_URL"] == "https://s3.example.com/v1?fresh"
    assert stored.spec.template.spec.containers[0].env_from[0].secret_ref.name == f"{spec.name}-r1"
    assert "MODEL_URL" not in {e.name for e in stored.spec.template.spec.containers[0].env}

    # A version switch: a new revision in the template; the old pod serves until a new one is ready.
    await serving.apply_serving(
        replace(spec, revision=2, env={**spec.env, "MODEL_URL": "https://s3.example.com/v2"}, max_replicas=5)
    )
    stored = await apps.read_namespaced_deployment(spec.name, namespace)
    assert stored.spec.template.metadata.labels["podml/revision"] == "2"
    assert stored.spec.template.spec.containers[0].env_from[0].secret_ref.name == f"{spec.name}-r2"
    assert (await _secret_env(kube_api, f"{spec.name}-r2"))["MODEL_URL"] == "https://s3.example.com/v2"
    assert await _secret_env(kube_api, f"{spec.name}-r1")  # the old pod may still restart with it
    hpa = await client.AutoscalingV2Api(kube_api).read_namespaced_horizontal_pod_autoscaler(
        spec.name, namespace
    )
    assert hpa.spec.max_replicas == 5
    assert (await serving.observe_serving(spec.deployment_id)).revision == 1  # still the old one
    await _pod(kube_api, spec, "model-b", 2, READY)
    assert (await serving.observe_serving(spec.deployment_id)).revision == 2

    # A process that never applied the spec (an API replica) learns it by listing, from the status
    # the Deployment controller writes.
    status = {"status": {"replicas": 2, "readyReplicas": 1, "updatedReplicas": 1}}
    await apps.patch_namespaced_deployment_status(spec.name, namespace, status)
    other = KubernetesServing(KubeApi(kube_api), serving_image=IMAGE)
    await other.refresh()
    assert other.endpoints(spec.deployment_id) == serving.endpoints(spec.deployment_id)

    # Once no pod of revision 1 is left, its Secret goes at the next apply.
    await client.CoreV1Api(kube_api).delete_namespaced_pod("model-a", namespace)
    await serving.apply_serving(replace(spec, revision=2, max_replicas=5))
    secrets = await client.CoreV1Api(kube_api).list_namespaced_secret(namespace)
    assert [s.metadata.name for s in secrets.items] == [f"{spec.name}-r2"]

    await serving.delete_serving(spec.deployment_id)
    await serving.delete_serving(spec.deployment_id)  # idempotent
    assert (await serving.observe_serving(spec.deployment_id)).exists is False
    assert (await client.CoreV1Api(kube_api).list_namespaced_secret(namespace)).items == []
    assert serving.endpoints(spec.deployment_id) == []


async def test_crashing_replicas_fail_the_deployment_and_public_ones_get_an_ingress(
    kube_api: ApiClient,
) -> None:
    serving = KubernetesServing(KubeApi(kube_api, retry_delays=(0.01,)), serving_image=IMAGE)
    spec = _spec(public=True)
    namespace = namespace_name(OWNER)
    await serving.apply_serving(spec)
    net = client.NetworkingV1Api(kube_api)
    route = await net.read_namespaced_ingress(spec.name, namespace)
    assert route.spec.rules[0].http.paths[0].path == f"/api/v1/predict/{spec.deployment_id}"
    await serving.apply_serving(replace(spec, public=False))
    assert [i.metadata.name for i in (await net.list_namespaced_ingress(namespace)).items] == []

    await _pod(kube_api, spec, "model-x", 1, CRASHING)
    seen = await serving.observe_serving(spec.deployment_id)
    replica = seen.replicas[0]
    assert (replica.phase, replica.restarts, replica.reason) == (
        ReplicaPhase.FAILED,
        4,
        "OOMKilled (exit code 137): it used more than its memory limit",
    )
    assert seen.failure == "OOMKilled (exit code 137): it used more than its memory limit"


async def test_only_a_model_with_requirements_may_reach_the_package_index(kube_api: ApiClient) -> None:
    serving = KubernetesServing(KubeApi(kube_api, retry_delays=(0.01,)), serving_image=IMAGE)
    namespace = namespace_name(OWNER)
    plain = _spec()
    needs = _spec(env={**plain.env, "REQUIREMENTS_URL": "https://s3.example.com/requirements.txt?sig=2"})
    for spec in (plain, needs):
        await serving.apply_serving(spec)
    apps = client.AppsV1Api(kube_api)
    labels = {
        spec.name: (await apps.read_namespaced_deployment(spec.name, namespace)).spec.template.metadata.labels
        for spec in (plain, needs)
    }
    assert labels[plain.name]["podml/needs-index"] == "false"
    assert labels[needs.name]["podml/needs-index"] == "true"
    policy = await client.NetworkingV1Api(kube_api).read_namespaced_network_policy(
        "allow-package-index", namespace
    )
    assert policy.spec.pod_selector.match_labels == {"podml/needs-index": "true"}
    # A switch to a version without requirements takes the access away (merge patches keep
    # labels they do not mention, so "false" is written, not left out).
    await serving.apply_serving(replace(needs, revision=2, env=plain.env))
    switched = await apps.read_namespaced_deployment(needs.name, namespace)
    assert switched.spec.template.metadata.labels["podml/needs-index"] == "false"


async def test_the_ingress_controller_may_reach_public_model_servers_only(kube_api: ApiClient) -> None:
    egress = Egress(platform_namespace="ml-platform", ingress_namespace="traefik")
    serving = KubernetesServing(
        KubeApi(kube_api, retry_delays=(0.01,), egress=egress),
        serving_image=IMAGE,
        ingress_class="public-nginx",
        ingress_host="podml.example.com",
    )
    namespace = namespace_name(OWNER)
    spec = _spec(public=True)
    await serving.apply_serving(spec)
    apps, net = client.AppsV1Api(kube_api), client.NetworkingV1Api(kube_api)
    route = await net.read_namespaced_ingress(spec.name, namespace)
    assert (route.spec.ingress_class_name, route.spec.rules[0].host) == ("public-nginx", "podml.example.com")

    policies = {p.metadata.name: p.spec for p in (await net.list_namespaced_network_policy(namespace)).items}
    gateway = policies["allow-gateway-to-model-servers"]
    [source] = gateway.ingress[0]._from
    assert source.namespace_selector.match_labels == {"kubernetes.io/metadata.name": "ml-platform"}
    controller = policies["allow-ingress-controller-to-public-model-servers"]
    [source] = controller.ingress[0]._from
    assert source.namespace_selector.match_labels == {"kubernetes.io/metadata.name": "traefik"}
    assert [(p.protocol, p.port) for p in controller.ingress[0].ports] == [("TCP", "http")]
    assert controller.policy_types == ["Ingress"]

    def admitted(labels: dict[str, str]) -> bool:
        wanted = controller.pod_selector.match_labels
        return all(labels.get(key) == value for key, value in wanted.items())

    labels = (await apps.read_namespaced_deployment(spec.name, namespace)).spec.template.metadata.labels
    assert labels["podml/public"] == "true"
    assert admitted(labels)
    # Turned private, the merge patch overwrites the label: the controller no longer gets through.
    await serving.apply_serving(replace(spec, public=False, revision=2))
    labels = (await apps.read_namespaced_deployment(spec.name, namespace)).spec.template.metadata.labels
    assert (labels["podml/public"], labels["podml/revision"]) == ("false", "2")
    assert not admitted(labels)
    assert (await net.list_namespaced_ingress(namespace)).items == []


async def test_pods_the_quota_refuses_fail_the_deployment_with_the_api_servers_words(
    kube_api: ApiClient,
) -> None:
    serving = KubernetesServing(KubeApi(kube_api, retry_delays=(0.01,)), serving_image=IMAGE)
    spec = _spec()
    await serving.apply_serving(spec)
    assert (await serving.observe_serving(spec.deployment_id)).failure is None
    message = (
        'pods "model-x-1" is forbidden: exceeded quota: podml-quota, requested: limits.cpu=1, '
        "limited: limits.cpu=2"
    )
    condition = {"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate", "message": message}
    await client.AppsV1Api(kube_api).patch_namespaced_deployment_status(
        spec.name, namespace_name(OWNER), {"status": {"conditions": [condition]}}
    )
    seen = await serving.observe_serving(spec.deployment_id)
    assert seen.failure == f"Kubernetes could not create the replicas: {message}"
