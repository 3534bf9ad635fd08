"""The users' NetworkPolicies follow the settings (the platform's and the Ingress controller's
namespaces, the object store's and the package index's CIDRs and ports, wired by
`factory.kube_api`), stay strictly valid, and admit the Ingress controller to public model servers
only: the policy's selector matches a public deployment's pods and never a private one's."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client import ApiClient

from podml.config import Settings
from podml.executors import factory
from podml.executors.kubernetes_api import KubeApi
from podml.kubernetes.namespaces import Egress, namespace_name, user_namespace_objects
from podml.kubernetes.serving import ServingObjects, serving_objects
from tests.kubernetes.manifests import problems

SUB = "8f14e45f-ceea-467a-9575-8f5b1c3c1e2d"


def _settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


def _policies(egress: Egress) -> dict[str, dict[str, Any]]:
    objects = user_namespace_objects(SUB, "8f14e45f", egress=egress)
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == "NetworkPolicy"}


def _pods(public: bool) -> dict[str, str]:
    objects = ServingObjects(
        deployment_id=str(uuid.uuid4()),
        user="8f14e45f",
        namespace="user-x",
        revision=1,
        image="kubeserve-base:0.1.0",
        env={},
        requests={"cpu": "100m", "memory": "256Mi"},
        limits={"cpu": "1", "memory": "1Gi"},
        replicas=1,
        min_replicas=1,
        max_replicas=1,
        public=public,
    )
    built = next(o for o in serving_objects(objects) if o["kind"] == "Deployment")
    labels: dict[str, str] = built["spec"]["template"]["metadata"]["labels"]
    return labels


def _selects(policy: dict[str, Any], labels: dict[str, str]) -> bool:
    wanted = policy["spec"]["podSelector"].get("matchLabels", {})
    return all(labels.get(key) == value for key, value in wanted.items())


def test_the_settings_reach_the_policies(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PODML_KUBERNETES_PLATFORM_NAMESPACE", "ml-platform")
    monkeypatch.setenv("PODML_KUBERNETES_INGRESS_NAMESPACE", "traefik")
    monkeypatch.setenv("PODML_KUBERNETES_OBJECT_STORE_CIDRS", "10.20.0.0/16,fd00::/8")
    monkeypatch.setenv("PODML_KUBERNETES_OBJECT_STORE_PORTS", "9000")
    monkeypatch.setenv("PODML_KUBERNETES_PACKAGE_INDEX_CIDRS", "198.51.100.0/24")
    monkeypatch.setenv("PODML_KUBERNETES_PACKAGE_INDEX_PORTS", "443,8443")
    egress = factory.egress(_settings())
    assert egress == Egress(
        object_store_cidrs=("10.20.0.0/16", "fd00::/8"),
        object_store_ports=(9000,),
        index_cidrs=("198.51.100.0/24",),
        index_ports=(443, 8443),
        platform_namespace="ml-platform",
        ingress_namespace="traefik",
    )
    policies = _policies(egress)
    for policy in policies.values():
        assert problems(policy) == [], policy["metadata"]["name"]
    store = policies["allow-dns-and-object-store"]["spec"]["egress"][1]
    assert store == {
        "to": [{"ipBlock": {"cidr": "10.20.0.0/16"}}, {"ipBlock": {"cidr": "fd00::/8"}}],
        "ports": [{"protocol": "TCP", "port": 9000}],
    }
    index = policies["allow-package-index"]["spec"]["egress"]
    assert index == [
        {
            "to": [{"ipBlock": {"cidr": "198.51.100.0/24"}}],
            "ports": [{"protocol": "TCP", "port": 443}, {"protocol": "TCP", "port": 8443}],
        }
    ]

    def source(name: str) -> dict[str, Any]:
        [rule] = policies[name]["spec"]["ingress"]
        assert rule["ports"] == [{"protocol": "TCP", "port": "http"}]
        [peer] = rule["from"]
        return dict(peer)

    assert source("allow-gateway-to-model-servers") == {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ml-platform"}}
    }
    assert source("allow-ingress-controller-to-public-model-servers") == {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "traefik"}}
    }


def test_the_defaults_are_the_previous_policies() -> None:
    egress = factory.egress(_settings(kubernetes_platform_namespace="podml"))
    assert egress == Egress()
    assert (egress.platform_namespace, egress.ingress_namespace) == ("podml", "ingress-nginx")


async def test_kube_api_builds_its_egress_from_the_settings() -> None:
    settings = _settings(
        kubernetes_api_url="http://127.0.0.1:9/",
        kubernetes_platform_namespace="ml-platform",
        kubernetes_object_store_ports="9000",
    )
    kube = factory.kube_api(settings)
    try:
        assert isinstance(kube, KubeApi)
        assert kube.egress == factory.egress(settings)
        assert kube.egress.platform_namespace == "ml-platform"
        assert kube.egress.object_store_ports == (9000,)
    finally:
        factory._kube.pop(id(settings), None)
        await kube.close()


def test_the_ingress_controller_is_admitted_to_public_model_servers_only() -> None:
    policies = _policies(Egress())
    controller = policies["allow-ingress-controller-to-public-model-servers"]
    assert controller["spec"]["policyTypes"] == ["Ingress"]
    public, private = _pods(public=True), _pods(public=False)
    assert (public["podml/public"], private["podml/public"]) == ("true", "false")
    assert _selects(controller, public)
    assert not _selects(controller, private)
    # The gateway reaches both; nothing else admits ingress (default-deny).
    gateway = policies["allow-gateway-to-model-servers"]
    assert _selects(gateway, public)
    assert _selects(gateway, private)
    admitting = [p for p in policies.values() if "ingress" in p["spec"]]
    assert sorted(p["metadata"]["name"] for p in admitting) == [
        "allow-gateway-to-model-servers",
        "allow-ingress-controller-to-public-model-servers",
    ]


@pytest.mark.parametrize("empty", ["object_store_cidrs", "object_store_ports", "index_cidrs", "index_ports"])
def test_an_empty_list_is_refused_it_would_admit_anything(empty: str) -> None:
    with pytest.raises(ValueError, match=f"Egress.{empty} is empty"):
        Egress(**{empty: ()})  # type: ignore[arg-type]


async def test_public_ingresses_take_their_class_and_host_from_the_settings() -> None:
    from podml.executors.base import ServingSpec
    from podml.executors.kubernetes_serving import KubernetesServing
    from podml.kubernetes.serving import ingress
    from podml.resources import Resources

    settings = _settings(
        executor="kubernetes",
        kubernetes_api_url="http://127.0.0.1:9",
        kubernetes_ingress_class="public-nginx",
        kubernetes_ingress_host="podml.example.com",
    )
    serving = factory.build_serving(settings)
    try:
        assert isinstance(serving, KubernetesServing)
        spec = ServingSpec(
            deployment_id=uuid.uuid4(),
            owner_sub=SUB,
            revision=1,
            version_id=uuid.uuid4(),
            env={"MODEL_NAME": "m", "MODEL_URL": "https://s3.example.com/m.joblib?sig=1"},
            resources=Resources(
                cpu_request="200m", memory_request="300Mi", cpu_limit="1", memory_limit="1Gi"
            ),
            replicas=1,
            min_replicas=1,
            max_replicas=1,
            public=True,
        )
        route = ingress(serving.objects(spec, "user-x"))
        assert problems(route) == []
        assert route["spec"]["ingressClassName"] == "public-nginx"
        assert route["spec"]["rules"][0]["host"] == "podml.example.com"
    finally:
        kube = factory._kube.pop(id(settings))
        await kube.close()


async def test_a_changed_setting_reaches_existing_namespaces(kube_api: ApiClient) -> None:
    """A restarted process with other settings re-applies the policies of the namespaces it uses."""
    first = KubeApi(kube_api, retry_delays=(0.01,))
    namespace = await first.ensure_namespace(SUB)
    changed = Egress(
        object_store_cidrs=("10.20.0.0/16",),
        object_store_ports=(9000,),
        index_ports=(8443,),
        platform_namespace="ml-platform",
        ingress_namespace="traefik",
    )
    assert await KubeApi(kube_api, retry_delays=(0.01,), egress=changed).ensure_namespace(SUB) == namespace
    net = client.NetworkingV1Api(kube_api)
    stored = {
        p.metadata.name: kube_api.sanitize_for_serialization(p.spec)
        for p in (await net.list_namespaced_network_policy(namespace)).items
    }
    wanted = {name: policy["spec"] for name, policy in _policies(changed).items()}
    assert stored == wanted
    assert namespace == namespace_name(SUB)


def test_an_object_store_rule_open_to_every_address_is_warned_about() -> None:
    # The defaults work with any object store (AWS S3 has no small CIDR), at the price of letting
    # every pod reach any host on 443 and 9000: the platform says so at start-up until narrowed.
    warning = Egress().object_store_is_anywhere()
    assert warning is not None
    assert "any host on TCP 443, 9000" in warning
    assert "PODML_KUBERNETES_OBJECT_STORE_CIDRS" in warning
    assert Egress(object_store_cidrs=("::/0",)).object_store_is_anywhere() is not None
    narrowed = Egress(object_store_cidrs=("10.244.0.0/16", "52.216.0.0/15"), object_store_ports=(9000,))
    assert narrowed.object_store_is_anywhere() is None
