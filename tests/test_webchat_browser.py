"""The web chat in headless Chromium (Debian's), against the real app under uvicorn (SQLite), in each
language at 390x844 and 320x640: issue 18's problems as a citizen meets them.

- the newest buttons sit in view, clear of the message box, and have the keyboard focus;
- a reload mid-report restores the messages and the current step;
- `<html lang dir>`, title, placeholder and Send follow the conversation; messages carry lang and dir;
- Urdu button rows run right to left, in the shipped Nastaliq font;
- axe-core (the copy bundled by axe-playwright-python) finds no violations;
- Quick exit and Clear this chat forget the session in this browser.

`RAABTA_SCREENSHOTS=DIR` keeps a screenshot of each language and width; a failing test leaves one.
"""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
from axe_playwright_python.async_playwright import Axe
from fontTools.ttLib import TTFont
from PIL import Image
from playwright.async_api import Browser, Page, ViewportSize, expect

from bot.app import create_app
from bot.channels.webchat import STATIC
from bot.shared.config import load_settings
from responses import catalog
from storage.repository import Storage
from tests.browser import Watch, serve
from tests.conftest import SECRET
from tests.test_webchat_upload import jpeg_with_gps

pytestmark = pytest.mark.asyncio(loop_scope="module")
PHONE: ViewportSize = {"width": 390, "height": 844}
NARROW: ViewportSize = {"width": 320, "height": 640}
LANGS = ("en", "ur", "ur-Latn")
DIRS = {"en": "ltr", "ur": "rtl", "ur-Latn": "ltr"}
FONT = STATIC / "fonts" / "NotoNastaliqUrdu-Regular.subset.woff2"
NEUTRAL = "https://www.google.com/search?q=weather"


@dataclass
class Tab:
    page: Page
    watch: Watch
    base: str


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def base(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    where = tmp_path_factory.mktemp("webchat")
    url = f"sqlite+aiosqlite:///{where}/chat.db"
    storage = Storage(url)
    await storage.upgrade()
    settings = load_settings(database_url=url, secret_key=SECRET, data_dir=where / "data", webchat_ip_limit=0)
    try:
        async with serve(create_app(settings, storage)) as found:
            yield found
    finally:
        await storage.close()


def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    kept = os.environ.get("RAABTA_SCREENSHOTS")
    if kept:
        Path(kept).mkdir(parents=True, exist_ok=True)
        return Path(kept)
    return tmp_path_factory.getbasetemp()


@pytest_asyncio.fixture(loop_scope="module", params=[PHONE, NARROW], ids=["390", "320"])
async def tab(
    chromium: Browser, base: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Tab]:
    context = await chromium.new_context(viewport=request.param, has_touch=True)
    page = await context.new_page()
    watch = Watch()
    watch.attach(page)
    failed = request.session.testsfailed
    yield Tab(page, watch, base)
    if request.session.testsfailed > failed:
        path = shots(tmp_path_factory) / f"failed-{request.node.name}.png"
        await page.screenshot(path=str(path), full_page=True)
        print(f"\nscreenshot of the failing page: {path}", file=sys.stderr)
    await context.close()


async def open_chat(tab: Tab) -> Page:
    page = tab.page
    await page.goto(f"{tab.base}/chat")
    await expect(page.locator("html")).to_have_attribute("data-ready", "1")
    return page


async def press(page: Page, choice: str) -> None:
    before = await page.locator("#log > li").count()
    await page.locator(f'.buttons button[data-choice="{choice}"]:not([disabled])').last.click()
    await expect(page.locator("#log > li")).not_to_have_count(before + 1)  # the answer came
    await expect(page.locator(f'.buttons button[data-choice="{choice}"]:not([disabled])')).to_have_count(0)


async def type_line(page: Page, text: str) -> None:
    rows = await page.locator(".buttons").count()
    await page.locator("#text").fill(text)
    await page.keyboard.press("Enter")
    await expect(page.locator(".buttons")).not_to_have_count(rows)


async def newest_buttons_in_view(page: Page) -> None:
    """Issue 18: "the newest row of buttons sits under the fixed message box ... (focus too)"."""
    row = page.locator("#log > li.buttons").last
    box = await row.bounding_box()
    composer = await page.locator("#composer").bounding_box()
    bar = await page.locator(".bar").bounding_box()
    assert box and composer and bar
    assert box["y"] >= bar["y"] + bar["height"] - 1, (box, bar)
    assert box["y"] + box["height"] <= composer["y"] + 1, (box, composer)
    focused = await page.evaluate(
        "() => !!document.activeElement && !!document.activeElement.closest('#log > li.buttons:last-child')"
    )
    assert focused, await page.evaluate("() => document.activeElement && document.activeElement.outerHTML")


async def page_speaks(page: Page, lang: str) -> None:
    await expect(page.locator("html")).to_have_attribute("lang", lang)
    await expect(page.locator("html")).to_have_attribute("dir", DIRS[lang])
    await expect(page).to_have_title(catalog().text("webchat.title", lang))
    await expect(page.locator("#send")).to_have_text(catalog().text("webchat.send", lang))
    await expect(page.locator("#text")).to_have_attribute(
        "placeholder", catalog().text("webchat.placeholder", lang)
    )
    await expect(page.locator("#exit")).to_have_text(catalog().text("webchat.quick_exit", lang))
    await expect(page.locator("#exit-note")).to_have_text(catalog().text("webchat.quick_exit_note", lang))
    await expect(page.locator("#clear-note")).to_have_text(catalog().text("webchat.clear_note", lang))
    bot = page.locator("#log > li.bot").last
    await expect(bot).to_have_attribute("lang", lang)
    await expect(bot).to_have_attribute("dir", DIRS[lang])


async def no_axe_violations(page: Page) -> None:
    results = await Axe().run(page)
    assert results.violations_count == 0, results.generate_report()


async def no_sideways_scroll(page: Page) -> None:
    width = await page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], width


