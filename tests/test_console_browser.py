"""The console in headless Chromium, against the real app served by uvicorn (SQLite).

One browser for the module; each test gets a fresh database, server and browser context. A failing test
leaves a screenshot (its path is printed). Every test ends by asserting the page logged no errors.
"""

from __future__ import annotations

import os
import re
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Browser, BrowserContext, Page, Request, ViewportSize, expect
from sqlalchemy import select, update

from bot.app import create_app
from bot.shared.config import load_settings
from storage.queue import CaseFilter, Queue
from storage.records import EvidenceRecord, NewReport, TurnRecord
from storage.repository import Storage
from storage.schema import cases, reports
from storage.takedowns import Takedowns
from storage.tokens import Tokens
from tests.browser import Watch, serve, sign_in
from tests.conftest import SECRET

pytestmark = pytest.mark.asyncio(loop_scope="module")
DESKTOP: ViewportSize = {"width": 1366, "height": 768}
PHONE: ViewportSize = {"width": 390, "height": 844}
AXE_DESKTOP: ViewportSize = {"width": 1280, "height": 800}


@dataclass
class Site:
    base: str
    storage: Storage
    tokens: dict[str, str]

    async def seed(
        self,
        url: str,
        category: str = "recruitment",
        platform: str = "facebook",
        language: str = "en",
        urgent: bool = False,
        description: str = "seen it",
        scope_check: bool = False,
    ) -> None:
        code = "".join(ch for ch in uuid.uuid4().hex.upper() if ch in "0123456789ABCDEFGHJKMNPQRSTVWXYZ")[:8]
        report = NewReport(
            f"{code[:4]}-{code[4:8]}",
            uuid.uuid4().hex,
            "webchat",
            language,
            category,
            description,
            urgent,
            (EvidenceRecord("link", url, url, platform),),
            scope_check=scope_check,
        )
        result = await self.storage.commit_turn(
            TurnRecord("test", uuid.uuid4().hex, uuid.uuid4().hex, 0, {}, [], (report,))
        )
        assert result.status.value == "ok"

    async def cases(self) -> dict[int, dict[str, object]]:
        page = await Queue(self.storage).list_cases(CaseFilter(), 200)
        return {int(c["id"]): c for c in page.items}


@dataclass
class Tab:
    page: Page
    watch: Watch
    requests: list[str]


@pytest_asyncio.fixture(loop_scope="module")
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    url = f"sqlite+aiosqlite:///{tmp_path}/console.db"
    storage = Storage(url)
    await storage.upgrade()
    settings = load_settings(
        database_url=url, secret_key=SECRET, data_dir=tmp_path / "data", webchat_ip_limit=0
    )
    store = Tokens(storage)
    tokens = {
        role: await store.create(role, role) for role in ("analyst", "supervisor", "counsellor", "admin")
    }
    try:
        async with serve(create_app(settings, storage)) as base:
            yield Site(base, storage, tokens)
    finally:
        await storage.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("console-screenshots")


@pytest_asyncio.fixture(loop_scope="module")
async def tab(chromium: Browser, request: pytest.FixtureRequest, shots: Path) -> AsyncIterator[Tab]:
    context = await chromium.new_context(viewport=DESKTOP)
    page = await context.new_page()
    watch = Watch()
    watch.attach(page)
    requests: list[str] = []

    def seen(req: Request) -> None:
        requests.append(req.url)

    page.on("request", seen)
    failed = request.session.testsfailed
    yield Tab(page, watch, requests)
    if request.session.testsfailed > failed:
        path = shots / f"{request.node.name}.png"
        await page.screenshot(path=str(path), full_page=True)
        print(f"\nscreenshot of the failing page: {path}", file=sys.stderr)
        print(f"screenshot of the failing page: {path}")
    await context.close()


