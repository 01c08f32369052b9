"""Helpers for the console's browser tests: the real app under uvicorn, Debian's Chromium, a watcher.

Chromium is the distribution's (`make test` installs it), never a downloaded build. The flags keep it
from reaching out to the network, which is closed here and would fill the log with refused connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
import pytest_asyncio
import uvicorn
from playwright.async_api import Browser, ConsoleMessage, Dialog, Error, Page, async_playwright
from starlette.applications import Starlette

from tests.fakes.http_server import PromptServer

CHROMIUM = os.environ.get("RAABTA_CHROMIUM", "/usr/bin/chromium")
HAVE_CHROMIUM = os.path.exists(CHROMIUM)
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextlib.asynccontextmanager
async def serve(app: Starlette) -> AsyncIterator[str]:
    """Run the app on a free port of 127.0.0.1 in this event loop; yields its base URL."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    server = PromptServer(config)
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(500):
            if server.started or task.done():
                break
            await asyncio.sleep(0.01)
        if not server.started:
            await task  # raises what stopped it
            raise RuntimeError("uvicorn did not start")
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


@dataclass
class Watch:
    """Everything a page said that a person would call a bug: uncaught errors, console errors, dialogs."""

    page_errors: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    expected: list[re.Pattern[str]] = field(default_factory=list)

    def attach(self, page: Page) -> None:
        page.on("pageerror", self._page_error)
        page.on("console", self._console)
        page.on("dialog", self._dialog)

    def _page_error(self, error: Error) -> None:
        self.page_errors.append(str(error))

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.console_errors.append(f"{message.text} @ {message.location.get('url', '')}")

    async def _dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        await dialog.dismiss()

    def expect(self, pattern: str) -> None:
        """A console error provoked on purpose (Chromium logs every 4xx page, like a refused post)."""
        self.expected.append(re.compile(pattern))

    def assert_clean(self) -> None:
        unexpected = [e for e in self.console_errors if not any(p.search(e) for p in self.expected)]
        assert not self.page_errors, f"page errors: {self.page_errors}"
        assert not unexpected, f"console errors: {unexpected}"
        assert not self.dialogs, f"dialogs: {self.dialogs}"


async def sign_in(page: Page, base: str, token: str) -> None:
    """Sign in through the form, from the keyboard, as a person would."""
    await page.goto(f"{base}/console/login")
    await page.locator("input[name=token]").fill(token)
    async with page.expect_navigation():
        await page.keyboard.press("Enter")
    assert "/console/login" not in page.url, await page.content()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def chromium() -> AsyncIterator[Browser]:
    """Debian's Chromium for a module's browser tests; a missing browser fails them (never skips)."""
    if not HAVE_CHROMIUM:
        pytest.fail(
            f"{CHROMIUM} is missing: `make test` installs Debian's chromium (apt-get install chromium)"
        )
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        await browser.close()
