"""Telegram end to end: the real python-telegram-bot against the fake Bot API, in webhook and polling mode.

Every test here runs on SQLite and PostgreSQL, and most in both modes: a webhook POST to the channel's
route, or an update the fake hands out through getUpdates.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from aiolimiter import AsyncLimiter
from sqlalchemy import func, select
from starlette.applications import Starlette

from bot.app import create_app, make_pipeline
from bot.channels.telegram import ALLOWED_UPDATES, SECRET_HEADER, WEBHOOK_PATH, TelegramChannel
from bot.channels.telegram_send import ChatPacer, PacedRateLimiter
from bot.shared.config import Settings, load_settings
from nlu.refcode import ALPHABET
from responses import catalog
from storage.repository import Storage
from storage.schema import processed_events
from tests.conftest import SECRET
from tests.fakes.telegram_api import Citizen, Deliver, FakeBotAPI, serving

CODE = re.compile(rf"\b([{ALPHABET}]{{4}}-[{ALPHABET}]{{4}})\b")
WEBHOOK_SECRET = "hook-secret_0123456789"


def fast() -> ChatPacer:
    """Test citizens type faster than people do; pacing has tests of its own."""
    return ChatPacer(rate=1000, burst=1000)


def telegram_settings(settings: Settings, api: FakeBotAPI, mode: str, **extra: object) -> Settings:
    """The test settings plus a token and the fake's URL; a webhook URL and secret in webhook mode."""
    webhook = (
        {"telegram_webhook_url": "https://bot.example.org/webhooks/telegram"} if mode == "webhook" else {}
    )
    return load_settings(
        database_url=settings.database_url,
        secret_key=SECRET,
        data_dir=settings.data_dir,
        webchat_ip_limit=0,
        telegram_token=api.token,
        telegram_api_url=api.base_url,
        telegram_webhook_secret=WEBHOOK_SECRET,
        **webhook,
        **extra,
    )


@dataclass
class Harness:
    channel: TelegramChannel
    api: FakeBotAPI
    deliver: Deliver
    storage: Storage

    def citizen(self, chat_id: int = 111111111, language_code: str = "en") -> Citizen:
        return Citizen(self.api, self.deliver, chat_id, language_code)


@pytest.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI() as fake:
        yield fake


@pytest.fixture(params=["webhook", "polling"])
async def tg(
    request: pytest.FixtureRequest, settings: Settings, storage: Storage, api: FakeBotAPI
) -> AsyncIterator[Harness]:
    channel = TelegramChannel(
        telegram_settings(settings, api, request.param), make_pipeline(settings, storage), pacer=fast()
    )
    async with serving(channel, api) as deliver:
        yield Harness(channel, api, deliver, storage)


async def report_with_evidence(citizen: Citizen, lang: str) -> str:
    """/start, then a report with a link, a screenshot and a forwarded channel post; the reference code."""
    texts = catalog()
    await citizen.say("/start")
    assert citizen.buttons == ["lang:en", "lang:ur", "lang:ur-Latn"]
    await citizen.press(f"lang:{lang}")
    await citizen.press("menu:report")
    assert "link:none" in citizen.buttons
    await citizen.say("https://www.facebook.com/Bad.Page/?fbclid=abc")
    assert texts.text("report.link_received", lang, count=1) in citizen.said
    await citizen.press("cat:recruitment")
    assert citizen.buttons == ["confirm:submit", "confirm:details", "nav:back", "nav:cancel"]
    await citizen.press("confirm:details")  # the summary's "Add details": a description, then screenshots
    await citizen.say("They invite young men to a camp in the mountains.")
    assert citizen.said == texts.text("report.ask_evidence", lang)
    await citizen.send_fixture("photo")
    assert citizen.said == texts.text("report.evidence_added", lang, count=1)
    await citizen.send_fixture("forward_channel")
    assert citizen.said == texts.text("report.evidence_added", lang, count=1)
    await citizen.press("evidence:done")
    assert texts.text("report.summary_evidence", lang, count=1) in citizen.said
    await citizen.press("confirm:submit")
    match = CODE.search(citizen.said)
    assert match, citizen.said
    assert citizen.last[0].params["text"] == texts.text("report.done", lang, code=match.group(1))
    assert citizen.buttons == ["updates:yes", "updates:no"]
    return match.group(1)