async def test_an_analyst_signs_in_claims_and_decides(site: Site, tab: Tab) -> None:
    page = tab.page
    await site.seed("https://t.me/threats_now", "violent_threat", "telegram", "ur-Latn", urgent=True)
    await site.seed("https://facebook.com/recruiters", "recruitment", scope_check=True)
    await page.goto(f"{site.base}/console/queue")
    assert "/console/login" in page.url
    await page.locator("input[name=token]").fill("rbt_not-a-real-token")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator(".error")).to_contain_text("unknown or revoked")
    tab.watch.expect(r"status of 401 .*/console/login$")
    await page.locator("input[name=token]").fill(site.tokens["analyst"])
    await page.get_by_role("button", name="Sign in").click()
    await expect(page).to_have_url(re.compile(r"/console/queue$"))
    urgent = page.locator(".lane-urgent tr[data-case-row]")
    await expect(urgent).to_have_count(1)
    await expect(urgent).to_contain_text("https://t.me/threats_now")
    scope = page.locator('.lane-all tr[data-case-row]:has-text("recruiters") .badge.scope')
    await expect(scope).to_have_text("scope check")
    await expect(scope).to_have_attribute("title", re.compile("not opinion or a blasphemy accusation"))

    await page.get_by_role("button", name="Claim next").click()
    await expect(page).to_have_url(re.compile(r"/console/cases/1$"))
    await expect(page.locator("h1")).to_contain_text("Case #1")
    opener = page.get_by_role("link", name="Open ↗")
    assert await opener.get_attribute("href") == "https://t.me/threats_now"
    assert await opener.get_attribute("rel") == "noopener noreferrer"
    assert await opener.get_attribute("target") == "_blank"
    await expect(page.locator("#target")).to_have_text("https://t.me/threats_now")

    # a referral without an agency is refused with a clear message; the note typed is kept
    await page.get_by_label("Refer to the platform or an agency").check()
    await page.locator("#decision-note").fill("Channel posts a threat against a rally.")
    await page.get_by_role("button", name="Decide").click()
    await expect(page.locator("#decide .error")).to_contain_text("a referral needs an agency")
    tab.watch.expect(r"status of 400 .*/console/cases/1/decision$")
    await expect(page.locator("#decision-note")).to_have_value("Channel posts a threat against a rally.")
    await page.locator("input[name=agency]").fill("PTA")
    await page.get_by_role("button", name="Decide").click()
    await expect(page).to_have_url(re.compile(r"/console/queue\?decided=1&as=referred$"))
    await expect(page.locator(".flash")).to_have_text("Case #1 decided: referred.")
    case = (await site.cases())[1]
    assert case["status"] == "referred" and case["agency"] == "PTA"
    # the reported page was never loaded, previewed or fetched: every request stayed on the console
    assert tab.requests and all(url.startswith(site.base) for url in tab.requests), tab.requests
    tab.watch.assert_clean()


async def test_the_overview_chart_has_bars_for_the_seeded_data(site: Site, tab: Tab) -> None:
    for i in range(3):
        await site.seed(f"https://facebook.com/r{i}", "recruitment")
    for i in range(2):
        await site.seed(f"https://youtube.com/@p{i}", "propaganda", "youtube", "ur")
    await site.seed("https://t.me/threat", "violent_threat", "telegram", "ur-Latn", urgent=True)
    await sign_in(tab.page, site.base, site.tokens["analyst"])
    page = tab.page
    await page.get_by_role("link", name="Overview").click()
    await expect(page.locator("h1")).to_have_text("Overview")

    async def bars(chart: str) -> dict[str, str]:
        rects = page.locator(f"svg#{chart} rect.bar")
        return {
            str(await r.get_attribute("data-label")): str(await r.get_attribute("data-value"))
            for r in await rects.all()
        }

    assert await bars("chart-category") == {"recruitment": "3", "propaganda": "2", "violent threat": "1"}
    assert await bars("chart-platform") == {"facebook": "3", "youtube": "2", "telegram": "1"}
    assert await bars("chart-language") == {"English": "3", "Urdu": "2", "Roman Urdu": "1"}
    today = datetime.now(UTC).date().isoformat()
    assert await bars("chart-per-day") == {today: "6"}
    # the bars are drawn to scale and visible
    widths = []
    for label in ("recruitment", "propaganda", "violent threat"):
        box = await page.locator(f'svg#chart-category rect.bar[data-label="{label}"]').bounding_box()
        assert box is not None
        widths.append(box["width"])
    assert widths[0] > widths[1] > widths[2] > 0
    await expect(page.locator("svg#chart-category title").first).to_have_text("Reports by category")
    await expect(page.locator(".tile").first).to_contain_text("6")
    tab.watch.assert_clean()


async def test_script_payloads_in_descriptions_stay_inert_text(site: Site, tab: Tab) -> None:
    payload = '<script>alert("xss")</script><img src=x onerror="alert(2)"><b>bold</b>'
    await site.seed("https://facebook.com/page.one", description=payload)
    await site.seed("https://facebook.com/page.one", language="ur", description="یہ صفحہ نفرت پھیلا رہا ہے")
    await site.seed('https://facebook.com/x"><script>alert(3)</script>', "propaganda")
    await sign_in(tab.page, site.base, site.tokens["supervisor"])
    page = tab.page
    await expect(page.locator("tr[data-case-row]")).to_have_count(2)
    await page.goto(f"{site.base}/console/cases/1")
    descriptions = page.locator(".desc")
    await expect(descriptions.first).to_have_text(payload)
    assert await page.locator(".desc script, .desc img, .desc b").count() == 0
    # Urdu reads right to left, English left to right, on the same page
    assert await descriptions.nth(0).evaluate("e => getComputedStyle(e).direction") == "ltr"
    assert await descriptions.nth(1).evaluate("e => getComputedStyle(e).direction") == "rtl"
    assert await descriptions.nth(1).get_attribute("dir") == "auto"
    await page.goto(f"{site.base}/console/cases/2")
    await expect(page.locator("#target")).to_have_text('https://facebook.com/x"><script>alert(3)</script>')
    await page.wait_for_timeout(200)
    assert not tab.watch.dialogs  # nothing ran
    tab.watch.assert_clean()


