"""A link to a card opened in the web chat, in headless Chromium at phone size (issue 24): the page reads
`?card=<id>` and the browser's language, starts the chat on that card, takes the id off the address (a
reload restores the chat without opening the card again), and shows a known chat the card in its own
language; a garbled id gets the ordinary welcome, with no error on the page."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import quote

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, ViewportSize, expect

from bot.app import create_app
from bot.shared.config import load_settings
from responses import catalog
from storage.repository import Storage
from tests.browser import Watch, serve
from tests.conftest import SECRET

pytestmark = pytest.mark.asyncio(loop_scope="module")
PHONE: ViewportSize = {"width": 390, "height": 844}
URL = "https://raabta.example.pk"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def base(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    where = tmp_path_factory.mktemp("share")
    url = f"sqlite+aiosqlite:///{where}/chat.db"
    storage = Storage(url)
    await storage.upgrade()
    settings = load_settings(
        database_url=url, secret_key=SECRET, data_dir=where / "data", webchat_ip_limit=0, public_url=URL
    )
    try:
        async with serve(create_app(settings, storage)) as found:
            yield found
    finally:
        await storage.close()


async def ready(page: Page, address: str) -> None:
    await page.goto(address)
    await expect(page.locator("html")).to_have_attribute("data-ready", "1")


async def bot_said(page: Page) -> list[str]:
    return await page.locator("#log > li.msg.bot").all_inner_texts()


async def test_a_link_opens_the_chat_on_its_card_in_the_browsers_language(
    chromium: Browser, base: str
) -> None:
    context = await chromium.new_context(viewport=PHONE, has_touch=True, locale="ur-PK")
    page = await context.new_page()
    watch = Watch()
    watch.attach(page)
    card = catalog().text("learn.paigham", "ur")
    await ready(page, f"{base}/chat?card=paigham")
    await expect(page.locator("html")).to_have_attribute("lang", "ur")
    await expect(page.locator("#log > li.msg.bot").last).to_contain_text(card.split("\n")[0])
    assert (await bot_said(page))[0] == catalog().text("welcome.hello", "ur")
    await expect(page.locator(".buttons button[data-choice='learn:recruiters']")).to_be_visible()
    assert "card=" not in page.url, "the id is taken off the address"
    assert f"{URL}/chat?card=paigham" in (await bot_said(page))[-1]

    await ready(page, page.url)  # a reload restores the chat: the card once
    said = await bot_said(page)
    assert len(said) == 2 and card.split("\n")[0] in said[-1]

    claim = catalog().text("claims.democracy_kufr", "ur").split("\n")[0]
    await ready(page, f"{base}/chat?card=democracy_kufr")  # a known chat: restored, then the card
    await expect(page.locator("#log > li.msg.bot").last).to_contain_text(claim)
    assert len(await bot_said(page)) == 3
    width = await page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], width
    watch.assert_clean()
    await context.close()


async def test_a_garbled_link_gets_the_ordinary_welcome(chromium: Browser, base: str) -> None:
    context = await chromium.new_context(viewport=PHONE, has_touch=True)
    page = await context.new_page()
    watch = Watch()
    watch.attach(page)
    welcome = [catalog().text("welcome.hello", "en"), catalog().text("welcome.choose_language", "en")]
    for garbled in ("<script>alert(1)</script>", "a" * 300, "پیغام", "paigham%00"):
        await ready(page, f"{base}/chat?card={quote(garbled)}")
        await expect(page.locator(".buttons button[data-choice='lang:ur']")).to_be_visible()
        assert await bot_said(page) == welcome, garbled
        assert "card=" not in page.url
        await page.evaluate("() => localStorage.clear()")  # the next link starts a new chat
    watch.assert_clean()
    await context.close()
