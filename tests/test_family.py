"""Family guidance and emergencies: every topic in every language, from the menu and from free text; the
counsellor's callback with consent, an optional sealed phone number and a code shown after commit; and
the "Done when" scenario over the web chat API."""

from __future__ import annotations

import json
import logging

import httpx
import pytest
from sqlalchemy import select

from bot.dialogue import KeepContact, SubmitReport
from bot.dialogue.types import RequestSupport
from bot.shared.config import Settings, secret_key
from bot.shared.sealing import AddressBox
from responses import LANGUAGES, catalog
from responses.bidi import isolate
from storage.repository import Storage
from storage.schema import conversations, processed_events, support_requests
from storage.tokens import Tokens
from tests.talk import Talk, drop_language_line
from tests.test_webchat import CODE, WebChat

TOPICS = ("signs", "talk", "professional", "emergency")
WORRIED = {
    "en": "My son is being drawn to militant preachers, what should I do?",
    "ur": "میرا بیٹا شدت پسند مولویوں کی طرف جا رہا ہے، میں کیا کروں؟",
    "ur-Latn": "mera beta militant molviyon ki taraf ja raha hai, kya karun?",
}
# A typed question per topic and language (asked once the family section is open).
QUESTIONS = {
    "signs": {
        "en": "what are the warning signs?",
        "ur": "خطرے کی علامات کیا ہیں؟",
        "ur-Latn": "alamat kya hain?",
    },
    "talk": {
        "en": "how do I talk to him?",
        "ur": "میں اس سے بات کیسے کروں؟",
        "ur-Latn": "main us se baat kaise karun?",
    },
    "professional": {
        "en": "where can I get professional help, a psychologist?",
        "ur": "کسی ماہر نفسیات سے مدد کہاں سے لوں؟",
        "ur-Latn": "kisi maahir se madad kahan se milegi?",
    },
    "emergency": {
        "en": "will my son be arrested?",
        "ur": "کیا پولیس کو بتانا ضروری ہے؟",
        "ur-Latn": "kab police ko batana chahiye?",
    },
}
EMERGENCIES = {
    "en": "Someone is in danger right now, they are going to attack the market",
    "ur": "فوری مدد، کسی کی جان خطرے میں ہے",
    "ur-Latn": "jaan khatre mein hai, hamla hone wala hai",
}


def started(lang: str) -> Talk:
    talk = Talk()
    talk.send("/start")
    talk.press(f"lang:{lang}")
    return talk


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("topic", TOPICS)
def test_every_topic_from_the_menu_with_its_source_and_next_steps(lang: str, topic: str) -> None:
    talk = started(lang)
    talk.press("menu:family")
    assert talk.said == catalog().text("family.intro", lang)
    talk.press(f"family:{topic}")
    assert talk.said == catalog().text(f"family.{topic}", lang)
    assert talk.said.endswith(isolate(catalog().sources[f"family.{topic}"][lang], lang))
    assert talk.state.offered[-2:] == ["family:callback", "nav:menu"]
    assert {f"family:{t}" for t in TOPICS if t != topic} <= set(talk.state.offered)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_a_worried_relative_writing_freely_gets_the_intro_and_the_warning_signs(lang: str) -> None:
    talk = Talk()
    talk.send(WORRIED[lang])
    texts = [drop_language_line(r.text) for r in talk.last.replies]
    assert texts == [catalog().text("family.welcome", lang), catalog().text("family.signs", lang)]
    assert talk.state.offered[0] == "family:talk" and "family:callback" in talk.state.offered


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("topic", TOPICS)
def test_every_topic_from_a_typed_question(lang: str, topic: str) -> None:
    talk = started(lang)
    talk.press("menu:family")
    talk.send(QUESTIONS[topic][lang])
    assert talk.said == catalog().text(f"family.{topic}", lang)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_texts_say_no_report_no_names_and_police_only_for_danger_to_life(lang: str) -> None:
    words = {
        "en": ("does not report anyone", "name", "only when someone's life is in danger"),
        "ur": ("کسی کی رپورٹ نہیں ہوتی", "نام", "صرف تب ہے جب کسی کی جان خطرے میں ہو"),
        "ur-Latn": ("kisi ki report nahi hoti", "naam", "sirf tab hai jab kisi ki jaan khatre mein ho"),
    }[lang]
    for key in ("family.intro", "family.welcome"):
        assert all(w in catalog().text(key, lang) for w in words)
    offer = catalog().text("family.callback_offer", lang)
    assert {"en": "not a report", "ur": "یہ کوئی رپورٹ نہیں", "ur-Latn": "Ye koi report nahi"}[lang] in offer
    assert "15" in catalog().text("family.emergency", lang)