async def test_a_cross_site_form_post_is_refused(site: Site, tab: Tab) -> None:
    await site.seed("https://facebook.com/target.page")
    await sign_in(tab.page, site.base, site.tokens["analyst"])
    page = tab.page
    stolen = await page.locator("#claim-next input[name=csrf]").get_attribute("value")
    attack = (
        f'<!doctype html><form method="post" action="{site.base}/console/queue/claim">'
        f'<input type="hidden" name="csrf" value="{stolen}"><button>Win a prize</button></form>'
    )
    await page.route(
        "http://attacker.test/**",
        lambda route: route.fulfill(status=200, content_type="text/html", body=attack),
    )
    await page.goto("http://attacker.test/")
    async with page.expect_navigation() as navigation:
        await page.get_by_role("button", name="Win a prize").click()
    response = await navigation.value
    assert response is not None and response.status == 403
    await expect(page.locator(".message")).to_have_text("Refused: this form was sent from another site.")
    # the same post from the console's own origin but without the session's token
    missing = await page.context.request.post(f"{site.base}/console/queue/claim", form={"csrf": ""})
    assert missing.status == 403 and "out of date or forged" in await missing.text()
    assert (await site.cases())[1]["status"] == "new"  # nothing was claimed
    tab.watch.expect(r"status of 403 .*/console/queue/claim$")
    tab.watch.assert_clean()


async def test_done_when_an_analyst_works_five_cases_from_the_keyboard(site: Site, tab: Tab) -> None:
    seeds = [
        ("https://t.me/attack_plans", "violent_threat", "telegram", "ur-Latn", True),
        ("https://facebook.com/join.the.camp", "recruitment", "facebook", "en", False),
        ("https://youtube.com/@glory-videos", "propaganda", "youtube", "ur", False),
        ("https://x.com/donate_here", "financing", "x", "en", False),
        ("https://tiktok.com/@hate.clips", "hate_speech", "tiktok", "ur", False),
        ("https://instagram.com/guns.for.sale", "illicit_trade", "instagram", "en", False),
    ]
    for url, category, platform, language, urgent in seeds:
        await site.seed(url, category, platform, language, urgent)
    page = tab.page
    await sign_in(page, site.base, site.tokens["analyst"])
    await page.keyboard.press("?")
    await expect(page.locator("dialog#help")).to_be_visible()
    await page.keyboard.press("Escape")
    await expect(page.locator("dialog#help")).to_be_hidden()

    # (outcome, arrow presses from the first option, extra field to fill)
    plan = [
        ("monitoring", 2, None),
        ("referred", 0, ("agency", "NCCIA")),
        ("no_action", 3, None),
        ("escalated", 1, None),
        ("merged", 4, ("merge_into", "first")),
    ]
    decided: list[int] = []
    for outcome, arrows, extra in plan:
        await expect(page).to_have_url(re.compile(r"/console/queue"))
        rows = page.locator("tr[data-case-row]")
        await page.keyboard.press("j")
        await page.keyboard.press("j")
        await expect(page.locator("tr.selected")).to_have_attribute(
            "data-case-id", str(await rows.nth(1).get_attribute("data-case-id"))
        )
        await page.keyboard.press("k")
        await expect(page.locator("tr.selected")).to_have_attribute(
            "data-case-id", str(await rows.nth(0).get_attribute("data-case-id"))
        )
        await page.keyboard.press("c")
        await expect(page).to_have_url(re.compile(r"/console/cases/\d+$"))
        number = int(page.url.rsplit("/", 1)[1])
        await page.keyboard.press("d")
        first = page.locator("#decision-form input[name=status]").first
        await expect(first).to_be_focused()
        await page.keyboard.press("Space" if arrows == 0 else "ArrowDown")
        for _ in range(max(0, arrows - 1)):
            await page.keyboard.press("ArrowDown")
        await expect(page.locator("#decision-form input[name=status]:checked")).to_have_value(outcome)
        await page.keyboard.press("Tab")
        await expect(page.locator("#decision-note")).to_be_focused()
        await page.keyboard.type(f"{outcome}: reviewed the page and the reports.")
        if extra is not None:
            field, value = extra
            await page.keyboard.press("Tab")
            if field == "merge_into":  # into the one case still open (a closed one is refused)
                await page.keyboard.press("Tab")
                still_open = [n for n, c in (await site.cases()).items() if c["status"] == "new"]
                assert len(still_open) == 1
                value = str(still_open[0])
            await expect(page.locator(f"input[name={field}]")).to_be_focused()
            await page.keyboard.type(value)
        reason = page.locator("#decision-reason")
        if outcome == "no_action":  # closing needs the reason its reporters are told; only fitting ones
            await expect(reason.locator("option[value=kept_under_watch]")).to_be_disabled()
            await expect(reason.locator("option[value=already_removed]")).to_be_enabled()
            await reason.select_option("already_removed")
        await page.keyboard.press("Control+Enter")
        await expect(page).to_have_url(re.compile(rf"/console/queue\?decided={number}&as={outcome}$"))
        await expect(page.locator(".flash")).to_contain_text(f"Case #{number} decided")
        decided.append(number)

    cases = await site.cases()
    assert [cases[n]["status"] for n in decided] == [outcome for outcome, _, _ in plan]
    assert cases[decided[2]]["reason"] == "already_removed"
    target = cases[decided[4]]["merged_into"]
    assert cases[decided[0]]["status"] == "monitoring" and cases[target]["status"] == "new"
    assert cases[target]["report_count"] == 2

    await page.get_by_role("link", name="Overview").click()
    await expect(page.locator(".tile").nth(2)).to_contain_text("5")

    async def values(chart: str) -> dict[str, int]:
        rects = await page.locator(f"svg#{chart} rect.bar").all()
        return {
            str(await r.get_attribute("data-label")): int(str(await r.get_attribute("data-value")))
            for r in rects
        }

    assert await values("chart-decisions") == {
        "referred": 1,
        "escalated": 1,
        "monitoring": 1,
        "no action": 1,
        "merged": 1,
    }
    assert await values("chart-time") == {"under 1 hour": 5}
    today = datetime.now(UTC).date().isoformat()
    assert await values("chart-decided-per-day") == {today: 5}
    assert set(await values("chart-category")) == {
        "violent threat",
        "recruitment",
        "propaganda",
        "financing",
        "hate speech",
        "illicit trade",
    }
    tab.watch.assert_clean()


