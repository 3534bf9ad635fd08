"""The kind recipe (deploy/kind/) checked without a cluster, on every run.

* deploy/kind/values.yaml passes charts/podml's values schema, renders (with Helm's own engine)
  objects that are strictly valid for Kubernetes 1.30 and the newest version, passes
  `helm lint --strict`, and gives settings the platform accepts in production;
* the plain manifests (PostgreSQL, MinIO, the bucket Job) are strictly valid and agree with the
  values: service names and ports, the bucket, the Secrets, the object-store ports the users'
  NetworkPolicies admit (the rendered settings), the release's namespace, which the chart gives
  the platform as the one those policies admit the gateway from;
* the platform's Ingress raises nginx's body size limit itself (annotations), and the users'
  policies admit ingress-nginx's namespace, the one up.sh installs it in;
* every image the values name is one docker/ builds, and up.sh builds and loads exactly those;
* the scripts parse (`bash -n`), and run their steps in order against stand-ins for docker, kind,
  kubectl, helm and curl that record their arguments (no engine or cluster here), twice: the second
  run reuses the cluster and the Secrets.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import helm_python as helm
import pytest
import yaml

from podml.config import Settings
from podml.executors import factory
from podml.kubernetes.namespaces import Egress
from tests.kubernetes.manifests import problems

ROOT = Path(__file__).resolve().parents[2]
KIND = ROOT / "deploy" / "kind"
CHART = ROOT / "charts" / "podml"
SCRIPTS = ("up.sh", "e2e.sh", "down.sh")
NAMESPACE = "podml"  # up.sh's, the manifests'
RECORD = "\x1e"
FIELD = "\x1f"


def kind_values() -> dict[str, Any]:
    values: dict[str, Any] = yaml.safe_load((KIND / "values.yaml").read_text())
    return values


def render(values: dict[str, Any]) -> list[dict[str, Any]]:
    rendered = helm.Chart.load(CHART).render(values, name="podml", namespace=NAMESPACE)
    return [doc for text in rendered.values() for doc in yaml.safe_load_all(text) if doc]


def manifests() -> list[dict[str, Any]]:
    return [
        doc
        for path in sorted((KIND / "manifests").glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    ]


def containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = obj["spec"]["template"]["spec"]["containers"]
    return found


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def secret_refs(objects: list[dict[str, Any]]) -> set[tuple[str, str]]:
    return {
        (ref["name"], ref["key"])
        for obj in objects
        if "template" in obj.get("spec", {})
        for container in containers(obj)
        for value in env_of(container).values()
        if isinstance(value, dict) and (ref := value.get("secretKeyRef"))
    }


def the(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    matches = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(matches) == 1, f"{kind} {name}: {len(matches)} found"
    return matches[0]


def dockerfile_images() -> dict[str, str]:
    """image -> Dockerfile, from each Dockerfile's own `docker build -f ... -t IMAGE .` line."""
    built: dict[str, str] = {}
    for path in sorted((ROOT / "docker").glob("*.Dockerfile")):
        match = re.search(r"docker build -f (docker/\S+) -t (\S+) \.", path.read_text())
        assert match, f"{path.name} names no `docker build -f ... -t ... .` line"
        assert match.group(1) == f"docker/{path.name}"
        built[match.group(2)] = match.group(1)
    return built


def values_images(values: dict[str, Any]) -> set[str]:
    image = values["image"]
    executor = values["executor"]
    return {f"{image['repository']}:{image['tag']}", executor["trainerImage"], executor["servingImage"]}


# --- The chart with the kind values ----------------------------------------------------------------