def callback(talk: Talk, phone: str | None) -> None:
    talk.press("family:callback")
    assert talk.step == "family.consent"
    assert not talk.effects, "nothing is kept before consent"
    talk.press("support:yes")
    talk.press("time:evening")
    assert talk.step == "family.phone"
    if phone is None:
        talk.press("support:chat")
    else:
        talk.send(phone)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_a_callback_with_a_phone_number(lang: str) -> None:
    talk = Talk()
    talk.send(WORRIED[lang])
    talk.press("family:talk")
    callback(talk, "+92 300-123 4567")
    [request] = [e for e in talk.effects if isinstance(e, RequestSupport)]
    assert request.phone == "+923001234567"
    assert request.language == lang and request.topic == "family"
    assert request.note == "time: evening; read: signs, talk; reply by: phone"
    assert request.code == f"TEST-{talk.count:04d}"  # the fresh code of the turn that stored it
    assert talk.said == catalog().text("family.callback_done_phone", lang, code=request.code)
    assert "300" not in json.dumps(talk.state.to_dict()), "the number never rests in the state"
    assert "300" not in talk.said and "300" not in repr(request)
    assert not any(isinstance(e, (SubmitReport, KeepContact)) for e in talk.effects)
    assert talk.step == "menu"


def test_a_callback_in_the_chat_keeps_the_chat_address() -> None:
    talk = started("ur")
    talk.press("menu:family")
    callback(talk, None)
    [request] = [e for e in talk.effects if isinstance(e, RequestSupport)]
    assert request.phone is None and request.note.endswith("reply by: chat")
    assert KeepContact() in talk.effects
    assert talk.said == catalog().text("family.callback_done_chat", "ur", code=request.code)


@pytest.mark.parametrize("typed", ["nahi", "no", "نہیں"])
def test_no_number_typed_means_a_reply_in_the_chat(typed: str) -> None:
    talk = started("ur-Latn")
    talk.press("menu:family")
    talk.press("family:callback")
    talk.send("haan")
    talk.send("shaam ko")
    talk.send(typed)
    [request] = [e for e in talk.effects if isinstance(e, RequestSupport)]
    assert request.phone is None and "time: evening" in request.note


@pytest.mark.parametrize("bad", ["98765", "0345 98765432109876", "03459876543 ext 9", "+92-345-9876x"])
def test_a_bad_number_is_asked_again_and_not_echoed(bad: str) -> None:
    talk = started("en")
    talk.press("menu:family")
    callback(talk, bad)
    assert talk.step == "family.phone"
    assert talk.last.replies[0].text == catalog().text("family.phone_invalid", "en")
    assert bad not in talk.said
    assert not any(isinstance(e, RequestSupport) for e in talk.effects)


def test_declining_keeps_nothing_and_offers_the_guidance_again() -> None:
    talk = started("en")
    talk.press("menu:family")
    talk.press("family:callback")
    talk.press("support:no")
    assert talk.effects == []
    assert talk.said == catalog().text("family.callback_declined", "en")
    assert talk.step == "family"


def test_back_and_cancel_work_at_every_callback_step() -> None:
    talk = started("en")
    talk.press("menu:family")
    talk.press("family:callback")
    talk.press("support:yes")
    talk.press("nav:back")
    assert talk.step == "family.consent"
    talk.press("support:yes")
    talk.press("time:any")
    talk.press("nav:cancel")
    assert talk.step == "menu" and talk.effects == []


def test_a_question_instead_of_an_answer_leaves_the_callback() -> None:
    talk = started("en")
    talk.press("menu:family")
    talk.press("family:callback")
    talk.send("what does paigham e pakistan say?")
    assert talk.said == catalog().text("learn.paigham", "en")
    assert talk.effects == []


def test_asking_for_a_counsellor_in_words_offers_the_callback() -> None:
    talk = started("ur-Latn")
    talk.send("mujhe kisi counsellor se baat karni hai")
    assert talk.step == "family.consent"


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("where", ["menu", "family", "family.phone", "learn"])
def test_an_emergency_at_any_point_gives_police_15_first(lang: str, where: str) -> None:
    talk = started(lang)
    if where != "menu":
        talk.press("menu:learn" if where == "learn" else "menu:family")
    if where == "family.phone":
        talk.press("family:callback")
        talk.press("support:yes")
        talk.press("time:any")
    talk.send(EMERGENCIES[lang])
    first = talk.last.replies[0].text
    assert first == catalog().text("emergency.now", lang)
    assert first.index("15") < first.index("1122")
    assert not any(isinstance(e, RequestSupport) for e in talk.effects)


# --- the "Done when" scenario over the web chat API -----------------------------------------------