async def test_the_queue_refreshes_without_reloading(site: Site, tab: Tab) -> None:
    await site.seed("https://facebook.com/first")
    page = tab.page
    await sign_in(page, site.base, site.tokens["analyst"])
    await expect(page.locator(".lane-all tr[data-case-row]")).to_have_count(1)
    assert await page.locator("#lanes").get_attribute("hx-trigger") == "every 20s, refresh-lanes"
    await page.evaluate("window.stillHere = 42")
    await page.keyboard.press("j")
    await site.seed("https://facebook.com/second", "violent_threat", urgent=True)
    await page.keyboard.press("r")
    await expect(page.locator(".lane-urgent tr[data-case-row]")).to_have_count(1)
    await expect(page.locator(".lane-all tr[data-case-row]")).to_have_count(1)  # urgent: in its lane only
    assert await page.evaluate("window.stillHere") == 42  # the page was not reloaded
    tab.watch.assert_clean()


async def test_signing_out_and_a_revoked_token_end_the_session(site: Site, tab: Tab) -> None:
    page = tab.page
    await sign_in(page, site.base, site.tokens["analyst"])
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.locator(".notice")).to_have_text("You have signed out.")
    await page.goto(f"{site.base}/console/overview")
    await expect(page).to_have_url(re.compile(r"/console/login\?reason=signin"))
    # sign in again, and lose the token while the queue is open: the next refresh signs the page out
    await page.locator("input[name=token]").fill(site.tokens["analyst"])
    await page.keyboard.press("Enter")
    await expect(page).to_have_url(re.compile(r"/console/overview$"))  # back where the session ended
    await page.goto(f"{site.base}/console/queue")
    await Tokens(site.storage).revoke("analyst")
    await page.keyboard.press("r")
    await expect(page).to_have_url(re.compile(r"/console/login\?reason=revoked"))
    await expect(page.locator(".notice")).to_contain_text("revoked")
    tab.watch.expect(r"status of 401 .*/console/queue/lanes\?$")
    tab.watch.assert_clean()


async def signed_in(
    chromium: Browser, site: Site, role: str, viewport: ViewportSize
) -> tuple[BrowserContext, Page, Watch]:
    """A fresh browser context at `viewport`, signed in as `role`, its page watched for errors."""
    context = await chromium.new_context(viewport=viewport)
    page = await context.new_page()
    watch = Watch()
    watch.attach(page)
    await sign_in(page, site.base, site.tokens[role])
    return context, page, watch


