"""Playwright on Debian's chromium (`apt-get install chromium`; Playwright cannot download a
browser here): headless, with the flags TESTING.md names. A missing browser or a missing UI build
fails the run, never skips it."""

from __future__ import annotations

import base64
import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.async_api import Browser, BrowserContext, ConsoleMessage, Error, Page, async_playwright

FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"


def chromium_path() -> str:
    found = os.environ.get("PODML_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.fail("chromium is not installed: 'make test' installs it (apt-get install -y chromium)")
    return found


def web_build() -> Path:
    out = ROOT / "web" / "out"
    if not (out / "index.html").is_file():
        pytest.fail("the web UI is not built: run 'make web' (make test does it before pytest)")
    return out


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium_path(), headless=True, args=FLAGS)
        try:
            yield browser
        finally:
            await browser.close()


@dataclass
class Console:
    """Every console error and uncaught page error of a browser context."""

    errors: list[str] = field(default_factory=list)

    def watch(self, page: Page) -> None:
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.errors.append(f"page error: {error}"))

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"{message.text} ({message.location.get('url', '')})")


async def new_page(
    browser: Browser, base_url: str, console: Console, **options: object
) -> tuple[BrowserContext, Page]:
    context = await browser.new_context(base_url=base_url, **options)  # type: ignore[arg-type]
    page = await context.new_page()
    console.watch(page)
    return context, page


async def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


async def drop_files(page: Page, selector: str, files: list[tuple[str, str, str | bytes]]) -> None:
    """Drag and drop files (name, MIME type, content) onto an element, as a user would."""
    encoded = [
        (name, kind, base64.b64encode(data if isinstance(data, bytes) else data.encode()).decode())
        for name, kind, data in files
    ]
    transfer = await page.evaluate_handle(
        """(files) => {
            const transfer = new DataTransfer();
            for (const [name, type, b64] of files) {
                const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
                transfer.items.add(new File([bytes], name, { type }));
            }
            return transfer;
        }""",
        encoded,
    )
    await page.dispatch_event(selector, "dragover", {"dataTransfer": transfer})
    await page.dispatch_event(selector, "drop", {"dataTransfer": transfer})


__all__ = ["Console", "Error", "chromium", "drop_files", "new_page", "screenshot", "web_build"]
