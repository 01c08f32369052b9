"""The web chat's contract as issue 18 grew it, over HTTP through the real app (SQLite and PostgreSQL):
every message carries `lang` and `kind`; `GET /webchat/api/history` restores a reloaded chat; a flood is
429 with Retry-After in the conversation's language (and the shared refusal logic answers every channel in
that language); the page carries its words in every language, a favicon and a long-cached Urdu font."""

from __future__ import annotations

import json
import re
import uuid

import httpx
import pytest

from bot.app import create_app, make_pipeline
from bot.channels.webchat import STATIC
from bot.dialogue import Inbound
from bot.limits import FloodGuard, Limits, Verdict
from bot.shared.config import Settings
from responses import LANGUAGES, catalog
from storage.repository import Storage
from tests.test_webchat import API, WebChat

HISTORY = "/webchat/api/history"
CRISIS = {
    "en": "I want to kill myself",
    "ur": "میں خودکشی کرنا چاہتا ہوں",
    "ur-Latn": "main khudkushi karna chahta hun",
}


async def started(client: httpx.AsyncClient, lang: str) -> WebChat:
    chat = WebChat(client)
    await chat.send("/start")
    await chat.press(f"lang:{lang}")
    return chat


@pytest.mark.parametrize("lang", LANGUAGES)
async def test_every_message_carries_its_language_and_kind(client: httpx.AsyncClient, lang: str) -> None:
    # Issue 18: "messages carry no `lang`, so screen readers read Urdu with an English voice".
    chat = WebChat(client)
    first = await chat.send("/start")
    assert all(m["kind"] in ("prompt", "info") and m["lang"] in LANGUAGES for m in first)
    language_buttons = {b["id"]: b.get("lang") for m in first for b in m["buttons"]}
    assert language_buttons["lang:ur"] == "ur"  # "اردو" is read with an Urdu voice
    await chat.press(f"lang:{lang}")
    assert {m["lang"] for m in chat.messages} == {lang}
    assert chat.messages[-1]["kind"] == "prompt" and chat.messages[-1]["buttons"]
    await chat.press("menu:report")
    assert chat.messages[-1]["kind"] == "prompt"
    assert all(m["lang"] == lang for m in chat.messages)


@pytest.mark.parametrize("lang", LANGUAGES)
async def test_emergency_and_crisis_answers_are_marked_with_numbers_to_dial(
    client: httpx.AsyncClient, lang: str
) -> None:
    chat = await started(client, lang)
    await chat.send(CRISIS[lang])
    crisis = chat.messages[0]
    assert crisis["kind"] == "crisis" and crisis["lang"] == lang
    assert crisis["calls"] and all(c["href"].startswith("tel:") for c in crisis["calls"])
    other = await started(client, "en")
    await other.send("someone has a gun and is shooting people here")
    assert other.messages[0]["kind"] == "emergency"
    assert other.messages[0]["calls"][0]["href"] == "tel:15"


@pytest.mark.parametrize("lang", LANGUAGES)
async def test_a_reload_mid_report_gets_the_messages_and_the_current_buttons_back(
    client: httpx.AsyncClient, lang: str
) -> None:
    # Issue 18: "Reloading the page mid-report ... shows a blank chat: no history, no prompt."
    chat = await started(client, lang)
    await chat.press("menu:report")
    await chat.send("https://t.me/some_bad_channel")
    asked = chat.messages
    history = (await client.get(HISTORY, params={"session": chat.session})).json()
    assert history["lang"] == lang
    assert history["messages"][-len(asked) :] == asked
    assert history["buttons"] == asked[-1]["buttons"]
    mine = [m for m in history["messages"] if m["kind"] == "citizen"]
    # the button pressed by its label; where the citizen wrote the link, a note in their language, not it
    assert mine[-2]["text"] == catalog().text("buttons.menu_report", lang) and "kept" not in mine[-2]
    wrote = {"text": catalog().text("webchat.not_kept", lang), "lang": "", "kind": "citizen", "kept": False}
    assert mine[-1] == {**wrote, "buttons": []}
    assert history["messages"][-len(asked) - 1] == mine[-1]  # where it was written: before the answer
    assert all("t.me/some_bad_channel" not in m["text"] for m in mine)
    # the restored buttons still work where the chat left off
    await chat.press(asked[-1]["buttons"][0]["id"])
    assert (await client.get(HISTORY, params={"session": chat.session})).json()["buttons"] == [
        b for m in chat.messages[-1:] for b in m["buttons"]
    ]


async def test_history_is_empty_for_a_new_session_and_goes_with_forget_me(client: httpx.AsyncClient) -> None:
    fresh = (await client.get(HISTORY, params={"session": uuid.uuid4().hex})).json()
    assert fresh == {"lang": None, "messages": [], "buttons": []}
    assert (await client.get(HISTORY, params={"session": "x"})).status_code == 400
    chat = await started(client, "en")
    assert (await client.get(HISTORY, params={"session": chat.session})).json()["messages"]
    await chat.send("delete my data")
    for button in ("privacy:forget", "forget:yes", "confirm:yes"):
        if button in chat.buttons:
            await chat.press(button)
    history = (await client.get(HISTORY, params={"session": chat.session})).json()
    assert history["messages"] == [], chat.said