async def callback_request(site: Site) -> str:
    """A family asks for a counsellor's call back through the web chat, as a citizen would; its session."""
    session = uuid.uuid4().hex
    async with httpx.AsyncClient(base_url=site.base) as http:
        for body in (
            {"text": "mera beta militant molviyon ki taraf ja raha hai"},
            {"choice": "family:callback"},
            {"choice": "support:yes"},
            {"choice": "time:evening"},
            {"text": "0333 987-6543"},
        ):
            assert (
                await http.post("/webchat/api/messages", json={"session": session, **body})
            ).status_code == 200
    return session


async def test_a_counsellor_shows_the_number_replies_and_closes(site: Site, chromium: Browser) -> None:
    """A family's callback request from the web chat, worked on a phone-sized screen, with no page error."""
    session = await callback_request(site)
    async with httpx.AsyncClient(base_url=site.base) as http:
        context, page, watch = await signed_in(chromium, site, "counsellor", PHONE)
        await expect(page).to_have_url(re.compile(r"/console/support$"))
        await page.get_by_role("button", name="Take").click()  # only who took it sees the number
        await expect(page).to_have_url(re.compile(r"/console/support/1\?taken=1$"))
        await page.get_by_role("button", name="Show number").click()
        await expect(page.locator("#phone-number")).to_have_text("03339876543")
        await expect(page.locator("#phone")).to_contain_text("recorded in the audit log under your name")
        assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        await page.locator("#reply-text").fill("Assalam o alaikum, main counsellor hoon.")
        await page.locator("#reply-text").press("Control+Enter")
        await expect(page.locator(".flash")).to_contain_text("on its way to the family")
        await expect(page.locator("#phone-number")).to_have_count(0)  # the number is not kept on the page
        pulled = await http.get("/webchat/api/messages", params={"session": session})
        assert [m["text"] for m in pulled.json()["messages"]] == ["Assalam o alaikum, main counsellor hoon."]
        await page.locator("#close-note").fill("Called back.")
        await page.get_by_role("button", name="Close request").click()
        await expect(page).to_have_url(re.compile(r"/console/support\?closed=1$"))
        await expect(page.locator(".flash")).to_contain_text("closed.")
        await expect(page.locator("table.support .status")).to_have_text("done")
        watch.assert_clean()
        await context.close()


async def test_pages_fit_a_laptop_and_a_phone(site: Site, chromium: Browser) -> None:
    """No page scrolls sideways at 1366x768 or 390x844. RAABTA_SCREENSHOTS=DIR keeps a picture of each."""
    keep = os.environ.get("RAABTA_SCREENSHOTS")
    await site.seed(
        "https://facebook.com/a.very.long.page.name.that.goes.on.and.on.for.a.while", "recruitment"
    )
    await site.seed(
        "https://t.me/urgent_one", "violent_threat", "telegram", "ur", True, "یہ لوگ حملے کی بات کر رہے ہیں"
    )
    for viewport in (DESKTOP, PHONE):
        for role, paths in (
            # the case page twice: waiting, then held (its decision form, whose reasons are long, once
            # pushed the page past a phone's edge)
            ("analyst", ["/console/queue", "/console/cases/2", "claim", "/console/overview"]),
            ("analyst", ["/console/search?q=%D8%AD%D9%85%D9%84%DB%92", "/console/search?q=t.me/urgent_one"]),
            ("supervisor", ["/console/workload"]),
            ("counsellor", ["/console/support"]),
            ("admin", ["/console/tokens"]),
        ):
            context, page, watch = await signed_in(chromium, site, role, viewport)
            for path in paths:
                if path == "claim":
                    if await page.locator("#claim-this").count():  # held already at the other size
                        await page.locator("#claim-this button").click()
                    await expect(page.locator("#decision-form")).to_be_visible()
                    path = page.url.removeprefix(site.base) + "-held"
                else:
                    await page.goto(site.base + path)
                if keep:
                    name = (
                        f"{viewport['width']}x{viewport['height']}{re.sub(r'[^A-Za-z0-9-]', '-', path)}.png"
                    )
                    await page.screenshot(path=str(Path(keep) / name), full_page=True)
                wide = await page.evaluate("document.documentElement.scrollWidth")
                assert wide <= viewport["width"], (path, viewport, wide)
            watch.assert_clean()
            await context.close()
    if keep:
        print(f"console screenshots: {keep}")


