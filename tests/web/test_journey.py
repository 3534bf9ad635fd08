"""The whole product in a real browser: a new user goes from a CSV to a prediction without a
terminal, and a second user sees none of it. Screenshots of each page land in
test-artifacts/screenshots/; no page may log a console error."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.async_api import Page, expect

from tests.deployments.helpers import linear_model_bytes
from tests.support.csvs import linear_csv
from tests.support.live import Live
from tests.web.browser import Console, chromium, drop_files, new_page, screenshot, web_build

pytestmark = pytest.mark.timeout(420)
PASSWORD = "correct-horse-battery-9"


async def register(page: Page, email: str, name: str, shot: str | None = None) -> None:
    await page.goto("/register/")
    if shot:
        await screenshot(page, shot)
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Display name").fill(name)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Create account").click()
    await expect(page.get_by_role("heading", name="Dashboard")).to_be_visible(timeout=20_000)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_a_new_user_goes_from_a_csv_to_a_prediction(live: Live) -> None:
    web_build()
    root = await live.api.client.get("/")
    assert root.status_code == 200, "podml serve does not serve the web UI at /"
    assert "<html" in root.text
    console = Console()
    tag = uuid.uuid4().hex[:6]
    async with chromium() as browser:
        context, page = await new_page(browser, live.url, console, viewport={"width": 1280, "height": 900})
        await page.goto("/")
        await expect(page).to_have_url(re.compile(r"/login/$"))  # signed out: the sign-in page
        await screenshot(page, "01-login")
        await register(page, f"ada-{tag}@example.com", "Ada", shot="01-register")
        await expect(page.get_by_text("No configuration yet")).to_be_visible()
        await screenshot(page, "02-dashboard-empty")

        # A CSV, dropped on the upload zone.
        await page.get_by_role("link", name="Datasets").click()
        await drop_files(
            page, "[data-testid=dataset-drop]", [(f"prices-{tag}.csv", "text/csv", linear_csv(200))]
        )
        uploaded = page.get_by_text(re.compile(r"Uploaded .*200 rows, 2 columns"))
        await expect(uploaded).to_be_visible(timeout=30_000)
        await screenshot(page, "03-datasets")
        await page.get_by_role("link", name=f"prices-{tag}").first.click()
        await expect(page.get_by_text("Schema: 200 rows")).to_be_visible()
        await screenshot(page, "04-dataset-view")

        # A configuration from the inferred schema, then training.
        await page.get_by_role("link", name="Train a model on it").click()
        await page.get_by_role("checkbox", name=re.compile(r"^x\b")).check()
        await page.get_by_label("Target").select_option("y")
        await page.get_by_label("Model").select_option(label="Linear regression")
        await screenshot(page, "05-new-configuration")
        await page.get_by_role("button", name="Save configuration").click()
        await page.get_by_role("button", name="Start training").click()
        await expect(page).to_have_url(re.compile(r"/jobs/view/\?id="), timeout=20_000)
        await expect(page.get_by_text("succeeded", exact=True)).to_be_visible(timeout=180_000)
        await expect(page.get_by_test_id("metric-r2")).to_be_visible()
        await expect(page.get_by_test_id("chart-predicted-vs-actual")).to_be_visible()
        await screenshot(page, "06-job")

        # The registered version, deployed and tried.
        await page.get_by_role("link", name="open it in the model hub").click()
        deploy = page.get_by_role("button", name="Deploy v1")
        await expect(deploy).to_be_visible(timeout=120_000)
        await screenshot(page, "07-model")
        await deploy.click()
        await expect(page).to_have_url(re.compile(r"/deployments/view/\?id="), timeout=20_000)
        predict = page.get_by_role("button", name="Predict")
        await expect(predict).to_be_enabled(timeout=120_000)
        await expect(page.get_by_test_id("curl-example")).to_contain_text("/api/v1/predict/")
        await page.get_by_label("x").fill("2")
        await predict.click()
        prediction = page.get_by_test_id("prediction")
        await expect(prediction).to_contain_text("Prediction")
        value = float(re.findall(r"-?\d+(?:\.\d+)?", await prediction.inner_text())[0])
        assert value == pytest.approx(8.0, abs=0.1)  # y = 3x + 2
        await screenshot(page, "08-deployment")

        await page.get_by_role("link", name="Dashboard").click()
        await expect(page.get_by_text("succeeded").first).to_be_visible()
        await screenshot(page, "09-dashboard")
        await page.get_by_role("link", name="Jobs", exact=True).click()
        await expect(page.get_by_text("succeeded").first).to_be_visible()
        await screenshot(page, "09-jobs")
        await page.get_by_role("link", name="Model hub", exact=True).click()
        await expect(page.get_by_text("1 version")).to_be_visible()
        await screenshot(page, "09-models")
        await page.get_by_role("link", name="Dashboard").click()
        job_url = await page.get_by_role("link", name=re.compile(r"^[0-9a-f]{8}$")).first.get_attribute(
            "href"
        )

        # Delete the deployment: the list is empty again.
        await page.get_by_role("link", name="Deployments").click()
        await page.get_by_role("link", name=re.compile(r"v1")).first.click()
        await page.get_by_role("button", name="Delete deployment").click()
        await expect(page).to_have_url(re.compile(r"/deployments/$"))
        await expect(page.get_by_text("Nothing deployed yet")).to_be_visible(timeout=20_000)
        await screenshot(page, "10-deployments-empty")
        await context.close()
        assert console.errors == [], console.errors

        # A second user sees none of it, not even through a deep link.
        second_console = Console()
        context, page = await new_page(
            browser, live.url, second_console, viewport={"width": 390, "height": 844}
        )
        await register(page, f"bob-{tag}@example.com", "Bob")
        await screenshot(page, "11-second-user-phone")
        for path, empty in [
            ("/datasets/", "No dataset yet"),
            ("/models/", "No model yet"),
            ("/jobs/", "No job yet"),
            ("/deployments/", "Nothing deployed yet"),
        ]:
            await page.goto(path)
            await expect(page.get_by_text(empty)).to_be_visible()
        assert job_url is not None
        await page.goto(job_url)
        await expect(page.get_by_text("training job not found")).to_be_visible()
        await context.close()
        unexpected = [e for e in second_console.errors if "status of 404" not in e]
        assert unexpected == [], unexpected


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_an_uploaded_model_is_dropped_deployed_and_tried(live: Live) -> None:
    """The model hub's own path: model.joblib and requirements.txt dropped together, built, deployed;
    a model without feature names gets a JSON box in the try-it form."""
    web_build()
    console = Console()
    tag = uuid.uuid4().hex[:6]
    async with chromium() as browser:
        context, page = await new_page(browser, live.url, console)
        await register(page, f"uma-{tag}@example.com", "Uma")
        await page.get_by_role("link", name="Model hub", exact=True).click()
        await expect(page.get_by_text("No model yet")).to_be_visible()
        await page.get_by_label("Model name").fill(f"doubler-{tag}")
        model = ("model.joblib", "application/octet-stream", linear_model_bytes(slope=2.0, intercept=1.0))
        requirements = ("requirements.txt", "text/plain", "scikit-learn\n")  # already installed: no download
        await drop_files(page, "[data-testid=model-drop]", [model, requirements])
        await expect(page.get_by_text("model: model.joblib · requirements: requirements.txt")).to_be_visible()
        await page.get_by_role("button", name="Upload").click()
        await expect(page.get_by_text(re.compile(r"Version v1 uploaded"))).to_be_visible(timeout=30_000)
        await screenshot(page, "12-model-upload")
        await page.get_by_role("link", name=f"doubler-{tag}").click()
        deploy = page.get_by_role("button", name="Deploy v1")
        await expect(deploy).to_be_visible(timeout=120_000)
        await deploy.click()
        predict = page.get_by_role("button", name="Predict")
        await expect(predict).to_be_enabled(timeout=120_000)
        await page.get_by_label("Instances (rows of values, JSON)").fill("[[3, 0]]")
        await predict.click()
        await expect(page.get_by_test_id("prediction")).to_contain_text("7")  # 2 * 3 + 1
        await page.get_by_label("Instances (rows of values, JSON)").fill("[[3]]")
        await predict.click()
        await expect(page.get_by_text("expected 2 values per instance, got 1")).to_be_visible()
        await screenshot(page, "13-uploaded-deployment")
        await page.get_by_role("button", name="Delete deployment").click()
        await expect(page.get_by_text("Nothing deployed yet")).to_be_visible(timeout=20_000)
        await context.close()
    unexpected = [e for e in console.errors if "status of 422" not in e]  # the refused width
    assert unexpected == [], unexpected