def test_the_values_pass_the_schema_and_render_valid_objects() -> None:
    values = kind_values()
    helm.Chart.load(CHART).validate_schema(values)
    objects = render(values)
    assert sorted(o["kind"] for o in objects) == sorted(
        [
            "ClusterRole",
            "ClusterRoleBinding",
            "Deployment",
            "Deployment",
            "Ingress",
            "Service",
            "ServiceAccount",
        ]
    )
    for obj in objects:
        assert problems(obj) == [], obj["kind"]

    api = the(objects, "Deployment", "podml-api")
    env = env_of(containers(api)[0])
    assert env["PODML_EXECUTOR"] == "kubernetes"
    assert env["PODML_PUBLIC_URL"] == values["publicUrl"]
    assert env["PODML_S3_ENDPOINT_URL"] == values["storage"]["endpointUrl"]
    assert env["PODML_IMAGE_PULL_POLICY"] == "IfNotPresent"
    assert containers(api)[0]["image"] == "podml:0.1.0"
    ingress = the(objects, "Ingress", "podml")
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["spec"]["rules"][0]["host"] == urlsplit(values["publicUrl"]).hostname


def rendered_settings(monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The settings the worker reads, from the kind values rendered by the chart."""
    container = containers(the(render(kind_values()), "Deployment", "podml-worker"))[0]
    for name, value in env_of(container).items():
        if isinstance(value, dict):  # from a Secret: what up.sh puts there
            value = {
                "PODML_SECRET_KEY": "0123456789abcdef" * 4,
                "PODML_DATABASE_URL": "postgresql+asyncpg://podml:pw@postgres.podml.svc.cluster.local:5432/podml",
            }.get(name, "from-a-secret")
        monkeypatch.setenv(name, value)
    return Settings(_env_file=None)


def test_the_platform_accepts_the_rendered_settings_in_production(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = rendered_settings(monkeypatch)
    assert settings.env == "production"
    assert (settings.executor, settings.storage_backend) == ("kubernetes", "s3")
    assert settings.image_pull_policy == "IfNotPresent"
    assert (settings.trainer_image, settings.serving_image) == ("podml-trainer:0.1.0", "kubeserve-base:0.1.0")
    # The users' NetworkPolicies admit the gateway from the release's namespace and ingress-nginx
    # (its kind manifest's namespace) to public model servers, whose Ingress is the platform's host.
    egress = factory.egress(settings)
    assert (egress.platform_namespace, egress.ingress_namespace) == (NAMESPACE, "ingress-nginx")
    assert (settings.kubernetes_ingress_class, settings.kubernetes_ingress_host) == ("nginx", "localhost")
    # Users' pods reach MinIO in the cluster's own subnets only, not any host on 443 or 9000.
    subnets = yaml.safe_load((KIND / "kind-config.yaml").read_text())["networking"]
    assert egress.object_store_cidrs == (subnets["podSubnet"], subnets["serviceSubnet"])
    assert egress.object_store_ports == (9000,)
    assert egress == Egress(
        platform_namespace=NAMESPACE, object_store_cidrs=egress.object_store_cidrs, object_store_ports=(9000,)
    )  # otherwise the defaults


def test_the_platforms_ingress_raises_the_body_size_limit_itself() -> None:
    ingress = the(render(kind_values()), "Ingress", "podml")
    annotations = ingress["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/proxy-body-size"] == "1g"
    assert annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"] == "120"
    text = (KIND / "up.sh").read_text()
    assert "configmap" not in text  # the controller keeps its defaults
    assert "k -n ingress-nginx rollout status deployment/ingress-nginx-controller" in text


@pytest.mark.parametrize("kube_version", ["v1.30.0", "v1.33.0"])
def test_helm_lint_strict_with_the_kind_values(kube_version: str) -> None:
    report = helm.lint(CHART, kind_values(), strict=True, kube_version=kube_version)
    errors = [m for m in report["messages"] if m["severity"] >= 2] + report.get("errors", [])
    assert errors == [], errors


# --- The plain manifests ---------------------------------------------------------------------------


def test_the_manifests_are_valid_and_wired_to_each_other() -> None:
    objects = manifests()
    assert {(o["kind"], o["metadata"]["name"]) for o in objects} == {
        ("Service", "postgres"),
        ("StatefulSet", "postgres"),
        ("Service", "minio"),
        ("StatefulSet", "minio"),
        ("Job", "podml-create-bucket"),
    }
    for obj in objects:
        assert problems(obj) == [], obj["kind"]
        # Beside the release (up.sh installs it there; the chart tells the platform its namespace).
        assert obj["metadata"]["namespace"] == NAMESPACE
    for service in (o for o in objects if o["kind"] == "Service"):
        workload = the(objects, "StatefulSet", service["metadata"]["name"])
        assert workload["spec"]["serviceName"] == service["metadata"]["name"]
        pod_labels = workload["spec"]["template"]["metadata"]["labels"]
        for selector in (service["spec"]["selector"], workload["spec"]["selector"]["matchLabels"]):
            assert all(pod_labels.get(k) == v for k, v in selector.items()), selector
        named = {p["name"] for c in containers(workload) for p in c.get("ports", [])}
        assert {p["targetPort"] for p in service["spec"]["ports"]} <= named


def test_the_object_store_is_where_the_values_and_the_network_policies_say(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    values = kind_values()
    objects = manifests()
    endpoint = urlsplit(values["storage"]["endpointUrl"])
    minio = the(objects, "Service", "minio")
    assert endpoint.hostname == f"minio.{minio['metadata']['namespace']}.svc.cluster.local"
    assert endpoint.port in {p["port"] for p in minio["spec"]["ports"]}
    # Pods reach the Service's pod on its container port: one the users' egress policy admits.
    minio_ports = {
        p["containerPort"] for c in containers(the(objects, "StatefulSet", "minio")) for p in c["ports"]
    }
    assert endpoint.port in minio_ports
    assert endpoint.port in factory.egress(rendered_settings(monkeypatch)).object_store_ports

    job = the(objects, "Job", "podml-create-bucket")
    container = containers(job)[0]
    env = env_of(container)
    assert env["BUCKET"] == values["storage"]["bucket"]
    assert env["S3_ENDPOINT_URL"] == values["storage"]["endpointUrl"]
    assert env["AWS_DEFAULT_REGION"] == values["storage"]["region"]
    # It runs the platform image, which up.sh loads into the node before it applies the Job.
    image = values["image"]
    assert container["image"] == f"{image['repository']}:{image['tag']}"
    assert container["command"][:2] == ["python", "-c"]
    compile(container["command"][2], "bucket.yaml", "exec")

    s3 = values["secrets"]["s3"]
    minio_env = env_of(containers(the(objects, "StatefulSet", "minio"))[0])
    assert minio_env["MINIO_ROOT_USER"] == {"secretKeyRef": {"name": s3["name"], "key": s3["accessKeyIdKey"]}}
    assert minio_env["MINIO_ROOT_PASSWORD"] == {
        "secretKeyRef": {"name": s3["name"], "key": s3["secretAccessKeyKey"]}
    }


# --- Images ----------------------------------------------------------------------------------------


def test_every_image_the_values_name_is_one_docker_builds() -> None:
    built = dockerfile_images()
    assert values_images(kind_values()) <= set(built), built
    assert len(built) == 3


# --- The scripts -----------------------------------------------------------------------------------


@pytest.mark.parametrize("script", SCRIPTS)
def test_the_scripts_parse_and_are_executable(script: str) -> None:
    path = KIND / script
    assert (
        subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True, check=False).returncode == 0
    )
    assert path.stat().st_mode & stat.S_IXUSR, f"{script} is not executable"
    text = path.read_text()
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "set -euo pipefail" in text


# Stand-ins for the tools: each records its arguments, kind and kubectl keep a little state (the
# cluster, the Secrets created), and `pytest` records the environment e2e.sh gives it.
STUB = r"""#!/usr/bin/env bash
set -euo pipefail
{ printf '%s' "$(basename "$0")"; printf '\x1f%s' "$@"; printf '\x1e'; } >>"$STUB_LOG"
tool="$(basename "$0")"
all="$*"
case "$tool $all" in
  "kind version"*) echo "kind v0.27.0 go1.23.4 linux/amd64" ;;
  "kind get clusters"*) if [[ -e "$STUB_STATE/cluster" ]]; then echo podml; fi ;;
  "kind create cluster"*) touch "$STUB_STATE/cluster" ;;
  "kind delete cluster"*) rm -f "$STUB_STATE/cluster" ;;
  "kind get kubeconfig"*) echo "apiVersion: v1" ;;
  *" get secret "*)
    name="${all##* get secret }"
    [[ -e "$STUB_STATE/secret-${name%% *}" ]] || exit 1 ;;
  *" create secret generic "*)
    name="${all##* create secret generic }"
    touch "$STUB_STATE/secret-${name%% *}" ;;
  "pytest "*)
    { echo "KUBECONFIG=$KUBECONFIG"; echo "URL=$PODML_CLUSTER_URL"; cat "$KUBECONFIG"; } \
      >"$STUB_STATE/pytest-env" ;;