@pytest.mark.parametrize("lang", ["en", "ur", "ur-Latn"])
async def test_start_to_a_reference_code_with_a_link_a_screenshot_and_a_forward(
    tg: Harness, lang: str
) -> None:
    code = await report_with_evidence(tg.citizen(), lang)
    assert await tg.storage.reports.codes() == [code]
    evidence = await tg.storage.reports.evidence_of(code)
    assert {(e["kind"], e["value"], e["fingerprint"]) for e in evidence} == {
        ("link", "https://facebook.com/bad.page", None),
        ("link", "https://t.me/lashkar_news/77", None),
        ("photo", "AgACAgQAAxkBAAML_large", "AQADlarge"),
    }
    case = await tg.storage.reports.case_of(code)
    assert case is not None and case["canonical_url"] == "https://facebook.com/bad.page"


async def test_buttons_are_answered_and_the_pressed_message_shows_the_choice(tg: Harness) -> None:
    citizen = tg.citizen()
    await citizen.say("/start")
    offered = citizen.last[-1].result
    await citizen.press("lang:ur-Latn")
    await citizen.press("menu:report")
    assert len(tg.api.called("answerCallbackQuery")) == 2
    edits = tg.api.called("editMessageText")
    assert edits[0].params["message_id"] == offered["message_id"]
    assert edits[0].params["text"].endswith("\n\n✓ Roman Urdu")
    assert "reply_markup" not in edits[0].params  # the keyboard is gone
    # the keyboard: categories two to a row unless long, navigation together last
    await citizen.say("t.me/s/Recruit_Channel")
    rows = citizen.last[-1].params["reply_markup"]["inline_keyboard"]
    assert [b["callback_data"] for b in rows[-1]] == ["nav:back", "nav:cancel"]
    assert all(1 <= len(row) <= 2 for row in rows[:-1])


async def test_a_stale_or_unknown_press_is_answered_and_explained(tg: Harness) -> None:
    citizen = tg.citizen()
    await citizen.say("/start")
    await citizen.press("lang:en")
    await citizen.press("menu:report")
    stale = citizen.press_update("menu:learn")  # the menu is an earlier message now
    await citizen.send(stale)
    assert citizen.said.startswith(catalog().text("common.stale_button", "en"))
    assert "link:none" in citizen.buttons
    assert tg.api.called("editMessageReplyMarkup")  # the old keyboard is removed, no choice shown
    await citizen.send(citizen.press_update("link:none", data="x" * 64))
    assert citizen.said.startswith(catalog().text("common.stale_button", "en"))
    assert len(tg.api.called("answerCallbackQuery")) == 4


async def test_a_redelivered_update_changes_nothing_and_sends_nothing(
    settings: Settings, storage: Storage, api: FakeBotAPI
) -> None:
    # Webhook mode: Telegram posts an update again when our 200 did not reach it. (In polling mode an
    # update is not handed out again once the next getUpdates confirmed it.)
    pipeline = make_pipeline(settings, storage)
    channel = TelegramChannel(telegram_settings(settings, api, "webhook"), pipeline, pacer=fast())
    async with serving(channel, api) as deliver:
        citizen = Citizen(api, deliver)
        await citizen.say("/start")
        press = citizen.press_update("lang:en")
        assert await citizen.send(press)
        conversation = pipeline.pseudonyms.of("telegram", str(citizen.chat_id))
        before = await storage.load_conversation(conversation)
        assert await citizen.send(press) == []
        assert (await storage.load_conversation(conversation)).version == before.version
        assert len(api.called("answerCallbackQuery")) == 2  # every press is answered, even a repeat
        assert len(api.called("editMessageText")) == 1


