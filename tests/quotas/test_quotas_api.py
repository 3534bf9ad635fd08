"""Per-user quota overrides over HTTP (both database back ends, local executor): administrators
only, values checked as Kubernetes quantities, set / read / list / reset, defaults from settings.
(tests/kubernetes/test_quotas.py covers the ResourceQuota on a cluster.)"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from fastapi import FastAPI

from podml.auth.principal import Principal
from podml.config import Settings
from podml.jobs.lifecycle import Usage
from podml.kubernetes.namespaces import Quota
from podml.quotas import service as quota_service
from podml.quotas.schemas import UserQuotaUpdate
from podml.resources import Resources
from tests.quotas.helpers import new_admin, quota_url
from tests.support.api import Api


async def _overrides(api: Api, headers: dict[str, str]) -> dict[str, dict[str, Any]]:
    response = await api.client.get("/api/v1/admin/quotas?limit=500", headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["total"] >= len(body["items"])
    return {item["sub"]: item for item in body["items"]}


async def test_only_administrators_may_read_or_change_quotas(api: Api, app: FastAPI) -> None:
    user = await api.new_user()
    other = await api.new_user()
    for method, url, body in [
        ("GET", "/api/v1/admin/quotas", None),
        ("GET", quota_url(other.sub), None),
        ("GET", quota_url(user.sub), None),  # not even one's own: that is an admin's view
        ("PUT", quota_url(user.sub), {"cpu": "64"}),
        ("PUT", quota_url(user.sub), {"cpu": "not a quantity"}),  # 403 before the body is judged
        ("DELETE", quota_url(other.sub), None),
    ]:
        response = await api.client.request(method, url, headers=user.headers, json=body)
        assert response.status_code == 403, (method, url, response.text)
        assert response.json()["detail"].startswith("administrators only: this route needs the admin role")
    admin = await new_admin(api, app)
    assert (await api.client.get(quota_url(user.sub), headers=admin.headers)).json()["source"] == "default"


async def test_a_user_without_an_override_has_the_settings_defaults(api: Api, app: FastAPI) -> None:
    settings: Settings = app.state.settings
    admin = await new_admin(api, app)
    user = await api.new_user(display_name="Ada")
    response = await api.client.get(quota_url(user.sub), headers=admin.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    defaults = {
        "cpu": settings.user_cpu_quota,
        "memory": settings.user_memory_quota,
        "pods": settings.user_pod_quota,
    }
    assert defaults == {"cpu": "2", "memory": "4Gi", "pods": 5}  # the brief's
    assert {key: body[key] for key in defaults} == defaults
    assert body["defaults"] == defaults
    assert (body["sub"], body["source"], body["override"]) == (user.sub, "default", None)
    assert body["account"] == {"email": user.email, "display_name": "Ada", "role": "user", "is_active": True}
    assert body["cluster"] is None  # the local executor has no ResourceQuota to show
    assert user.sub not in await _overrides(api, admin.headers)


async def test_set_read_list_replace_and_reset_an_override(api: Api, app: FastAPI) -> None:
    admin = await new_admin(api, app)
    user = await api.new_user()
    url = quota_url(user.sub)
    body = {"cpu": "4", "memory": "8Gi", "pods": 10, "note": "  team ml-research, ticket OPS-42 "}
    response = await api.client.put(url, headers=admin.headers, json=body)
    assert response.status_code == 200, response.text
    set_ = response.json()
    assert (set_["cpu"], set_["memory"], set_["pods"], set_["source"]) == ("4", "8Gi", 10, "override")
    override = set_["override"]
    assert (override["cpu"], override["memory"], override["pods"]) == ("4", "8Gi", 10)
    assert override["note"] == "team ml-research, ticket OPS-42"
    assert (override["set_by"], override["set_by_email"]) == (admin.sub, admin.email)
    assert override["created_at"]
    assert set_["defaults"] == {"cpu": "2", "memory": "4Gi", "pods": 5}
    assert set_["cluster"] is None
    assert (await api.client.get(url, headers=admin.headers)).json() == set_

    listed = (await _overrides(api, admin.headers))[user.sub]
    assert listed == {**set_, "cluster": None}
    assert listed["account"]["email"] == user.email

    # PUT replaces the whole override: what it leaves out follows the defaults again.
    response = await api.client.put(url, headers=admin.headers, json={"cpu": "500m"})
    assert response.status_code == 200, response.text
    replaced = response.json()
    assert (replaced["cpu"], replaced["memory"], replaced["pods"]) == ("500m", "4Gi", 5)
    assert (replaced["override"]["memory"], replaced["override"]["note"]) == (None, None)
    assert replaced["override"]["created_at"] == override["created_at"]
    assert datetime.fromisoformat(replaced["override"]["updated_at"]) >= datetime.fromisoformat(
        override["updated_at"]
    )

    reset = await api.client.delete(url, headers=admin.headers)
    assert reset.status_code == 200, reset.text
    assert {k: reset.json()[k] for k in ("cpu", "memory", "pods", "source", "override")} == {
        "cpu": "2",
        "memory": "4Gi",
        "pods": 5,
        "source": "default",
        "override": None,
    }
    assert (await api.client.get(url, headers=admin.headers)).json()["source"] == "default"
    assert user.sub not in await _overrides(api, admin.headers)
    again = await api.client.delete(url, headers=admin.headers)  # idempotent: already the defaults
    assert (again.status_code, again.json()["source"]) == (200, "default")


BAD: list[tuple[dict[str, Any], str, str]] = [
    ({"cpu": "2x"}, "cpu", "cpu must be a CPU quantity such as 500m, 2 or 1.5 (got '2x')"),
    ({"cpu": "-1"}, "cpu", "cpu must be a CPU quantity"),
    ({"cpu": "1e3"}, "cpu", "cpu must be a CPU quantity"),
    ({"cpu": "2Gi"}, "cpu", "cpu must be a CPU quantity"),
    ({"cpu": "0"}, "cpu", "cpu must be between 1m and 1024 cores"),
    ({"cpu": "2000"}, "cpu", "cpu must be between 1m and 1024 cores (got '2000')"),
    ({"cpu": "0.0005"}, "cpu", "whole number of millicores"),
    ({"cpu": 2}, "cpu", "Input should be a valid string"),
    ({"memory": "4"}, "memory", "memory must be between 64Mi and 16Ti (got '4')"),
    ({"memory": "4000m"}, "memory", "memory must be a memory quantity such as 512Mi, 4Gi or 8G"),
    ({"memory": "4GB"}, "memory", "memory must be a memory quantity"),
    ({"memory": "17Ti"}, "memory", "memory must be between 64Mi and 16Ti"),
    ({"memory": "1.0000001Ki"}, "memory", "whole number of bytes"),
    ({"pods": 0}, "pods", "greater than or equal to 1"),
    ({"pods": 10_001}, "pods", "less than or equal to 10000"),
    ({"pods": "5"}, "pods", "Input should be a valid integer"),
    ({"pods": 2.5}, "pods", "Input should be a valid integer"),
    ({"pods": True}, "pods", "Input should be a valid integer"),
    ({"cpus": "4"}, "cpus", "Extra inputs are not permitted"),
    ({"note": "x" * 501}, "note", "at most 500 characters"),
    ({}, "", "give at least one of cpu, memory, pods (DELETE returns to the defaults)"),
    ({"cpu": None, "note": "only a note"}, "", "give at least one of cpu, memory, pods"),
]


async def test_bad_values_are_422s_naming_the_field(api: Api, app: FastAPI) -> None:
    admin = await new_admin(api, app)
    user = await api.new_user()
    for body, field, phrase in BAD:
        response = await api.client.put(quota_url(user.sub), headers=admin.headers, json=body)
        assert response.status_code == 422, (body, response.text)
        errors = response.json()["detail"]
        assert len(errors) == 1, (body, errors)
        assert phrase in errors[0]["msg"], (body, errors)
        # The field is the error's location, and the sentence names it too.
        assert errors[0]["loc"] == (["body", field] if field else ["body"]), (body, errors)
    assert (await api.client.get(quota_url(user.sub), headers=admin.headers)).json()["source"] == "default"


async def test_kubernetes_quantity_forms_are_accepted(api: Api, app: FastAPI) -> None:
    admin = await new_admin(api, app)
    user = await api.new_user()
    good: list[tuple[dict[str, Any], tuple[str, str, int]]] = [
        ({"cpu": "1.5", "memory": "512Mi", "pods": 1}, ("1.5", "512Mi", 1)),
        ({"cpu": " 250m ", "memory": "8G"}, ("250m", "8G", 5)),
        ({"cpu": "1024", "memory": "16Ti", "pods": 10_000}, ("1024", "16Ti", 10_000)),
        ({"cpu": "1m", "memory": "64Mi"}, ("1m", "64Mi", 5)),
        ({"memory": "1.5Gi"}, ("2", "1.5Gi", 5)),
        ({"pods": 50}, ("2", "4Gi", 50)),
    ]
    for body, effective in good:
        response = await api.client.put(quota_url(user.sub), headers=admin.headers, json=body)
        assert response.status_code == 200, (body, response.text)
        answer = response.json()
        assert (answer["cpu"], answer["memory"], answer["pods"]) == effective, body


async def test_with_built_in_accounts_an_unknown_sub_is_404(api: Api, app: FastAPI) -> None:
    admin = await new_admin(api, app)
    stranger = str(uuid.uuid4())
    for method, body in [("GET", None), ("PUT", {"cpu": "4"}), ("DELETE", None)]:
        response = await api.client.request(method, quota_url(stranger), headers=admin.headers, json=body)
        assert response.status_code == 404, (method, response.text)
        assert response.json()["detail"] == f"no account has the sub '{stranger}'"
    assert stranger not in await _overrides(api, admin.headers)


async def test_with_cognito_any_sub_may_get_an_override(app: FastAPI) -> None:
    """Cognito users live in the pool, not in the users table: the sub is taken as given."""
    settings = app.state.settings.model_copy(
        update={"auth_mode": "cognito", "cognito_user_pool_id": "eu-west-1_x", "cognito_client_id": "c"}
    )
    admin = Principal(sub=str(uuid.uuid4()), email="ops@example.com", role="admin")
    sub = str(uuid.uuid4())  # has never signed in
    async with app.state.sessionmaker() as session:
        view = await quota_service.update(session, settings, None, admin, sub, UserQuotaUpdate(pods=7))
        assert (view.account, view.source, view.pods, view.cpu) == (None, "override", 7, "2")
        assert (await quota_service.get(session, settings, None, admin, sub)).pods == 7
        reset = await quota_service.delete(session, settings, None, admin, sub)
        assert (reset.source, reset.pods) == ("default", 5)


async def test_the_effective_quota_is_what_the_executor_and_the_scheduler_see(api: Api, app: FastAPI) -> None:
    settings: Settings = app.state.settings
    admin = await new_admin(api, app)
    raised, plain = await api.new_user(), await api.new_user()
    response = await api.client.put(
        quota_url(raised.sub), headers=admin.headers, json={"cpu": "6", "pods": 9}
    )
    assert response.status_code == 200, response.text

    lookup = quota_service.lookup(app.state.sessionmaker, settings)
    assert await lookup(raised.sub) == Quota(cpu="6", memory="4Gi", pods=9)
    assert await lookup(plain.sub) == Quota(cpu="2", memory="4Gi", pods=5)
    async with app.state.sessionmaker() as session:
        quotas = await quota_service.effective_many(session, settings, {raised.sub, plain.sub})
    assert quotas == {raised.sub: await lookup(raised.sub), plain.sub: await lookup(plain.sub)}

    # The reconciler admits a user's jobs while their CPU and memory limits fit that user's quota.
    usage = Usage()
    job = Resources(cpu_limit="2", memory_limit="1Gi")
    for owner in (raised.sub, plain.sub):
        usage.add(owner, job)
    wide = settings.model_copy(update={"max_concurrent_jobs_per_user": 10})
    assert usage.waiting_reason(raised.sub, job, wide, quotas[raised.sub]) is None
    assert usage.waiting_reason(plain.sub, job, wide, quotas[plain.sub]) == (
        "waiting: your running jobs use your CPU quota of 2"
    )
    big = Resources(cpu_limit="8", memory_limit="1Gi")
    assert usage.waiting_reason(raised.sub, big, wide, quotas[raised.sub]) == (
        "waiting: this job's CPU limit 8 is above your CPU quota of 6"
    )