esac
exit 0
"""


def _tools(tmp_path: Path) -> dict[str, str]:
    bin_dir, state = tmp_path / "bin", tmp_path / "state"
    bin_dir.mkdir()
    state.mkdir()
    for tool in ("docker", "kind", "kubectl", "helm", "curl", "pytest"):
        (bin_dir / tool).write_text(STUB)
        (bin_dir / tool).chmod(0o755)
    return {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "HOME": str(tmp_path),
        "STUB_LOG": str(tmp_path / "calls"),
        "STUB_STATE": str(state),
        "PYTEST": str(bin_dir / "pytest"),
    }


def _run(script: str, env: dict[str, str]) -> list[list[str]]:
    """Run a script with the stand-ins; the calls it made, each as [tool, *args]."""
    log = Path(env["STUB_LOG"])
    log.write_text("")
    done = subprocess.run(
        ["bash", str(KIND / script)], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return [record.split(FIELD) for record in log.read_text().split(RECORD) if record]


def _literals(call: list[str]) -> dict[str, str]:
    pairs = (
        arg.removeprefix("--from-literal=").split("=", 1) for arg in call if arg.startswith("--from-literal=")
    )
    return dict(pairs)


def test_up_builds_loads_and_installs_in_order_then_reuses_what_exists(tmp_path: Path) -> None:
    env = _tools(tmp_path)
    calls = _run("up.sh", env)
    tools = [call[0] for call in calls]
    assert set(tools) == {"docker", "kind", "kubectl", "helm", "curl"}
    # Every kubectl and helm call names the kind cluster's context, never the current one.
    assert all(
        "--context" in c and c[c.index("--context") + 1] == "kind-podml" for c in calls if c[0] == "kubectl"
    )
    assert all(c[1:3] == ["--kube-context", "kind-podml"] for c in calls if c[0] == "helm")

    builds = {c[c.index("-t") + 1]: c[c.index("-f") + 1] for c in calls if c[:2] == ["docker", "build"]}
    assert builds == {image: str(ROOT / path) for image, path in dockerfile_images().items()}
    assert all(c[-1] == str(ROOT) for c in calls if c[:2] == ["docker", "build"])  # the context
    assert set(builds) >= values_images(kind_values())
    [load] = [c for c in calls if c[1:3] == ["load", "docker-image"]]
    assert load[3:5] == ["--name", "podml"]
    assert set(load[5:]) == set(builds)
    [create] = [c for c in calls if c[1:3] == ["create", "cluster"]]
    assert create[create.index("--config") + 1] == str(KIND / "kind-config.yaml")

    def index(predicate: Any) -> int:
        return next(i for i, c in enumerate(calls) if predicate(c))

    order = [
        index(lambda c: c[:2] == ["docker", "build"]),
        index(lambda c: c[1:3] == ["create", "cluster"]),
        index(lambda c: c[1:3] == ["load", "docker-image"]),
        index(
            lambda c: (
                c[0] == "kubectl" and any("ingress-nginx" in a and a.endswith("kind/deploy.yaml") for a in c)
            )
        ),
        index(lambda c: c[0] == "kubectl" and "secret" in c and "create" in c),
        index(lambda c: c[0] == "kubectl" and str(KIND / "manifests" / "postgres.yaml") in c),
        index(lambda c: c[0] == "kubectl" and str(KIND / "manifests" / "bucket.yaml") in c),
        index(lambda c: c[0] == "helm"),
        index(lambda c: c[0] == "curl"),
    ]
    assert order == sorted(order)
    [install] = [c for c in calls if c[0] == "helm"]
    assert install[3:7] == ["upgrade", "--install", "podml", str(CHART)]
    assert install[install.index("--namespace") + 1] == NAMESPACE
    assert install[install.index("-f") + 1] == str(KIND / "values.yaml")

    # The Secrets hold every key the chart and the manifests read, and agree with each other.
    secrets = {c[c.index("generic") + 1]: _literals(c) for c in calls if "generic" in c}
    created = {(name, key) for name, literals in secrets.items() for key in literals}
    assert secret_refs(render(kind_values()) + manifests()) <= created
    database = urlsplit(secrets["podml"]["database-url"])
    postgres = the(manifests(), "Service", "postgres")
    assert database.scheme == "postgresql+asyncpg"
    assert database.hostname == "postgres.podml.svc.cluster.local"
    assert database.port == postgres["spec"]["ports"][0]["port"]
    assert database.password == secrets["podml-postgres"]["password"]
    assert len(secrets["podml"]["secret-key"]) >= 32

    again = _run("up.sh", env)
    assert not [c for c in again if c[1:3] == ["create", "cluster"]]  # the cluster is reused
    assert not [c for c in again if "generic" in c]  # and so are the Secrets
    assert [c[0] for c in again if c[0] == "helm"] == ["helm"]


def test_e2e_runs_the_cluster_tests_with_a_kubeconfig_and_the_url(tmp_path: Path) -> None:
    env = _tools(tmp_path)
    (Path(env["STUB_STATE"]) / "cluster").touch()
    calls = _run("e2e.sh", env)
    [pytest_call] = [c for c in calls if c[0] == "pytest"]
    assert pytest_call[1] == "tests/cluster"
    seen = (Path(env["STUB_STATE"]) / "pytest-env").read_text().splitlines()
    kubeconfig = seen[0].removeprefix("KUBECONFIG=")
    assert seen[1:] == [f"URL={kind_values()['publicUrl']}", "apiVersion: v1"]
    assert not Path(kubeconfig).exists()  # the temporary kubeconfig is removed afterwards
    assert ["kind", "get", "kubeconfig", "--name", "podml"] in calls


def test_down_deletes_the_cluster_once(tmp_path: Path) -> None:
    env = _tools(tmp_path)
    (Path(env["STUB_STATE"]) / "cluster").touch()
    assert ["kind", "delete", "cluster", "--name", "podml"] in _run("down.sh", env)
    assert not [c for c in _run("down.sh", env) if c[1:2] == ["delete"]]


def test_the_kind_node_takes_the_ingress_on_the_hosts_ports_80_and_443() -> None:
    config = yaml.safe_load((KIND / "kind-config.yaml").read_text())
    assert (config["kind"], config["apiVersion"]) == ("Cluster", "kind.x-k8s.io/v1alpha4")
    [node] = [n for n in config["nodes"] if n.get("labels", {}).get("ingress-ready") == "true"]
    mapped = {(m["containerPort"], m["hostPort"]) for m in node["extraPortMappings"]}
    assert {(80, 80), (443, 443)} <= mapped
    assert urlsplit(kind_values()["publicUrl"]).port in (None, 80)