async def test_after_a_restart_a_redelivered_update_resends_its_stored_replies(
    settings: Settings, storage: Storage, api: FakeBotAPI
) -> None:
    # A crash between the commit and the sending: Telegram redelivers, the citizen gets the stored replies.
    # (The sending fails here, as a crash would leave it: committed, never sent.)
    pipeline = make_pipeline(settings, storage)
    first = TelegramChannel(telegram_settings(settings, api, "webhook"), pipeline, pacer=fast())
    async with serving(first, api) as deliver:
        citizen = Citizen(api, deliver)
        update = citizen.update(message=citizen.message(text="/start"))
        api.fail("sendMessage", 400, "Bad Request: chat not found", times=3)
        await citizen.send(update)  # every attempt refused: nothing reached the chat
    second = TelegramChannel(
        telegram_settings(settings, api, "webhook"),
        make_pipeline(settings, storage),
        pacer=fast(),
        redelivery_grace=0.2,  # nobody recorded sending them within the grace period: they go now
    )
    async with serving(second, api) as deliver:
        again = await Citizen(api, deliver).send(update)
    assert again  # the stored replies, sent now
    conversation = await storage.load_conversation(pipeline.pseudonyms.of("telegram", "111111111"))
    assert conversation.version == 1


async def committed(storage: Storage, patience: float = 15.0) -> None:
    """Until an event is stored (its replies may still be on their way)."""
    for _ in range(int(patience / 0.05)):
        async with storage.db.read() as conn:
            if await conn.scalar(select(func.count()).select_from(processed_events)):
                return
        await asyncio.sleep(0.05)
    raise AssertionError("no event was stored")


async def test_a_redelivery_reaching_another_instance_waits_for_the_first_and_is_not_answered_twice(
    settings: Settings, storage: Storage, api: FakeBotAPI
) -> None:
    """Two instances on one database: Telegram redelivers an update (our 200 was slow) and the balancer
    hands it to B while A is still sending the replies. B must not send them again."""
    a = TelegramChannel(
        telegram_settings(settings, api, "webhook"), make_pipeline(settings, storage), pacer=fast()
    )
    b = TelegramChannel(
        telegram_settings(settings, api, "webhook"),
        make_pipeline(settings, storage),
        pacer=fast(),
        redelivery_grace=10.0,
    )
    async with serving(a, api) as to_a, serving(b, api) as to_b:
        citizen = Citizen(api, to_a)
        update = citizen.update(message=citizen.message(text="/start"))
        sending = api.hold(citizen.chat_id)  # A's replies are on their way, slowly
        first = asyncio.ensure_future(to_a(update))
        await committed(storage)
        second = asyncio.ensure_future(to_b(update))
        await asyncio.sleep(0.5)  # B has met the duplicate and waits for A's record
        assert not second.done()
        sending.set()
        await asyncio.gather(first, second)
        assert len(api.sent(citizen.chat_id)) >= 1
        once = len(api.sent(citizen.chat_id))
        # and a later redelivery to either instance sends nothing either
        await to_b(update)
        await to_a(update)
        assert len(api.sent(citizen.chat_id)) == once
    texts = [c.params["text"] for c in api.sent(citizen.chat_id)]
    assert len(texts) == len(set(texts))  # no reply twice


async def test_forwards_from_people_keep_their_words_as_evidence(tg: Harness) -> None:
    citizen = tg.citizen()
    await citizen.say("/start")
    await citizen.press("lang:en")
    await citizen.send_fixture("forward_user")  # outside a flow, evidence starts a report
    assert "cat:recruitment" in citizen.buttons
    await citizen.press("cat:recruitment")
    await citizen.press("confirm:details")
    await citizen.press("desc:skip")
    await citizen.send_fixture("forward_hidden_user")
    await citizen.send_fixture("forward_private_channel")
    await citizen.send_fixture("document_pdf")
    await citizen.send_fixture("photo_link_caption")
    await citizen.press("evidence:done")
    await citizen.press("confirm:submit")
    match = CODE.search(citizen.said)
    assert match
    evidence = await tg.storage.reports.evidence_of(match.group(1))
    kinds = [(e["kind"], e["value"]) for e in evidence]
    # Where each came from, when no public link shows it, is the first line of the kept words.
    assert ("forward", "Forwarded from Recruiter:\nCome to the camp on Friday, bring nobody.") in kinds
    hidden = "Forwarded from Someone (account hidden):\nThey deserve to die, every one of them."
    assert ("forward", hidden) in kinds
    closed = "Forwarded from Closed Circle (channel):\nDonations for the weapons fund go to this number."
    assert ("forward", closed) in kinds
    assert ("link", "https://t.me/c/9876543210/12") in kinds
    assert ("link", "https://t.me/recruit_channel") in kinds  # a link in a caption
    assert ("document", "BQACAgQAAxkBAAMM_doc") in kinds
    assert ("photo", "AgACAgQAAxkBAAMN_large") in kinds
    assert all(e["fingerprint"] for e in evidence if e["kind"] == "forward")


