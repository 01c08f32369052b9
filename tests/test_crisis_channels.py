"""Issue 16 through the channels: the web chat API (each backend) and Telegram (the real
python-telegram-bot against the fake Bot API): crisis, at-risk, scope notice, a threat kept, floods."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select

from bot.app import create_app
from bot.shared.config import Settings
from responses import catalog
from storage.repository import Storage
from storage.schema import reports
from tests.test_telegram import Harness, api, tg  # noqa: F401 (the fixtures)
from tests.test_webchat import API, WebChat

CRISIS = {
    "en": "I want to kill myself",
    "ur-Latn": "main khudkushi karna chahta hun",
    "ur": "میں خودکشی کرنا چاہتا ہوں",
}
AT_RISK = {
    "en": "I want to join the mujahideen, how do I join",
    "ur": "مجھے جہاد میں شامل ہونا ہے",
    "ur-Latn": "group wale keh rahe hain jihad par chalo, main kya karun",
}
SCOPE = {
    "en": "report this PTI page, it criticises the army",
    "ur": "پی ٹی آئی کا پیج فوج پر تنقید کرتا ہے",
    "ur-Latn": "PTI ka page fauj par tanqeed karta hai",
}
MENU_BUTTONS = {"menu:report", "menu:learn", "menu:family", "menu:status"}


async def chat(client: httpx.AsyncClient, lang: str) -> WebChat:
    citizen = WebChat(client)
    await citizen.send("/start")
    await citizen.send(choice=f"lang:{lang}")
    return citizen


@pytest.mark.parametrize("lang", ["en", "ur", "ur-Latn"])
async def test_web_chat_answers_a_crisis_with_the_number_first_and_no_menu(
    client: httpx.AsyncClient, lang: str
) -> None:
    citizen = await chat(client, lang)
    await citizen.send("https://facebook.com/bad.page")  # a report in progress
    await citizen.send(CRISIS[lang])
    assert citizen.messages[0]["text"] == catalog().text("crisis.now", lang)
    assert set(citizen.buttons) == {"crisis:callback", "crisis:later"}
    await citizen.send(choice="crisis:callback")
    await citizen.send(choice="time:any")
    await citizen.send(choice="support:chat")
    assert citizen.said.startswith(catalog().text("crisis.callback_done", lang, code="")[:12])
    assert not MENU_BUTTONS & set(citizen.buttons)


@pytest.mark.parametrize("lang", ["en", "ur", "ur-Latn"])
async def test_web_chat_gives_the_at_risk_path_and_the_scope_notice(
    client: httpx.AsyncClient, lang: str
) -> None:
    citizen = await chat(client, lang)
    await citizen.send(AT_RISK[lang])
    assert citizen.said == catalog().text("at_risk.intro", lang)
    assert "at_risk:callback" in citizen.buttons
    other = await chat(client, lang)
    await other.send(SCOPE[lang])
    assert other.said.endswith(catalog().text("scope.notice", lang))
    assert "scope:continue" in other.buttons


async def test_web_chat_keeps_a_threat_typed_at_the_menu_as_an_urgent_report(
    client: httpx.AsyncClient, storage: Storage
) -> None:
    citizen = await chat(client, "ur-Latn")
    await citizen.send("kal masjid pe hamla hoga, ye dekho https://t.me/bad_channel/12")
    assert citizen.messages[0]["text"] == catalog().text("emergency.now", "ur-Latn")
    assert "confirm:submit" in citizen.buttons
    await citizen.send(choice="confirm:submit")
    async with storage.reader.connect() as conn:
        row = (await conn.execute(select(reports.c.urgent, reports.c.description, reports.c.category))).one()
    assert row.urgent and row.category == "violent_threat"
    assert row.description == "kal masjid pe hamla hoga, ye dekho https://t.me/bad_channel/12"


async def test_repeated_crisis_messages_are_never_refused_as_a_flood(
    settings: Settings, storage: Storage
) -> None:
    strict = settings.model_copy(update={"messages_per_minute": 2, "floods_before_block": 1})
    app = create_app(strict, storage)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        citizen = WebChat(http)
        for n in range(6):
            await citizen.send(f"I want to kill myself {'.' * n}")
            answers = {catalog().text(key, "en") for key in ("crisis.now", "crisis.again")}
            assert citizen.messages[0]["text"] in answers, n
        said = []
        for text in ("hello", "hello again", "and again", "main khudkushi karna chahta hun"):
            response = await http.post(API, json={"session": citizen.session, "text": text})
            said.append(response.json()["messages"][0]["text"])
        refused = {catalog().text(k, "en") for k in ("common.slow_down_user", "common.blocked")}
        assert said[2] in refused  # an ordinary message still counts as a flood
        answers = {catalog().text(k, x) for k in ("crisis.now", "crisis.again") for x in ("en", "ur-Latn")}
        assert said[3] in answers  # slowed or blocked: someone in crisis still gets the number


async def test_telegram_answers_a_crisis_and_an_at_risk_message(tg: Harness) -> None:  # noqa: F811
    citizen = tg.citizen(language_code="ur")
    await citizen.say("/start")
    await citizen.press("lang:ur")
    await citizen.say(CRISIS["ur"])
    texts = [c.params["text"] for c in citizen.last if "text" in c.params]
    assert texts[0] == catalog().text("crisis.now", "ur")
    assert set(citizen.buttons) == {"crisis:callback", "crisis:later"}
    await citizen.say(AT_RISK["ur"])  # said at the crisis answer: heard out there, the offer made again
    texts = [c.params["text"] for c in citizen.last if "text" in c.params]
    assert texts == [catalog().text("crisis.again", "ur"), catalog().text("crisis.offer", "ur")]
    assert set(citizen.buttons) == {"crisis:callback", "crisis:later"}
    other = tg.citizen(chat_id=222222222, language_code="ur")
    await other.say("/start")
    await other.press("lang:ur")
    await other.say(AT_RISK["ur"])
    assert other.last[-1].params["text"] == catalog().text("at_risk.intro", "ur")
    assert "at_risk:callback" in other.buttons


async def test_web_chat_offers_tap_to_call_under_the_emergency_and_crisis_answers(
    client: httpx.AsyncClient,
) -> None:
    citizen = await chat(client, "ur")
    await citizen.send("کل مسجد پر حملہ ہونے والا ہے")
    calls = citizen.messages[0]["calls"]
    assert [c["href"] for c in calls] == ["tel:15", "tel:1122"]  # type: ignore[index]
    assert calls[0]["label"] == catalog().text("emergency.call", "ur", number="15")  # type: ignore[index]
    await citizen.send(CRISIS["ur"])
    assert [c["href"] for c in citizen.messages[0]["calls"]] == ["tel:15", "tel:1122"]  # type: ignore[index]
    assert all("calls" not in m for m in citizen.messages[1:])
