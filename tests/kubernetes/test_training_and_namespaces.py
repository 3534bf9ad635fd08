"""The training Job and a user's namespace objects: strictly valid, and shaped as the brief asks."""

from __future__ import annotations

import uuid

import pytest

from podml.executors.base import BUILDER, TrainingJobSpec
from podml.kubernetes.labels import user_label
from podml.kubernetes.namespaces import Egress, Quota, namespace_name, user_namespace_objects
from podml.kubernetes.training import training_job
from podml.resources import Resources
from tests.kubernetes.manifests import problems


def _spec(**changes: object) -> TrainingJobSpec:
    values: dict[str, object] = {
        "job_id": uuid.uuid4(),
        "owner_sub": "8f14e45f-ceea-467a-9575-8f5b1c3c1e2d",
        "configuration_id": uuid.uuid4(),
        "env": {
            "DATASET_URL": "https://s3.example.com/b/datasets/d.csv?X-Amz-Signature=abc",
            "OUTPUT_MODEL_URL": "https://s3.example.com/b/models/m.joblib?X-Amz-Signature=def",
            "X_COLUMNS": '["x"]',
            "Y_COLUMN": "y",
        },
        "resources": Resources(
            cpu_request="250m",
            memory_request="512Mi",
            cpu_limit="2",
            memory_limit="3Gi",
            timeout_seconds=1800,
        ),
    }
    values.update(changes)
    return TrainingJobSpec(**values)  # type: ignore[arg-type]


def test_the_job_is_the_briefs_manifest_made_safe() -> None:
    spec = _spec()
    job = training_job(spec, "user-ada", "registry.example.com/podml-trainer:0.1.0")
    assert problems(job) == []
    assert job["metadata"]["name"] == f"train-{spec.job_id}"
    labels = job["metadata"]["labels"]
    assert labels["podml/user"] == spec.owner_sub
    assert labels["podml/job_id"] == str(spec.job_id)
    assert labels["podml/config_id"] == str(spec.configuration_id)
    job_spec = job["spec"]
    assert (job_spec["backoffLimit"], job_spec["activeDeadlineSeconds"]) == (0, 1800)
    assert job_spec["ttlSecondsAfterFinished"] > 0
    pod = job_spec["template"]["spec"]
    container = pod["containers"][0]
    assert container["name"] == "trainer"
    assert container["command"] == ["python", "-m", "podml.trainer"]
    assert container["resources"] == {
        "requests": {"cpu": "250m", "memory": "512Mi"},
        "limits": {"cpu": "2", "memory": "3Gi"},
    }
    assert {e["name"]: e["value"] for e in container["env"]}["Y_COLUMN"] == "y"
    assert pod["automountServiceAccountToken"] is False
    assert pod["restartPolicy"] == "Never"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["securityContext"]["runAsNonRoot"] is True


def test_defaults_builds_and_odd_subs() -> None:
    job = training_job(
        _spec(resources=Resources(), configuration_id=None, program=BUILDER), "user-x", "podml-trainer:latest"
    )
    assert problems(job) == []
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"] == {
        "requests": {"cpu": "100m", "memory": "256Mi"},
        "limits": {"cpu": "1", "memory": "1Gi"},
    }
    assert container["command"][-1] == BUILDER
    assert "podml/config_id" not in job["metadata"]["labels"]
    assert job["metadata"]["labels"]["podml/kind"] == "build"
    # Only a build that installs requirements may reach the package index; never a training job.
    assert "podml/needs-index" not in job["spec"]["template"]["metadata"]["labels"]
    installs = _spec(program=BUILDER, env={"REQUIREMENTS_URL": "https://s3.example.com/r.txt?sig=1"})
    labels = training_job(installs, "user-x", "podml-trainer:latest")["spec"]["template"]["metadata"][
        "labels"
    ]
    assert labels["podml/needs-index"] == "true"
    trains = _spec(env={"REQUIREMENTS_URL": "https://s3.example.com/r.txt?sig=1"})
    assert (
        "podml/needs-index"
        not in training_job(trains, "user-x", "t")["spec"]["template"]["metadata"]["labels"]
    )
    assert user_label("Google_1234|x@y") == "Google_1234-x-y"
    assert user_label("a" * 80) == "a" * 63


@pytest.mark.parametrize("quota", [Quota(), Quota(cpu="500m", memory="1536Mi", pods=2)])
def test_a_users_namespace_is_isolated(quota: Quota) -> None:
    objects = user_namespace_objects(
        "8F14E45F-ceea-467a-9575-8f5b1c3c1e2d", "8f14e45f", quota, Egress(object_store_cidrs=("10.0.0.0/8",))
    )
    for obj in objects:
        assert problems(obj) == [], obj["kind"]
    kinds = [o["kind"] for o in objects]
    assert kinds[:3] == ["Namespace", "ResourceQuota", "LimitRange"]
    assert kinds.count("NetworkPolicy") == 5
    ns = objects[0]
    assert (
        ns["metadata"]["name"]
        == "user-8f14e45f-ceea-467a-9575-8f5b1c3c1e2d"
        == namespace_name("8F14E45F-ceea-467a-9575-8f5b1c3c1e2d")
    )
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    hard = objects[1]["spec"]["hard"]
    assert (hard["limits.cpu"], hard["limits.memory"], hard["pods"]) == (
        quota.cpu,
        quota.memory,
        str(quota.pods),
    )
    assert all(
        o["metadata"].get("namespace", ns["metadata"]["name"]) == ns["metadata"]["name"] for o in objects
    )
    deny = next(o for o in objects if o["metadata"]["name"] == "default-deny")
    assert deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    index = next(o for o in objects if o["metadata"]["name"] == "allow-package-index")
    assert index["spec"]["podSelector"] == {"matchLabels": {"podml/needs-index": "true"}}