async def test_one_chat_waits_for_its_turn_while_other_chats_go_on(tg: Harness) -> None:
    slow, quick = tg.citizen(chat_id=500_000_001), tg.citizen(chat_id=500_000_002)
    release = tg.api.hold(slow.chat_id)  # the slow chat's messages hang in the Bot API
    first = asyncio.create_task(slow.say("/start"))
    await tg.api.wait_for(lambda: tg.api.called("sendMessage", slow.chat_id))
    second = asyncio.create_task(quick.say("/start"))
    await tg.api.wait_for(lambda: len(tg.api.sent(quick.chat_id)) == 2)  # another chat is answered meanwhile
    assert tg.api.sent(quick.chat_id)[-1].buttons == ["lang:en", "lang:ur", "lang:ur-Latn"]
    assert not first.done() and len(tg.api.sent(slow.chat_id)) == 1
    release.set()
    await asyncio.gather(first, second)
    assert slow.buttons == ["lang:en", "lang:ur", "lang:ur-Latn"]


async def test_updates_of_one_chat_are_handled_in_the_order_they_came(
    settings: Settings, storage: Storage, api: FakeBotAPI
) -> None:
    channel = TelegramChannel(telegram_settings(settings, api, "webhook"), make_pipeline(settings, storage))
    citizen = Citizen(api, lambda _u: asyncio.sleep(0))
    lines = ["/start", "english", "/report", "t.me/s/Bad_Channel", "3"]
    await channel.start()
    try:
        transport = httpx.ASGITransport(app=Starlette(routes=channel.channel_setup().routes))
        async with httpx.AsyncClient(transport=transport, base_url="http://raabta") as http:
            for line in lines:  # posted back to back: each is queued before the previous is handled
                update = citizen.update(message=citizen.message(text=line))
                response = await http.post(WEBHOOK_PATH, json=update, headers={SECRET_HEADER: WEBHOOK_SECRET})
                assert response.status_code == 200
        await channel.drain()
    finally:
        await channel.stop()
    texts = [c.params["text"] for c in api.sent(citizen.chat_id)]
    english = catalog()
    assert texts[-1].startswith(english.text("report.summary_title", "en"))  # "3" chose the third kind
    category = english.text("categories.propaganda", "en")
    assert english.text("report.summary_category", "en", category=category) in texts[-1]
    assert english.text("report.ask_category", "en") in texts
    assert texts.index(english.text("menu.first", "en")) < texts.index(english.text("report.ask_link", "en"))


async def test_the_database_being_down_gets_a_please_send_again(settings: Settings, api: FakeBotAPI) -> None:
    down = Storage("postgresql+asyncpg://nobody@127.0.0.1:9/none")
    try:
        channel = TelegramChannel(
            telegram_settings(settings, api, "webhook"), make_pipeline(settings, down), pacer=fast()
        )
        async with serving(channel, api) as deliver:
            citizen = Citizen(api, deliver)
            await citizen.say("/start")
            assert citizen.said == catalog().text("common.unavailable", "en")
            assert not CODE.search(citizen.said)
    finally:
        await down.close()


