"""Ask the reporters, in headless Chromium: the case page loads the panel (htmx, under the console's CSP),
says how many can be asked, takes the question and lists it with its counts; no page errors."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from storage.records import EvidenceRecord, NewReport, TurnRecord
from tests.browser import sign_in
from tests.test_console_browser import Site, Tab, shots, site, tab  # noqa: F401 - fixtures

pytestmark = pytest.mark.asyncio(loop_scope="module")
LINK = "https://t.me/asked_in_the_browser"


async def consenting_reporter(site: Site, n: int) -> None:  # noqa: F811 - not the fixture
    report = NewReport(
        f"BRW{n}-TEST", f"r{n}", "webchat", "ur", "propaganda", "seen", False, (EvidenceRecord("link", LINK),)
    )
    assert (
        await site.storage.commit_turn(TurnRecord("webchat", f"a{n}", f"r{n}", 0, {}, [], (report,)))
    ).status
    yes = TurnRecord("webchat", f"b{n}", f"r{n}", 1, {}, [], contact=b"sealed", updates_for=(report.code,))
    assert (await site.storage.commit_turn(yes)).status.value == "ok"


async def test_an_analyst_asks_from_the_case_page(site: Site, tab: Tab) -> None:  # noqa: F811 - fixtures
    for n in range(2):
        await consenting_reporter(site, n)
    [case] = (await site.cases()).keys()
    page = tab.page
    await sign_in(page, site.base, site.tokens["analyst"])
    await page.goto(f"{site.base}/console/cases/{case}")
    await expect(page.locator("#followup-reach")).to_have_text("2")  # loaded into the section by htmx
    await page.locator("#followup-question").fill("Has the channel changed its name?")
    async with page.expect_navigation():
        await page.locator("#followup-form button[type=submit]").click()
    assert page.url.endswith(f"/console/cases/{case}#followup")
    listed = page.locator("#followup li.followup")
    await expect(listed).to_have_count(1)
    await expect(listed.locator("p[dir=auto]")).to_have_text("Has the channel changed its name?")
    await expect(listed.locator(".n-asked")).to_have_text("2")
    await expect(page.locator("#followup-reach")).to_have_text("0")  # both still have it waiting
    tab.watch.assert_clean()
