"""The administrators' quota page in a real browser: an administrator sets a user's quota, sees it
listed, is told in words why a bad value is refused, and removes it; a normal user sees no link to
the page and, through its URL, only that it is for administrators."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Page, expect

from tests.quotas.helpers import new_admin, quota_url
from tests.support.api import ApiUser
from tests.support.live import Live
from tests.web.browser import Console, chromium, new_page, screenshot, web_build

pytestmark = pytest.mark.timeout(180)


async def sign_in(page: Page, user: ApiUser) -> None:
    await page.goto("/login/")
    await page.get_by_label("Email").fill(user.email)
    await page.get_by_label("Password").fill(user.password)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Dashboard")).to_be_visible(timeout=20_000)


@pytest.mark.both_executors  # on Kubernetes the page also shows the user's ResourceQuota
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_an_administrator_sets_and_removes_a_users_quota(live: Live) -> None:
    web_build()
    admin = await new_admin(live.api, live.app)
    bob = await live.api.new_user(display_name="Bob")
    defaults = (await live.api.client.get(quota_url(bob.sub), headers=admin.headers)).json()["defaults"]
    console = Console()
    async with chromium() as browser:
        context, page = await new_page(browser, live.url, console, viewport={"width": 1280, "height": 900})
        await sign_in(page, admin)
        await page.get_by_role("link", name="Quotas", exact=True).click()
        await expect(page).to_have_url(re.compile(r"/admin/quotas/$"))
        await expect(page.get_by_role("heading", name="User quotas")).to_be_visible()
        overrides = page.get_by_role("heading", name=re.compile(r"^Overrides"))
        await expect(overrides).to_be_visible()

        # A sub that is no account's: the API's 404 in words.
        await page.get_by_label("User sub").fill("no-such-sub")
        await page.get_by_role("button", name="Look up").click()
        await expect(page.get_by_text("no account has the sub 'no-such-sub'")).to_be_visible()

        # Bob, looked up by sub: the platform's defaults.
        await page.get_by_label("User sub").fill(bob.sub)
        await page.get_by_role("button", name="Look up").click()
        await expect(page).to_have_url(re.compile(rf"/admin/quotas/\?sub={bob.sub}$"))
        user = page.get_by_test_id("user-quota")
        await expect(user).to_contain_text(bob.email)
        effective = page.get_by_test_id("effective-quota")
        await expect(effective.get_by_role("row", name=re.compile(r"^CPU"))).to_contain_text(
            f"{defaults['cpu']}{defaults['cpu']}follows the default"
        )
        cluster = page.get_by_test_id("cluster-quota")
        if live.kubelet is None:
            await expect(page.get_by_text("Local executor: no namespace to write.")).to_be_visible()
        else:  # Bob has run nothing yet: his namespace is made with his quota on his first job
            await expect(cluster).to_contain_text("not_created")
            await expect(cluster).to_contain_text("Namespace")
        await expect(page.get_by_role("button", name="Remove override")).to_be_disabled()

        # An override: cpu and memory set, pods left to the default.
        await page.get_by_label("CPU").fill("4")
        await page.get_by_label("Memory").fill("8Gi")
        await page.get_by_label("Note").fill("team ml-research")
        await page.get_by_role("button", name="Save override").click()
        await expect(page.get_by_text("Override saved.")).to_be_visible()
        await expect(effective.get_by_role("row", name=re.compile(r"^CPU"))).to_contain_text(
            f"4{defaults['cpu']}4"
        )
        await expect(effective.get_by_role("row", name=re.compile(r"^Pods"))).to_contain_text(
            "follows the default"
        )
        await expect(user).to_contain_text(f"set by {admin.email}")
        listed = page.get_by_test_id("quota-overrides").get_by_role("row").filter(has_text=bob.email)
        await expect(listed).to_contain_text("4")
        await expect(listed).to_contain_text("8Gi")
        await expect(listed).to_contain_text(f"{defaults['pods']} (default)")
        await expect(listed).to_contain_text("team ml-research")
        stored = (await live.api.client.get(quota_url(bob.sub), headers=admin.headers)).json()
        assert (stored["source"], stored["cpu"], stored["memory"]) == ("override", "4", "8Gi")

        # A bad value: the API's 422, in its own words under the field; nothing changes.
        await page.get_by_label("CPU").fill("2x")
        await page.get_by_role("button", name="Save override").click()
        refusal = page.get_by_text("cpu must be a CPU quantity such as 500m, 2 or 1.5 (got '2x')", exact=True)
        await expect(refusal).to_be_visible()
        await expect(page.get_by_label("CPU")).to_have_attribute("aria-invalid", "true")
        not_saved = page.get_by_text("Not saved: the platform refused the values marked above.")
        await expect(not_saved).to_be_visible()
        await expect(page.get_by_text("Override saved.")).to_be_hidden()
        await screenshot(page, "20-admin-quotas" if live.kubelet is None else "20-admin-quotas-kubernetes")
        stored = (await live.api.client.get(quota_url(bob.sub), headers=admin.headers)).json()
        assert stored["cpu"] == "4"

        # Removed: back to the defaults, and no longer listed.
        await page.get_by_role("button", name="Remove override").click()
        await expect(page.get_by_text("Override removed: back to the defaults.")).to_be_visible()
        await expect(refusal).to_be_hidden()
        await expect(effective.get_by_role("row", name=re.compile(r"^CPU"))).to_contain_text(
            f"{defaults['cpu']}{defaults['cpu']}follows the default"
        )
        await expect(page.get_by_label("CPU")).to_have_value("")
        await expect(listed).to_have_count(0)
        await expect(page.get_by_role("button", name="Remove override")).to_be_disabled()
        stored = (await live.api.client.get(quota_url(bob.sub), headers=admin.headers)).json()
        assert (stored["source"], stored["override"]) == ("default", None)

        # A reload of the deep link finds the same user.
        await page.reload()
        await expect(page.get_by_test_id("user-quota")).to_contain_text(bob.email)
        await context.close()
    # The unknown sub and the refused cpu.
    unexpected = [e for e in console.errors if "status of 404" not in e and "status of 422" not in e]
    assert unexpected == [], unexpected


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_a_normal_user_sees_neither_the_link_nor_the_page(live: Live) -> None:
    web_build()
    carol = await live.api.new_user(display_name="Carol")
    refused = await live.api.client.get("/api/v1/admin/quotas", headers=carol.headers)
    assert refused.status_code == 403, refused.text
    console = Console()
    async with chromium() as browser:
        context, page = await new_page(browser, live.url, console)
        await sign_in(page, carol)
        await expect(page.get_by_role("link", name="Jobs", exact=True)).to_be_visible()
        await expect(page.get_by_role("link", name="Quotas")).to_have_count(0)
        await page.goto("/admin/quotas/")
        refusal = page.get_by_role("alert").filter(has_text="Administrators only.")
        await expect(refusal).to_have_text(
            "Administrators only. This page needs the admin role, which your account does not have."
        )
        await expect(page.get_by_label("User sub")).to_have_count(0)
        await screenshot(page, "21-admin-quotas-refused")
        await context.close()
    assert console.errors == [], console.errors