async def test_a_notification_is_marked_and_in_the_conversations_language(
    client: httpx.AsyncClient, storage: Storage
) -> None:
    chat = await started(client, "ur")
    pseudonym = client._transport.app.state.pipeline.pseudonyms.of("webchat", chat.session)  # type: ignore[attr-defined]
    await storage.outbox.enqueue_now(pseudonym, "webchat", "status", {"text": "رپورٹ ABCD-1234"})
    notes = (await client.get(API, params={"session": chat.session})).json()["messages"]
    assert notes == [{"text": "رپورٹ ABCD-1234", "buttons": [], "kind": "notification", "lang": "ur"}]


@pytest.mark.parametrize("lang", LANGUAGES)
async def test_a_flooding_session_gets_429_with_retry_after_in_its_language(
    settings: Settings, storage: Storage, lang: str
) -> None:
    # Issue 18: "A flooding citizen is refused with HTTP 503 (no Retry-After)"; "Rate-limit texts come in
    # English to Urdu sessions".
    strict = settings.model_copy(update={"messages_per_minute": 3, "floods_before_block": 5})
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(strict, storage)), base_url="http://f"
    ) as http:
        chat = await started(http, lang)
        await chat.press("menu:learn")
        refused = await http.post(API, json={"session": chat.session, "choice": "nav:menu"})
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.json()["messages"] == [
        {"text": catalog().text("common.slow_down_user", lang), "buttons": [], "kind": "notice", "lang": lang}
    ]


@pytest.mark.parametrize("lang", LANGUAGES)
async def test_a_flooding_address_gets_429_with_retry_after_in_the_sessions_language(
    settings: Settings, storage: Storage, lang: str
) -> None:
    limited = settings.model_copy(update={"webchat_ip_limit": 2})
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(limited, storage)), base_url="http://g"
    ) as http:
        chat = await started(http, lang)
        refused = await http.post(API, json={"session": chat.session, "choice": "menu:learn"})
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.json()["messages"][0]["text"] == catalog().text("common.slow_down", lang)
    assert refused.json()["messages"][0]["lang"] == lang


@pytest.mark.parametrize("lang", LANGUAGES)
async def test_the_shared_refusal_answers_every_channel_in_the_conversations_language(
    settings: Settings, storage: Storage, lang: str
) -> None:
    """Telegram and Messenger share this path: they still acknowledge the platform with 200 (their tests
    say so); the text is in the conversation's language even for a button press or a bare link."""
    strict = settings.model_copy(update={"messages_per_minute": 2, "floods_before_block": 5})
    pipeline = make_pipeline(strict, storage)
    user = "4242"
    await pipeline.handle(Inbound("telegram", user, "e1", text="/start"))
    await pipeline.handle(Inbound("telegram", user, "e2", choice=f"lang:{lang}"))
    handled = await pipeline.handle(Inbound("telegram", user, "e3", text="https://t.me/x"))
    assert handled.refused and not handled.saved
    assert handled.retry_after is not None and 1 <= handled.retry_after <= 60
    assert [r.text for r in handled.replies] == [catalog().text("common.slow_down_user", lang)]
    assert handled.replies[0].lang == lang and handled.replies[0].kind == "notice"


def test_retry_after_counts_down_to_the_oldest_message_leaving_the_minute() -> None:
    now = [1000.0]
    guard = FloodGuard(Limits(messages_per_minute=2), clock=lambda: now[0])
    assert guard.check("a") is Verdict.OK
    now[0] += 20
    assert guard.check("a") is Verdict.OK
    now[0] += 5
    assert guard.check("a") is Verdict.SLOW_DOWN
    assert guard.retry_after("a") == 35
    assert guard.retry_after("nobody") == 1


async def test_the_page_carries_its_words_in_every_language(client: httpx.AsyncClient) -> None:
    # Issue 18: "The header, placeholder, Send button, page title and <html lang="en"> never change".
    page = await client.get("/chat")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-cache"
    match = re.search(r'<script type="application/json" id="texts">(.*?)</script>', page.text, re.S)
    assert match
    words = json.loads(match.group(1))
    assert set(words) == set(LANGUAGES)
    assert words["ur"]["dir"] == "rtl" and words["en"]["dir"] == words["ur-Latn"]["dir"] == "ltr"
    for lang in LANGUAGES:
        for key in ("title", "placeholder", "send", "quick_exit", "clear", "tagline"):
            assert words[lang][key] == catalog().text(f"webchat.{key}", lang)
    assert f"<title>{catalog().text('webchat.title', 'en')}</title>" in page.text
    assert "{{" not in page.text
    assert "<main>" in page.text and 'id="log"' in page.text.split("<main>")[1]  # the chat in a landmark
    assert 'accept="image/*,application/pdf"' in page.text


async def test_favicon_and_the_urdu_font_are_served(client: httpx.AsyncClient) -> None:
    # Issue 18: "The favicon is a 404"; "No font is shipped".
    icon = await client.get("/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg+xml")
    assert (await client.get("/static/chat/favicon.svg")).status_code == 200
    font = await client.get("/static/chat/fonts/NotoNastaliqUrdu-Regular.subset.woff2")
    assert font.status_code == 200 and font.content[:4] == b"wOF2"
    assert (
        "immutable" in font.headers["cache-control"] and "max-age=31536000" in font.headers["cache-control"]
    )
    assert (await client.get("/static/chat/chat.js")).headers["cache-control"] == "no-cache"
    assert "SIL OPEN FONT LICENSE" in (STATIC / "fonts" / "OFL.txt").read_text()
    css = (await client.get("/static/chat/chat.css")).text
    assert "NotoNastaliqUrdu-Regular.subset.woff2" in css and "font-display: swap" in css