@pytest.mark.parametrize("mode", ["webhook", "polling"])
async def test_the_whole_app_runs_the_channel_in_its_lifespan(
    settings: Settings, storage: Storage, api: FakeBotAPI, mode: str
) -> None:
    app = create_app(telegram_settings(settings, api, mode), storage)
    async with app.router.lifespan_context(app):
        assert len(api.called("getMe")) == 1
        assert [c.params.get("language_code") for c in api.called("setMyCommands")] == [None, "ur"]
        commands = api.called("setMyCommands")[0].params["commands"]
        assert [c["command"] for c in commands] == [
            "start",
            "report",
            "status",
            "help",
            "language",
            "privacy",
            "cancel",
        ]
        urdu = api.called("setMyCommands")[1].params["commands"]
        assert urdu[1]["description"] == catalog().text("buttons.menu_report", "ur")
        if mode == "webhook":
            hook = api.webhook
            assert hook is not None
            assert hook["url"] == "https://bot.example.org/webhooks/telegram"
            assert hook["secret_token"] == WEBHOOK_SECRET
            assert hook["allowed_updates"] == list(ALLOWED_UPDATES)
            assert {"edited_message", "my_chat_member"} <= set(ALLOWED_UPDATES)
        citizen = Citizen(api, await app_delivery(app, api, mode))
        await citizen.say("/start")
        await api.wait_for(lambda: len(api.sent(111111111)) >= 2)
        assert api.sent(111111111)[-1].buttons == ["lang:en", "lang:ur", "lang:ur-Latn"]
    assert not api.called("getUpdates") if mode == "webhook" else api.called("getUpdates")


async def app_delivery(app: object, api: FakeBotAPI, mode: str) -> Deliver:
    """How updates reach the whole app: a webhook POST, or the fake's getUpdates."""

    async def post(update: dict[str, Any]) -> None:
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://raabta") as http:
            response = await http.post(WEBHOOK_PATH, json=update, headers={SECRET_HEADER: WEBHOOK_SECRET})
            assert response.status_code == 200

    async def push(update: dict[str, Any]) -> None:
        api.push(update)

    return post if mode == "webhook" else push


class CountingLimiter(AsyncLimiter):
    """The library's limiter, counting the sends it was asked to admit."""

    def __init__(self) -> None:
        super().__init__(1_000_000, 1)
        self.admitted = 0

    async def acquire(self, amount: float = 1) -> None:
        self.admitted += 1
        await super().acquire(amount)


async def test_replies_skip_the_broadcast_limit_and_the_bots_own_sends_keep_it(tg: Harness) -> None:
    limiter = tg.channel.bot.rate_limiter
    assert isinstance(limiter, PacedRateLimiter)
    limiter.broadcast = counting = CountingLimiter()
    citizen = tg.citizen()
    await citizen.say("/start")
    await citizen.press("lang:en")  # answerCallbackQuery, editMessageText, sendMessage: all replies
    assert len(tg.api.called("editMessageText")) == 1 and len(tg.api.sent(citizen.chat_id)) >= 2
    assert counting.admitted == 0
    await tg.channel.bot.send_message(citizen.chat_id, "A notification, as the outbox sends it")
    await tg.channel.bot.send_message(-100123, "Anything to a group")
    assert counting.admitted == 2


async def test_a_full_backlog_answers_503_and_the_update_sent_again_is_handled(
    settings: Settings, storage: Storage, api: FakeBotAPI
) -> None:
    hooked = telegram_settings(settings, api, "webhook", telegram_max_backlog=1)
    channel = TelegramChannel(hooked, make_pipeline(settings, storage), pacer=fast())
    await channel.start()
    try:
        app = Starlette(routes=channel.channel_setup().routes)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://r") as http:
            first, second = Citizen(api, None, chat_id=5001), Citizen(api, None, chat_id=5002)  # type: ignore[arg-type]
            held = api.hold(5001)  # the first citizen's reply hangs at the Bot API: one update in handling

            async def post(update: dict[str, Any]) -> httpx.Response:
                return await http.post(WEBHOOK_PATH, json=update, headers={SECRET_HEADER: WEBHOOK_SECRET})

            assert (await post(first.update(message=first.message(text="hello")))).status_code == 200
            await api.wait_for(lambda: channel.processor.in_flight == 1)
            update = second.update(message=second.message(text="hello"))
            busy = await post(update)
            assert busy.status_code == 503 and busy.headers["Retry-After"] == "5"
            assert api.sent(5002) == []
            held.set()
            await channel.drain()
            assert (await post(update)).status_code == 200  # Telegram's redelivery
            await channel.drain()
            assert len(api.sent(5002)) >= 1 and len(api.sent(5001)) >= 1
    finally:
        await channel.stop()
