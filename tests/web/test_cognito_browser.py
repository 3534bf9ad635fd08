"""Cognito mode in the browser: Amplify Auth (SRP) against ministack on loopback, configured with
`userPoolEndpoint` from the platform's /api/config; the platform verifies the ID tokens against
ministack's JWKS."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from tests.support.ministack import CONFIRMATION_CODE, Ministack
from tests.support.server import podml_serve
from tests.web.browser import Console, chromium, drop_files, new_page, screenshot, web_build

pytestmark = pytest.mark.timeout(240)
PASSWORD = "correct-horse-battery-9"


async def sign_up_and_in(page: Page, email: str, name: str) -> None:
    await page.goto("/register/")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Display name").fill(name)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Create account").click()
    await page.get_by_label("Verification code").fill(CONFIRMATION_CODE)  # ministack's fixed code
    await page.get_by_role("button", name="Verify and sign in").click()
    await expect(page.get_by_role("heading", name="Dashboard")).to_be_visible(timeout=20_000)


async def test_cognito_users_register_confirm_sign_in_and_see_only_their_data(
    ministack: Ministack, tmp_path: Path
) -> None:
    web_build()
    pool = ministack.create_pool()
    env = {**ministack.settings_env(pool), "PODML_SECRET_KEY": "cognito-browser-secret-key-0123456789abcdef"}
    tag = uuid.uuid4().hex[:6]
    console = Console()
    with podml_serve(tmp_path / "srp", env) as server:
        async with chromium() as browser:
            context, page = await new_page(browser, server.url, console)
            await sign_up_and_in(page, f"grace-{tag}@example.com", "Grace")  # SRP, Amplify's default
            await expect(page.get_by_text("Grace")).to_be_visible()
            await screenshot(page, "cognito-01-dashboard")
            await page.get_by_role("link", name="Datasets").click()
            await drop_files(
                page, "[data-testid=dataset-drop]", [(f"mine-{tag}.csv", "text/csv", "a,b\n1,2\n3,4\n")]
            )
            await expect(page.get_by_text(re.compile(r"Uploaded .*2 rows"))).to_be_visible(timeout=20_000)
            await page.get_by_role("button", name="Sign out").click()
            await expect(page).to_have_url(re.compile(r"/login/$"))

            # SRP: a wrong password is refused in words; the right one brings her data back.
            await page.get_by_label("Email").fill(f"grace-{tag}@example.com")
            await page.get_by_label("Password").fill("not-the-password-1")
            await page.get_by_role("button", name="Sign in").click()
            await expect(page.get_by_text("Incorrect username or password")).to_be_visible()
            await expect(page).to_have_url(re.compile(r"/login/$"))
            await screenshot(page, "cognito-02-wrong-password")
            await page.get_by_label("Password").fill(PASSWORD)
            await page.get_by_role("button", name="Sign in").click()
            await expect(page.get_by_role("heading", name="Dashboard")).to_be_visible(timeout=20_000)
            await page.goto("/datasets/")
            await expect(page.get_by_role("link", name=f"mine-{tag}")).to_be_visible()
            await context.close()

            # Another Cognito user sees none of Grace's data.
            context, page = await new_page(browser, server.url, console)
            await sign_up_and_in(page, f"alan-{tag}@example.com", "Alan")
            await page.goto("/datasets/")
            await expect(page.get_by_text("No dataset yet")).to_be_visible()
            await context.close()
    unexpected = [e for e in console.errors if "status of 400" not in e]  # the refused sign-in's 400
    assert unexpected == [], unexpected

    # The other flow the platform offers (PODML_COGNITO_AUTH_FLOW): the password goes to Cognito.
    env["PODML_COGNITO_AUTH_FLOW"] = "USER_PASSWORD_AUTH"
    with podml_serve(tmp_path / "password", env) as server:
        async with chromium() as browser:
            context, page = await new_page(browser, server.url, console)
            await page.goto("/login/")
            await page.get_by_label("Email").fill(f"grace-{tag}@example.com")
            await page.get_by_label("Password").fill("not-the-password-1")
            await page.get_by_role("button", name="Sign in").click()
            await expect(
                page.get_by_role("alert").filter(has_text="Incorrect username or password")
            ).to_be_visible()
            await expect(page).to_have_url(re.compile(r"/login/$"))
            await page.get_by_label("Password").fill(PASSWORD)
            await page.get_by_role("button", name="Sign in").click()
            await expect(page.get_by_role("heading", name="Dashboard")).to_be_visible(timeout=20_000)
            await context.close()
    unexpected = [e for e in console.errors if "status of 400" not in e]  # the refused sign-in's 400
    assert unexpected == [], unexpected