async def test_done_when_an_analyst_finds_by_code_url_variant_and_urdu_words_then_claims_in_a_filter(
    site: Site, chromium: Browser
) -> None:
    """Issue 22's first checks, at phone size: the search box in the header finds a case by a code typed
    in lower case with a space, by a variant of its link, and by an Urdu phrase typed with other letter
    forms; claim next on a platform filter takes that platform's case."""
    await site.seed("https://youtube.com/watch?v=dQw4w9WgXcQ", "propaganda", "youtube")
    await site.seed(
        "https://t.me/hamla_kal",
        "violent_threat",
        "telegram",
        "ur",
        description="یہ لوگ جلسے پر حملے کی بات کر رہے ہیں",
    )
    await site.seed("https://instagram.com/p/Cxyz123", "hate_speech", "instagram")
    async with site.storage.db.read() as conn:
        found = await conn.execute(
            select(cases.c.canonical_url, reports.c.code).join(cases, cases.c.id == reports.c.case_id)
        )
        codes = {str(url): str(code) for url, code in found.all()}
    ids = {str(c["canonical_url"]): n for n, c in (await site.cases()).items()}
    context, page, watch = await signed_in(chromium, site, "analyst", PHONE)

    async def search(query: str) -> None:
        await page.keyboard.press("/")
        await expect(page.locator("#search-q")).to_be_focused()
        await page.keyboard.type(query)
        async with page.expect_navigation():
            await page.keyboard.press("Enter")

    # a code read out over the phone: lower case, a space for the dash -> straight to its case
    code = codes["https://t.me/hamla_kal"]
    await search(code.lower().replace("-", " "))
    await expect(page).to_have_url(re.compile(rf"/console/cases/{ids['https://t.me/hamla_kal']}$"))

    # the mobile link with a language parameter finds the case of the canonical video
    await search("https://m.youtube.com/watch?v=dQw4w9WgXcQ&lang=en")
    await expect(
        page.locator(f'a[href="/console/cases/{ids["https://youtube.com/watch?v=dQw4w9WgXcQ"]}"]').first
    ).to_be_visible()

    # Urdu words typed on an Arabic keyboard (ي for ی, ك for ک) still find the description
    await search("حملے كي بات")
    await expect(
        page.locator(f'a[href="/console/cases/{ids["https://t.me/hamla_kal"]}"]').first
    ).to_be_visible()
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

    # claim next within platform=instagram takes the Instagram case, not the higher-priority threat
    await page.goto(f"{site.base}/console/queue?platform=instagram")
    async with page.expect_navigation():
        await page.keyboard.press("c")
    await expect(page).to_have_url(re.compile(rf"/console/cases/{ids['https://instagram.com/p/Cxyz123']}$"))
    await expect(page.locator("#decision-form")).to_be_visible()
    watch.assert_clean()
    await context.close()


async def test_done_when_a_referral_a_still_online_check_and_a_removal_reach_the_removal_chart(
    site: Site, chromium: Browser
) -> None:
    """Issue 22: an analyst refers a case, records the notice sent to Meta, a check that finds the page
    still online, then its removal, and the overview's time-to-removal chart shows Meta and facebook."""
    await site.seed("https://facebook.com/recruiting.page", "recruitment")
    context, page, watch = await signed_in(chromium, site, "analyst", PHONE)
    await page.get_by_role("button", name="Claim next").click()
    await expect(page).to_have_url(re.compile(r"/console/cases/1$"))
    await page.get_by_label("Refer to the platform or an agency").check()
    await page.locator("#decision-note").fill("Recruiting page, notice to Meta.")
    await page.locator("input[name=agency]").fill("Meta")
    await page.get_by_role("button", name="Decide").click()
    await expect(page).to_have_url(re.compile(r"/console/queue\?decided=1&as=referred$"))

    await page.goto(f"{site.base}/console/cases/1")
    takedown = page.locator("#takedown")
    await expect(takedown).to_contain_text("No notice recorded yet")
    await takedown.locator("select[name=notice_agency]").select_option("Meta")
    await takedown.locator("input[name=notice_reference]").fill("META-CASE-4411")
    await takedown.get_by_role("button", name="Record notice").click()
    await expect(page.locator("#takedown")).to_contain_text("META-CASE-4411")
    await page.locator("#check-form button[value=still_online]").click()
    await expect(page.locator("#takedown .takedown-state")).to_contain_text("still online")
    await page.locator("#check-form button[value=removed]").click()
    await expect(page.locator("#takedown .takedown-state")).to_contain_text("Seen removed")
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

    await page.goto(f"{site.base}/console/overview")
    await expect(page.locator("#tile-removal")).to_contain_text("1 removed")
    for chart, label in (("#chart-removal-agency", "Meta"), ("#chart-removal-platform", "facebook")):
        await expect(page.locator(f"{chart} text.label")).to_contain_text([label])
    watch.assert_clean()
    await context.close()