async def test_done_when_a_roman_urdu_family_gets_signs_talk_and_a_callback_code(
    client: httpx.AsyncClient, storage: Storage, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    family = WebChat(client)
    await family.send("Assalam o alaikum, mera beta militant molviyon ki taraf ja raha hai, kya karun?")
    assert [drop_language_line(str(m["text"])) for m in family.messages] == [
        catalog().text("family.welcome", "ur-Latn"),
        catalog().text("family.signs", "ur-Latn"),
    ]
    await family.send(choice="family:talk")
    assert family.said == catalog().text("family.talk", "ur-Latn")
    await family.send(choice="family:callback")
    assert family.said == catalog().text("family.callback_offer", "ur-Latn")
    await family.send("haan")
    await family.send(choice="time:evening")
    await family.send("0333 987-6543")
    match = CODE.search(family.said)
    assert match, family.said
    code = match.group(1)
    assert family.said == catalog().text("family.callback_done_phone", "ur-Latn", code=code)

    async with storage.reader.connect() as conn:
        row = (await conn.execute(select(support_requests))).one()
        stored = json.dumps([r.state for r in await conn.execute(select(conversations))])
        responses = json.dumps([r.response for r in await conn.execute(select(processed_events))])
    assert row.code == code and row.language == "ur-Latn" and row.status == "new"
    assert row.phone is not None and b"9876543" not in row.phone
    assert AddressBox(secret_key(settings)).open(row.phone) == "03339876543"
    assert "9876543" not in stored and "9876543" not in responses
    assert "9876543" not in caplog.text, "the number is never logged"
    assert await storage.reports.codes() == [], "family guidance never creates a report"

    counsellor = await Tokens(storage).create("counsellor-1", "counsellor")
    listed = await client.get("/api/v1/support-requests", headers={"Authorization": f"Bearer {counsellor}"})
    assert listed.status_code == 200, listed.text
    [item] = listed.json()["items"]
    assert item["code"] == code and item["has_phone"] is True and item["language"] == "ur-Latn"
    assert "9876543" not in listed.text

    # The request's code answers `status` like a report's, with its state and never its contents.
    await family.send(f"status {code.lower().replace('-', ' ')}")
    assert family.said.startswith(f"Darkhwast {code}:"), family.said
    assert "9876543" not in family.said and "evening" not in family.said
    auth = {"Authorization": f"Bearer {counsellor}"}
    closed = await client.post(f"/api/v1/support-requests/{item['id']}/close", headers=auth, json={})
    assert closed.status_code == 200, closed.text
    await family.send(f"status {code}")
    assert "band kar di gayi" in family.said, family.said


async def test_done_when_an_urdu_emergency_gets_police_15_first(client: httpx.AsyncClient) -> None:
    citizen = WebChat(client)
    await citizen.send("فوری مدد، کسی کی جان خطرے میں ہے")
    first = str(citizen.messages[0]["text"])
    assert first == catalog().text("emergency.now", "ur")
    assert first.startswith(isolate("کوئی خطرے میں ہو تو ابھی 15 (پولیس)", "ur"))  # 15 isolated


async def test_forget_me_takes_the_phone_number_and_the_chat_link_off_a_callback_request(
    client: httpx.AsyncClient, storage: Storage
) -> None:
    family = WebChat(client)
    await family.send("my son is being drawn to militant preachers")
    await family.send(choice="family:callback")
    await family.send(choice="support:yes")
    await family.send(choice="time:morning")
    await family.send("0301 7654321")
    await family.send("delete my data")
    await family.send(choice="forget:yes")
    async with storage.reader.connect() as conn:
        row = (await conn.execute(select(support_requests))).one()
    assert row.phone is None and row.conversation_id is None and row.channel is None
    assert row.status == "new", "the request stays in the counsellors' queue, anonymous"


async def test_a_counsellor_can_write_back_in_the_chat(client: httpx.AsyncClient, storage: Storage) -> None:
    from storage.support import reply_to_request

    family = WebChat(client)
    await family.send("meri beti ke baare mein counsellor se baat karni hai")
    await family.send(choice="support:yes")
    await family.send(choice="time:any")
    await family.send(choice="support:chat")
    code = CODE.search(family.said)
    assert code
    assert await reply_to_request(storage, code.group(1), "Assalam o alaikum, main counsellor hoon.", "c1")
    pulled = await client.get("/webchat/api/messages", params={"session": family.session})
    assert [m["text"] for m in pulled.json()["messages"]] == ["Assalam o alaikum, main counsellor hoon."]
    async with storage.reader.connect() as conn:
        row = (await conn.execute(select(support_requests))).one()
    assert row.status == "in_progress" and row.handled_by == "c1"
    assert not await reply_to_request(storage, "ZZZZ-9999", "x", "c1")


@pytest.mark.parametrize("lang", LANGUAGES)
def test_reply_here_says_a_way_to_write_back_is_kept_and_until_when(lang: str) -> None:
    """Choosing "Reply here" is consent to be written to in this chat: the texts say what is kept, and
    until the request is closed or the retention period ends (storage lets it go then)."""
    kept, until = {
        "en": ("a way to write back to you here", "until your request is closed"),
        "ur": ("آپ کو یہاں جواب لکھنے کا ذریعہ", "درخواست بند"),
        "ur-Latn": ("aap ko yahan jawab likhne ka zariya", "darkhwast band"),
    }[lang]
    offer = catalog().text("family.callback_offer", lang)
    assert kept in offer and until in offer
    talk = started(lang)
    talk.press("menu:family")
    talk.press("family:callback")
    talk.press("support:yes")
    talk.press("time:any")
    assert talk.said == catalog().text("family.ask_phone", lang, days=180)
    assert kept in talk.said and until in talk.said and "180" in talk.said