@pytest.mark.parametrize("lang", LANGS)
async def test_a_report_reloaded_midway_in_each_language(
    tab: Tab, lang: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    page = await open_chat(tab)
    await expect(page.locator('.buttons button[data-choice="lang:ur"]')).to_have_attribute("lang", "ur")
    await newest_buttons_in_view(page)
    await press(page, f"lang:{lang}")
    await page_speaks(page, lang)
    await newest_buttons_in_view(page)
    await press(page, "menu:report")
    await type_line(page, "https://t.me/some_bad_channel")
    await newest_buttons_in_view(page)
    await no_sideways_scroll(page)
    row = page.locator("#log > li.buttons").last
    await expect(row).to_have_attribute("dir", DIRS[lang])
    offered = await row.locator("button").evaluate_all("bs => bs.map(b => b.dataset.choice)")
    said = await page.locator("#log > li.msg.bot").all_inner_texts()
    if lang == "ur":  # right to left: the first choice on the right
        first, second = (
            await row.locator("button").nth(0).bounding_box(),
            await row.locator("button").nth(1).bounding_box(),
        )
        assert first and second
        if abs(first["y"] - second["y"]) < 2:
            assert first["x"] > second["x"]
    await page.screenshot(
        path=str(shots(tmp_path_factory) / f"webchat-{lang}-{tab.page.viewport_size['width']}.png")
    )  # type: ignore[index]
    await no_axe_violations(page)

    # Issue 18: "Reloading the page mid-report ... shows a blank chat: no history, no prompt."
    await page.reload()
    await expect(page.locator("html")).to_have_attribute("data-ready", "1")
    await page_speaks(page, lang)
    restored = page.locator("#log > li.buttons").last
    assert await restored.locator("button").evaluate_all("bs => bs.map(b => b.dataset.choice)") == offered
    assert await page.locator("#log > li.msg.bot").all_inner_texts() == said  # every reply, in order
    assert await page.locator("#log > li.msg.me").count() >= 2  # the buttons pressed, by their labels
    # where the link was typed: a muted note in the conversation's language, not the link
    wrote = page.locator("#log > li.msg.me.unkept")
    await expect(wrote).to_have_count(1)
    await expect(wrote).to_have_text(catalog().text("webchat.not_kept", lang))
    await newest_buttons_in_view(page)
    await page.screenshot(
        path=str(shots(tmp_path_factory) / f"webchat-{lang}-reloaded-{tab.page.viewport_size['width']}.png")
    )  # type: ignore[index]
    await no_axe_violations(page)
    await press(page, offered[0])  # the restored step still answers
    tab.watch.assert_clean()


async def test_urdu_renders_in_the_shipped_font(tab: Tab, tmp_path_factory: pytest.TempPathFactory) -> None:
    cmap = TTFont(str(FONT)).getBestCmap()
    assert all(ord(ch) in cmap for ch in "ہےرابطہ۔،")  # ہ and ے have glyphs in the subset
    page = await open_chat(tab)
    await press(page, "lang:ur")
    loaded = await page.evaluate(
        """async () => { await document.fonts.ready;
           return [...document.fonts].filter(f => f.family.includes('Raabta Nastaliq'))
             .map(f => f.status); }"""
    )
    assert loaded == ["loaded"], loaded
    # the shipped font draws ہ and ے (a box would measure the same for both and for a missing glyph)
    widths = await page.evaluate(
        """() => { const c = document.createElement('canvas').getContext('2d');
           c.font = '32px "Raabta Nastaliq"';
           return ['ہ', 'ے', '\\u0890'].map(ch => c.measureText(ch).width); }"""
    )
    assert widths[0] != widths[1] and widths[0] != widths[2], widths
    family = await page.locator("#log > li.bot").last.evaluate("el => getComputedStyle(el).fontFamily")
    assert family.startswith('"Raabta Nastaliq"')
    # Tried at phone size: the header's Urdu words (the tagline, the safety note, "فوراً باہر نکلیں",
    # "یہ چیٹ صاف کریں") showed ہ and ی as boxes where the device has no Urdu font: the page's own words in
    # Urdu letters are drawn in the shipped font too, wherever they stand
    unshipped = await page.evaluate(
        """() => [...document.querySelectorAll('body *')]
             .filter(el => [...el.childNodes].some(n => n.nodeType === 3 && /[\u0600-\u06ff]/.test(n.data)))
             .filter(el => el.offsetParent !== null)
             .filter(el => !getComputedStyle(el).fontFamily.startsWith('"Raabta Nastaliq"'))
             .map(el => el.tagName + ': ' + el.textContent.trim().slice(0, 40))"""
    )
    assert unshipped == [], unshipped
    await page.screenshot(
        path=str(shots(tmp_path_factory) / f"webchat-ur-font-{tab.page.viewport_size['width']}.png")
    )  # type: ignore[index]
    tab.watch.assert_clean()


async def citizens_urdu_bubbles(page: Page) -> list[list[str]]:
    """The citizen's bubbles holding Urdu letters: [text, lang attribute, computed font family] each."""
    found: list[list[str]] = await page.locator("#log > li.msg.me").evaluate_all(
        """els => els.filter(el => /[\\u0600-\\u06ff]/.test(el.textContent)).map(el =>
           [el.textContent, el.getAttribute('lang'), getComputedStyle(el).fontFamily])"""
    )
    return found


@pytest.mark.parametrize("lang", ["en", "ur"])
async def test_the_citizens_own_urdu_words_are_drawn_in_the_shipped_font_typed_and_restored(
    tab: Tab, lang: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Tried at phone size: Urdu typed by the citizen ("... بیچا جا رہا ہے"), and after a reload the
    Urdu labels of the buttons they pressed, showed ہ and ے as empty boxes where the device has no Urdu
    font, while the bot's bubbles beside them were drawn in the shipped Nastaliq. The citizen's bubbles
    that hold Urdu letters carry lang="ur" (the font, and a screen reader's voice), whatever language the
    page is in; their direction still follows their first strong letter."""
    page = await open_chat(tab)
    await press(page, f"lang:{lang}")
    await press(page, "menu:report")
    await type_line(page, "اس چینل پر اسلحہ بیچا جا رہا ہے https://t.me/aslaha_market_pk")
    typed = await citizens_urdu_bubbles(page)
    assert typed and typed[-1][0].startswith("اس چینل"), typed
    if lang == "ur":
        await press(page, "cat:illicit_trade")
    await page.reload()  # typed text is never kept: the labels of the buttons pressed come back, and a note
    await expect(page.locator("html")).to_have_attribute("data-ready", "1")
    restored = await citizens_urdu_bubbles(page)
    # اردو, the menu's, the note where the citizen wrote (in Urdu) and the category's
    assert len(restored) == (4 if lang == "ur" else 0), restored
    for text, said_lang, family in typed + restored:
        assert said_lang == "ur" and family.startswith('"Raabta Nastaliq"'), (text, said_lang, family)
    await page.screenshot(
        path=str(
            shots(tmp_path_factory) / f"webchat-{lang}-citizen-urdu-{tab.page.viewport_size['width']}.png"
        )
    )  # type: ignore[index]
    await no_axe_violations(page)
    tab.watch.assert_clean()


async def test_double_text_size_keeps_the_buttons_in_view(tab: Tab) -> None:
    page = await open_chat(tab)
    await page.evaluate("() => { document.documentElement.style.fontSize = '200%'; }")  # text size 200%
    await press(page, "lang:ur-Latn")
    await press(page, "menu:report")
    await type_line(page, "https://t.me/another_channel")
    await newest_buttons_in_view(page)
    await no_sideways_scroll(page)
    tab.watch.assert_clean()


async def test_quick_exit_leaves_and_forgets_the_session(tab: Tab) -> None:
    page = await open_chat(tab)
    await press(page, "lang:ur")
    await page.context.route(
        "https://www.google.com/**", lambda route: route.fulfill(body="<title>w</title>")
    )
    await page.locator("#exit").click()
    await expect(page).to_have_url(NEUTRAL)
    state = await page.context.storage_state()
    kept = [o for o in state["origins"] if o["origin"] == tab.base]
    assert not any(item["name"] == "raabta.session" for o in kept for item in o["localStorage"]), kept
    await page.go_back()  # replaced, not pushed: Back does not return to the chat
    assert not page.url.startswith(f"{tab.base}/chat")


async def test_clear_this_chat_starts_afresh(tab: Tab) -> None:
    page = await open_chat(tab)
    session = await page.evaluate("() => localStorage.getItem('raabta.session')")
    await press(page, "lang:ur")
    await press(page, "menu:report")
    await page.locator("#clear").click()
    await expect(page.locator('.buttons button[data-choice="lang:ur"]:not([disabled])')).to_have_count(1)
    assert await page.locator("#log > li.me").count() == 0
    assert await page.evaluate("() => localStorage.getItem('raabta.session')") not in (None, session)
    await page.reload()
    await expect(page.locator("html")).to_have_attribute("data-ready", "1")
    await expect(page.locator('.buttons button[data-choice="lang:ur"]:not([disabled])')).to_have_count(1)
    tab.watch.assert_clean()


async def test_an_emergency_stands_out_with_a_number_to_tap(tab: Tab) -> None:
    page = await open_chat(tab)
    await press(page, "lang:en")
    await page.locator("#text").fill("someone has a gun and is shooting people here")
    await page.keyboard.press("Enter")
    urgent = page.locator("#log > li.msg.urgent")
    await expect(urgent).to_have_count(1)
    await expect(page.locator("a.call").first).to_have_attribute("href", "tel:15")
    color = await urgent.evaluate("el => getComputedStyle(el).borderTopColor")
    assert color == "rgb(176, 42, 55)"
    await no_axe_violations(page)
    tab.watch.assert_clean()


async def test_a_screenshot_sent_from_the_page_reaches_the_report_without_its_gps(
    tab: Tab, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Issue 18, done when: "a screenshot upload reaches the case with its EXIF gone" (the attach button)."""
    page = await open_chat(tab)
    await press(page, "lang:en")
    await press(page, "menu:report")
    await type_line(page, "https://www.facebook.com/Some.Page")
    await press(page, "cat:propaganda")
    shot = tmp_path_factory.mktemp("upload") / "IMG_2041.jpg"
    shot.write_bytes(jpeg_with_gps())
    rows = await page.locator(".buttons").count()
    await page.locator("#file").set_input_files(str(shot))
    await expect(page.locator(".buttons")).not_to_have_count(rows)  # the answer came, with the summary
    await expect(page.locator("#log > li.msg").last).to_contain_text(
        catalog().text("report.summary_evidence", "en", count=1)
    )
    found = tmp_path_factory.getbasetemp().glob("webchat*/data/evidence/webchat/*")
    stored = [p for p in found if p.is_file()]
    kept = [p for p in stored if p.read_bytes()[:2] == b"\xff\xd8"]
    assert kept, stored
    for path in kept:
        with Image.open(path) as image:
            assert not image.getexif(), "EXIF and GPS are stripped before storage"
    await press(page, "confirm:submit")
    await expect(page.locator("#log > li.msg").last).to_contain_text("?")
    tab.watch.assert_clean()


@pytest.mark.parametrize("lang", LANGS)
async def test_phone_numbers_in_the_bots_words_open_the_dialler(tab: Tab, lang: str) -> None:
    """Issue 18: "Numbers are plain text, not tap-to-call links"; a date, a code or a link stays text."""
    page = await open_chat(tab)
    await press(page, f"lang:{lang}")
    await type_line(page, "helplines")
    links = page.locator("#log > li.msg.bot a.tel")
    hrefs = set(await links.evaluate_all("els => els.map(e => e.getAttribute('href'))"))
    assert {"tel:080039393", "tel:08000113764"} <= hrefs, hrefs
    assert all(h.removeprefix("tel:").lstrip("+").isdigit() for h in hrefs)
    await no_axe_violations(page)
    tab.watch.assert_clean()