async def axe_check(page: Page, name: str, found: list[str]) -> None:
    """axe-core (the copy bundled by axe-playwright-python) on the page as it stands; violations are kept
    in `found` under the page's name, so one run lists every page's problems."""
    await page.wait_for_load_state("networkidle")  # the case page's follow-up section arrives by htmx
    results = await Axe().run(page)
    if results.violations_count:
        found.append(f"== {name}\n{results.generate_report()}")


@pytest.mark.parametrize("viewport", [PHONE, AXE_DESKTOP], ids=["phone", "desktop"])
async def test_every_console_page_passes_axe(site: Site, chromium: Browser, viewport: ViewportSize) -> None:
    """axe-core finds no violation on any page a signed-in user reaches (and the sign-in page), at phone
    and desktop size: the console had only ever been checked by eye, unlike the citizens' web chat. Each
    page is seeded to show its optional parts: urgent and scope-check badges, a brigading warning, a
    referral's takedown history, a held case's decision form, a support request's phone section, the bulk
    action preview and its result, an error page, the keyboard help dialog."""
    await site.seed(
        "https://t.me/urgent_one", "violent_threat", "telegram", "ur", True, "یہ لوگ حملے کی بات کر رہے ہیں"
    )
    await site.seed("https://facebook.com/recruiters", "recruitment", scope_check=True)
    await site.seed("https://instagram.com/p/Cxyz123", "hate_speech", "instagram")
    await site.seed("https://youtube.com/@glory-videos", "propaganda", "youtube", "ur-Latn")
    await site.seed("https://x.com/donate_here", "financing", "x")
    await site.seed("https://t.me/urgent_one/45", "violent_threat", "telegram")  # same channel: a duplicate
    # a second report of the Instagram post, by a reporter who asked for updates: they can be asked
    asked = NewReport(
        "AXE1-TEST",
        "r-axe",
        "webchat",
        "en",
        "hate_speech",
        "again",
        False,
        (EvidenceRecord("link", "https://instagram.com/p/Cxyz123"),),
    )
    assert (
        await site.storage.commit_turn(TurnRecord("webchat", "a-axe", "r-axe", 0, {}, [], (asked,)))
    ).status
    agreed = TurnRecord("webchat", "b-axe", "r-axe", 1, {}, [], contact=b"sealed", updates_for=(asked.code,))
    assert (await site.storage.commit_turn(agreed)).status.value == "ok"
    ids = {str(c["canonical_url"]): n for n, c in (await site.cases()).items()}
    waiting, held = ids["https://instagram.com/p/Cxyz123"], ids["https://youtube.com/@glory-videos"]
    referred, careful = ids["https://x.com/donate_here"], ids["https://facebook.com/recruiters"]
    queue = Queue(site.storage)
    await queue.claim_case(referred, "analyst")
    await queue.decide(referred, "analyst", "referred", "Donation drive for a banned group.", agency="PTA")
    takedowns = Takedowns(site.storage)
    await takedowns.record_referral(referred, "analyst", "PTA", "pta", "PTA-0042")
    await takedowns.record_check(referred, "analyst", "still_online", "still there")
    async with site.storage.writer.begin() as conn:
        await conn.execute(
            update(cases).where(cases.c.id == careful).values(needs_care=True, care_reason="a burst")
        )
    await queue.add_note(careful, "analyst", "Looks like a campaign against a journalist.")
    await callback_request(site)
    found: list[str] = []

    async def bulk_note(page: Page) -> None:
        await page.goto(f"{site.base}/console/queue")
        await page.locator("table[data-lane=all] input[data-pick]").first.check()
        await page.locator("#bulk-box summary").click()
        await page.locator("#bulk input[name=action][value=note]").check()
        await page.locator("#bulk-note").fill("part of one network")
        async with page.expect_navigation():
            await page.locator("#bulk button[type=submit]").click()
        await expect(page.locator("h2#bulk-will-title")).to_be_visible()

    context = await chromium.new_context(viewport=viewport)
    page = await context.new_page()
    watch = Watch()
    watch.attach(page)
    size = f"{viewport['width']}x{viewport['height']}"
    # signed out: the sign-in page, plain, after a refused token, and after a revoked session
    await page.goto(f"{site.base}/console/login")
    await axe_check(page, f"{size} /console/login", found)
    await page.locator("input[name=token]").fill("rbt_not-a-real-token")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.locator(".error")).to_be_visible()
    watch.expect(r"status of 401 .*/console/login$")
    await axe_check(page, f"{size} /console/login (refused)", found)
    await page.goto(f"{site.base}/console/login?reason=revoked")
    await axe_check(page, f"{size} /console/login?reason=revoked", found)
    await context.close()

    search_hit = "/console/search?q=%D8%AD%D9%85%D9%84%DB%92"  # حملے
    shows = {  # the optional part each seeded page is visited for is there to be checked
        f"/console/cases/{referred}": "#takedown table.takedown-checks",
        f"/console/cases/{careful}": ".care-warning",
        f"/console/cases/{waiting}/followups": "#followup-question",
        search_hit: f'a[href="/console/cases/{ids["https://t.me/urgent_one"]}"]',
        "/console/cases/9999": ".error-page",
        "/console/support/1": "#phone",
    }
    plan: dict[str, list[str]] = {
        "analyst": [
            "/console/queue",
            "help",
            "unfold",
            "/console/queue?platform=instagram",
            "/console/queue?platform=instagram&category=financing",
            f"/console/cases/{waiting}",
            f"/console/cases/{held}",
            "claim",
            "refused",
            f"/console/cases/{referred}",
            f"/console/cases/{careful}",
            f"/console/cases/{waiting}/followups",
            "ask",
            "/console/overview",
            search_hit,
            "/console/search?q=nothing-matches-this",
            "bulk",
            "/console/cases/9999",
            "decide",
            "nothing to claim",
        ],
        "supervisor": [
            "/console/queue",
            f"/console/cases/{waiting}",
            "/console/workload",
            "/console/audit",
            "/console/support/1",
        ],
        "counsellor": ["/console/support", "/console/support/1", "take", "reveal", "close"],
        "admin": ["/console/tokens", "unfold", "create token", "/console/audit", "/console/overview"],
    }
    for role, steps in plan.items():
        context, page, watch = await signed_in(chromium, site, role, viewport)
        for step in steps:
            name = f"{size} {role} {step}"
            if step == "help":
                await page.keyboard.press("?")
                await expect(page.locator("dialog#help")).to_be_visible()
                await axe_check(page, name, found)
                await page.keyboard.press("Escape")
                continue
            if step == "unfold":  # what folded <details> hide (filters on a phone, bulk form, revoke)
                await page.evaluate("document.querySelectorAll('details').forEach(d => { d.open = true; })")
                name = f"{size} {role} {page.url.removeprefix(site.base)} (unfolded)"
            elif step == "claim":
                await page.locator("#claim-this button").click()
                await expect(page.locator("#decision-form")).to_be_visible()
                name = f"{size} {role} {page.url.removeprefix(site.base)} (held)"
            elif step == "bulk":
                await bulk_note(page)
                await axe_check(page, f"{name} preview", found)
                async with page.expect_navigation():
                    await page.locator("#bulk-confirm button[type=submit]").click()
                await expect(page.locator("h1")).to_contain_text("Done")
                name = f"{name} done"
            elif step == "refused":  # a referral without an agency: the form comes back with its error
                await page.get_by_label("Refer to the platform or an agency").check()
                await page.locator("#decision-note").fill("Channel posts a threat against a rally.")
                await page.get_by_role("button", name="Decide").click()
                await expect(page.locator("#decide .error")).to_be_visible()
                watch.expect(r"status of 400 .*/decision$")
            elif step == "decide":
                await page.goto(f"{site.base}/console/cases/{held}")
                await page.get_by_label("Keep monitoring").check()
                await page.locator("#decision-note").fill("Watching the channel.")
                await page.get_by_role("button", name="Decide").click()
                await expect(page.locator(".flash")).to_contain_text("decided")
            elif step == "nothing to claim":
                await page.goto(f"{site.base}/console/queue?platform=tiktok")
                await page.get_by_role("button", name="Claim next").click()
                await expect(page.locator(".flash")).to_contain_text("Nothing to claim")
            elif step == "create token":
                await page.get_by_role("textbox", name="Name").fill("new.analyst")
                await page.get_by_role("button", name="Create").click()
                await expect(page.locator("#new-token")).to_be_visible()
            elif step == "ask":
                await page.locator("#followup-question").fill("Has the post been edited since?")
                await page.locator("#followup-form button[type=submit]").click()
                await expect(page.locator("#followup li.followup")).to_have_count(1)
            elif step == "close":
                await page.locator("#close-note").fill("Called back.")
                await page.get_by_role("button", name="Close request").click()
                await expect(page.locator(".flash")).to_contain_text("closed.")
            elif step == "take":
                await page.goto(f"{site.base}/console/support")
                await page.get_by_role("button", name="Take").click()
                await expect(page).to_have_url(re.compile(r"/console/support/1\?taken=1$"))
            elif step == "reveal":
                await page.get_by_role("button", name="Show number").click()
                await expect(page.locator("#phone-number")).to_be_visible()
            else:
                if step.endswith("/9999"):
                    watch.expect(r"status of 404 .*/console/cases/9999$")
                await page.goto(site.base + step)
                if step in shows:
                    await expect(page.locator(shows[step]).first).to_be_visible()
            await axe_check(page, name, found)
        watch.assert_clean()
        await context.close()
    assert not found, "\n".join(found)
