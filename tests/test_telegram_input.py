"""Telegram input we must survive: forged or malformed webhook posts, groups, and kinds we do not handle."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from bot import metrics
from bot.app import make_pipeline
from bot.channels.telegram import MAX_BODY, SECRET_HEADER, WEBHOOK_PATH, TelegramChannel
from bot.shared.config import Settings
from responses import catalog
from storage.repository import Storage
from tests.fakes.telegram_api import Citizen, FakeBotAPI, load_fixture, serving
from tests.test_channel_parts import broken_pipeline
from tests.test_telegram import CODE, WEBHOOK_SECRET, fast, telegram_settings

ALBUM_WAIT = 0.3  # seconds an album's answer waits for more photos (drain waits for it, never a sleep)


@dataclass
class Hook:
    channel: TelegramChannel
    api: FakeBotAPI
    http: httpx.AsyncClient
    citizen: Citizen
    storage: Storage

    async def post(self, body: bytes, secret: str | None = WEBHOOK_SECRET) -> httpx.Response:
        headers = {"content-type": "application/json"}
        if secret is not None:
            headers[SECRET_HEADER] = secret
        return await self.http.post(WEBHOOK_PATH, content=body, headers=headers)


@pytest.fixture
async def hook(settings: Settings, storage: Storage) -> AsyncIterator[Hook]:
    async with FakeBotAPI() as api:
        pipeline = make_pipeline(settings, storage)
        configured = telegram_settings(settings, api, "webhook")
        channel = TelegramChannel(configured, pipeline, pacer=fast(), album_wait=ALBUM_WAIT)
        async with serving(channel, api) as deliver:
            transport = httpx.ASGITransport(app=Starlette(routes=channel.channel_setup().routes))
            async with httpx.AsyncClient(transport=transport, base_url="http://raabta") as http:
                yield Hook(channel, api, http, Citizen(api, deliver), storage)


@pytest.mark.parametrize("secret", [None, "", "wrong-secret", WEBHOOK_SECRET + "x", WEBHOOK_SECRET.upper()])
async def test_a_post_without_the_right_secret_is_refused(hook: Hook, secret: str | None) -> None:
    response = await hook.post(b'{"update_id": 1, "message": {}}', secret)
    assert response.status_code == 403
    await hook.channel.drain()
    assert hook.api.sent() == []


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"\xff\xfe binary",
        b"[1, 2]",
        b'"update"',
        b"{}",
        b'{"update_id": "7"}',
        b'{"update_id": true}',
    ],
)
async def test_a_body_that_is_not_an_update_gets_400(hook: Hook, body: bytes) -> None:
    response = await hook.post(body)
    assert response.status_code == 400
    assert hook.api.sent() == []


@pytest.mark.parametrize(
    "body",
    [
        b'{"update_id": 7, "message": {"text": "no chat, no date"}}',
        b'{"update_id": 7, "callback_query": 12}',
        b'{"update_id": 7, "message": {"message_id": 1, "date": 1, "chat": {"id": "1", "type": "private"}}}',
    ],
)
async def test_an_update_the_library_cannot_read_gets_200_and_is_counted(
    hook: Hook, body: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    """Telegram sends a non-2xx delivery again for a day; an unreadable update would never get better."""
    caplog.set_level(logging.INFO)
    counter = metrics.UNREADABLE.labels("telegram")
    before = counter._value.get()
    response = await hook.post(body)
    assert response.status_code == 200
    assert counter._value.get() == before + 1
    await hook.channel.drain()
    assert hook.api.sent() == []
    [logged] = [r for r in caplog.records if r.getMessage() == "telegram_update_unreadable"]
    assert logged.fields["keys"] == sorted(json.loads(body))  # type: ignore[attr-defined]
    assert "no chat, no date" not in json.dumps(logged.fields)  # type: ignore[attr-defined]


async def test_a_body_over_the_cap_gets_413_before_it_is_read_in_full(hook: Hook) -> None:
    declared = await hook.post(b"{" + b" " * MAX_BODY + b"}")
    assert declared.status_code == 413

    async def endless() -> AsyncIterator[bytes]:
        for _ in range(MAX_BODY // 65536 + 10):
            yield b" " * 65536

    headers = {SECRET_HEADER: WEBHOOK_SECRET}
    streamed = await hook.http.post(WEBHOOK_PATH, content=endless(), headers=headers)
    assert streamed.status_code == 413
    await hook.channel.drain()
    assert hook.api.sent() == []


async def test_a_body_that_does_not_arrive_in_time_gets_408_and_the_next_one_is_handled(
    settings: Settings, storage: Storage
) -> None:
    update = json.dumps(load_fixture("start")).encode()

    async def trickle() -> AsyncIterator[bytes]:
        yield update[:10]
        await asyncio.sleep(30)  # a client holding the request open
        yield update[10:]

    async with FakeBotAPI() as api:
        configured = telegram_settings(settings, api, "webhook")
        channel = TelegramChannel(
            configured, make_pipeline(settings, storage), pacer=fast(), body_timeout=0.2
        )
        async with serving(channel, api) as deliver:
            transport = httpx.ASGITransport(app=Starlette(routes=channel.channel_setup().routes))
            async with httpx.AsyncClient(transport=transport, base_url="http://raabta") as http:
                headers = {SECRET_HEADER: WEBHOOK_SECRET}
                response = await http.post(WEBHOOK_PATH, content=trickle(), headers=headers)
                assert response.status_code == 408
                await channel.drain()
                assert api.sent() == []
                await deliver(load_fixture("start"))  # the same update, sent in time
                assert api.sent(111111111)


@pytest.mark.parametrize(("language_code", "lang"), [("ur", "ur"), ("en", "en")])
async def test_a_crash_while_handling_is_answered_in_the_citizens_telegram_language(
    settings: Settings, storage: Storage, caplog: pytest.LogCaptureFixture, language_code: str, lang: str
) -> None:
    async with FakeBotAPI() as api:
        configured = telegram_settings(settings, api, "webhook")
        channel = TelegramChannel(configured, broken_pipeline(settings, storage), pacer=fast())
        async with serving(channel, api) as deliver:
            citizen = Citizen(api, deliver, language_code=language_code)
            await citizen.say("/start")
            assert citizen.said == catalog().text("common.unavailable", lang)
            await citizen.say("/start")  # the chat goes on after a crash
            assert citizen.said == catalog().text("common.unavailable", lang)
    assert await storage.count("processed_events") == 0
    assert [r.getMessage() for r in caplog.records].count("channel_handling_failed") == 2


async def test_a_valid_post_is_accepted_at_once(hook: Hook) -> None:
    response = await hook.post(httpx.Request("POST", "/", json=load_fixture("start")).content)
    assert response.status_code == 200
    await hook.channel.drain()
    assert hook.api.sent(111111111)


async def test_in_polling_mode_there_is_no_webhook_route(settings: Settings, storage: Storage) -> None:
    async with FakeBotAPI() as api:
        channel = TelegramChannel(
            telegram_settings(settings, api, "polling"), make_pipeline(settings, storage)
        )
        assert channel.channel_setup().routes == []


async def test_a_group_is_pointed_to_a_private_chat_once_and_nothing_is_stored(hook: Hook) -> None:
    first = load_fixture("group_message")
    await hook.citizen.send(first)
    group = first["message"]["chat"]["id"]
    [pointer] = hook.api.sent(group)
    assert pointer.params["text"] == catalog().text("welcome.hello", "en")
    assert pointer.buttons == ["https://t.me/raabta_test_bot?start=group"]
    second = load_fixture("group_message") | {"update_id": first["update_id"] + 1}
    second["message"] = second["message"] | {"text": "report this page facebook.com/bad.page"}
    await hook.citizen.send(second)
    assert len(hook.api.sent(group)) == 1
    assert await hook.storage.count("conversations") == 0
    assert await hook.storage.count("processed_events") == 0


async def test_a_press_in_a_group_is_answered_and_ignored(hook: Hook) -> None:
    press = load_fixture("callback")
    press["callback_query"]["message"]["chat"] = {"id": -1001111111111, "title": "G", "type": "supergroup"}
    await hook.citizen.send(press)
    assert len(hook.api.called("answerCallbackQuery")) == 1
    assert hook.api.sent() == []
    assert await hook.storage.count("processed_events") == 0


async def to_the_evidence_step(citizen: Citizen) -> None:
    await citizen.say("/start")
    await citizen.press("lang:en")
    await citizen.press("menu:report")
    await citizen.say("facebook.com/Bad.Page")
    await citizen.press("cat:propaganda")
    await citizen.press("confirm:details")  # the summary's "Add details"
    await citizen.press("desc:skip")
    assert "evidence:done" in citizen.buttons


async def finish(citizen: Citizen) -> str:
    await citizen.press("evidence:done")
    await citizen.press("confirm:submit")
    match = CODE.search(citizen.said)
    assert match, citizen.said
    return match.group(1)


def unsupported_answer(kind: str, lang: str = "en") -> str:
    """What the engine says first about a message kind we cannot use."""
    texts = catalog()
    return texts.text(f"common.unsupported_{kind}", lang) + " " + texts.text("common.we_take", lang)


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("sticker", "sticker"),
        ("voice", "audio"),
        ("location", "location"),
        ("photo_no_sizes", "other"),
        ("document_zip", "file"),
        ("document_huge", "file_too_large"),
    ],
)
async def test_kinds_we_cannot_use_get_a_polite_answer_and_the_report_goes_on(
    hook: Hook, name: str, kind: str
) -> None:
    citizen = hook.citizen
    await to_the_evidence_step(citizen)
    await citizen.send_fixture(name)
    assert citizen.last[0].params["text"] == unsupported_answer(kind)
    assert "evidence:done" in citizen.buttons
    code = await finish(citizen)
    evidence = await hook.storage.reports.evidence_of(code)
    assert [e["kind"] for e in evidence] == ["link"]


async def conversation_state(hook: Hook) -> dict[str, Any]:
    pseudonym = hook.channel.pipeline.pseudonyms.of("telegram", str(hook.citizen.chat_id))
    state: dict[str, Any] = (await hook.storage.load_conversation(pseudonym)).state
    return state


async def test_a_sticker_and_a_voice_note_at_the_link_step_are_answered_and_change_nothing(
    hook: Hook, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    citizen = hook.citizen
    await citizen.say("/start")
    await citizen.press("lang:en")
    await citizen.press("menu:report")
    before = await conversation_state(hook)
    for name, kind in (("sticker", "sticker"), ("voice", "audio")):
        await citizen.send_fixture(name)
        assert [c.params["text"] for c in citizen.last] == [
            unsupported_answer(kind),
            catalog().text("report.ask_link", "en"),
        ]
        assert citizen.buttons == ["link:none", "nav:back", "nav:cancel"]
        assert await conversation_state(hook) == before
    await citizen.say("facebook.com/Bad.Page")
    await citizen.press("cat:propaganda")
    code = await finish_from_confirm(citizen)
    assert [e["kind"] for e in await hook.storage.reports.evidence_of(code)] == ["link"]
    ours = [r for r in caplog.records if r.name.startswith("bot.")]
    assert {"sticker", "voice"} <= {getattr(r, "fields", {}).get("kind") for r in ours}
    for record in ours:  # the kind is logged, never what was sent
        logged = record.getMessage() + " " + json.dumps(getattr(record, "fields", {}), default=str)
        assert "👍" not in logged and "_stk" not in logged and "_voice" not in logged, logged


def album_photo(citizen: Citizen, n: int, caption: str | None = None) -> dict[str, Any]:
    """One photo of an album: Telegram sends each as its own message, sharing a media_group_id."""
    sizes = [
        {"file_id": f"AgACAgQAAxkBAAMalbum{n}_{w}", "file_unique_id": f"AQADalbum{n}_{w}", "width": w}
        | {"height": w}
        for w in (90, 320, 1280)
    ]
    fields: dict[str, Any] = {"photo": sizes, "media_group_id": "13572468013572468"}
    if caption is not None:
        fields["caption"] = caption
    return citizen.update(message=citizen.message(**fields))


async def send_together(hook: Hook, *updates: dict[str, Any]) -> list[Any]:
    """Deliver updates the way Telegram sends an album: one webhook request each, back to back; what the
    bot sent to the citizen once all were handled and answered."""
    citizen = hook.citizen
    before = len(hook.api.sent(citizen.chat_id))
    for update in updates:
        assert (await hook.post(json.dumps(update).encode())).status_code == 200
    await hook.channel.drain()
    citizen.last = hook.api.sent(citizen.chat_id)[before:]
    return citizen.last


async def at_category(citizen: Citizen) -> None:
    await citizen.say("/start")
    await citizen.press("lang:en")
    await citizen.press("menu:report")
    await citizen.say("https://www.facebook.com/Bad.Page/")
    assert "cat:propaganda" in citizen.buttons


async def test_an_album_of_three_photos_is_answered_once_and_keeps_all_three(hook: Hook) -> None:
    """Before: 3 photos -> 6 messages with 3 keyboards. Now one answer, counting all three."""
    citizen = hook.citizen
    texts = catalog()
    await at_category(citizen)
    album = [album_photo(citizen, n, "their posts this week" if n == 1 else None) for n in (1, 2, 3)]
    sent = await send_together(hook, *album)
    assert [c.params["text"] for c in sent] == [
        texts.text("report.evidence_kept", "en", count=3),
        texts.text("report.ask_category", "en"),
    ]
    assert [bool(c.buttons) for c in sent] == [False, True]
    assert (await conversation_state(hook))["step"] == "report.category"
    await citizen.press("cat:propaganda")  # straight to the summary
    assert "confirm:submit" in citizen.buttons
    assert texts.text("report.summary_evidence", "en", count=3) in citizen.said
    assert "their posts this week" in citizen.said  # the caption is kept as a note, not taken as an answer
    code = await finish_from_confirm(citizen)
    evidence = await hook.storage.reports.evidence_of(code)
    assert [(e["kind"], e["fingerprint"]) for e in evidence] == [
        ("link", None),
        ("photo", "AQADalbum1_1280"),
        ("photo", "AQADalbum2_1280"),
        ("photo", "AQADalbum3_1280"),
    ]


async def test_an_albums_answer_goes_before_the_answer_to_what_followed_it(hook: Hook) -> None:
    citizen = hook.citizen
    await at_category(citizen)
    press = citizen.press_update("cat:propaganda")
    sent = await send_together(hook, album_photo(citizen, 1), album_photo(citizen, 2), press)
    texts = [c.params["text"] for c in sent]
    assert texts[:2] == [
        catalog().text("report.evidence_kept", "en", count=2),
        catalog().text("report.ask_category", "en"),
    ]
    assert "confirm:submit" in sent[-1].buttons  # then the summary, once
    assert sum(1 for c in sent if "confirm:submit" in c.buttons) == 1


async def test_an_album_with_a_video_says_once_what_it_could_not_take(hook: Hook) -> None:
    """Telegram albums mix photos and videos: the video's "cannot use" is not lost among held answers."""
    citizen = hook.citizen
    await at_category(citizen)
    video = citizen.update(
        message=citizen.message(
            media_group_id="13572468013572468",
            video={"file_id": "BAACvid", "file_unique_id": "AgADvid", "width": 640, "height": 360}
            | {"duration": 5},
        )
    )
    sent = await send_together(hook, album_photo(citizen, 1), video, album_photo(citizen, 2))
    assert [c.params["text"] for c in sent] == [
        unsupported_answer("video"),
        catalog().text("report.evidence_kept", "en", count=2),
        catalog().text("report.ask_category", "en"),
    ]


async def test_an_edit_is_answered_once_in_the_citizens_language(hook: Hook) -> None:
    """Before: an edit (often a corrected link) vanished silently."""
    citizen = hook.citizen
    await citizen.say("/start")
    await citizen.press("lang:ur-Latn")
    edited = citizen.fixture("edited_message")
    assert [c.params["text"] for c in await citizen.send(edited)] == [
        catalog().text("telegram.edit_used_first", "ur-Latn")
    ]
    again = citizen.fixture("edited_message")  # the same message edited a second time
    again["edited_message"]["text"] = "https://facebook.com/Third.Page"
    assert await citizen.send(again) == []


async def contact_of(hook: Hook) -> bytes | None:
    pseudonym = hook.channel.pipeline.pseudonyms.of("telegram", str(hook.citizen.chat_id))
    return await hook.storage.outbox.contact_of(pseudonym, "telegram")


async def test_blocking_and_unblocking_the_bot_flips_reachability_and_any_message_clears_it(
    hook: Hook,
) -> None:
    citizen = hook.citizen
    await at_category(citizen)
    await citizen.press("cat:propaganda")
    await finish_from_confirm(citizen)
    await citizen.press("updates:yes")
    assert await contact_of(hook) is not None
    blocked = citizen.fixture("my_chat_member")  # new status "kicked": the citizen blocked the bot
    assert await citizen.send(blocked) == []
    assert await contact_of(hook) is None
    unblocked = citizen.fixture("my_chat_member")
    member = unblocked["my_chat_member"]
    member["old_chat_member"], member["new_chat_member"] = (
        member["new_chat_member"],
        {
            "status": "member",
            "user": member["old_chat_member"]["user"],
        },
    )
    await citizen.send(unblocked)
    assert await contact_of(hook) is not None
    await citizen.send(citizen.fixture("my_chat_member"))
    assert await contact_of(hook) is None
    await citizen.say("hello again")  # no unblock seen (missed, or delivered late): writing is enough
    assert await contact_of(hook) is not None


async def finish_from_confirm(citizen: Citizen) -> str:
    await citizen.press("confirm:submit")
    match = CODE.search(citizen.said)
    assert match, citizen.said
    return match.group(1)


@pytest.mark.parametrize("name", ["channel_post", "my_chat_member"])
async def test_kinds_we_do_not_handle_are_ignored_quietly(hook: Hook, name: str) -> None:
    citizen = hook.citizen
    await to_the_evidence_step(citizen)
    assert await citizen.send_fixture(name) == []
    assert hook.api.called("sendMessage", -1002222222222) == []
    code = await finish(citizen)
    assert [e["kind"] for e in await hook.storage.reports.evidence_of(code)] == ["link"]


async def test_captions_long_and_too_long(hook: Hook) -> None:
    citizen = hook.citizen
    await to_the_evidence_step(citizen)
    await citizen.send_fixture("long_caption")  # Telegram's longest caption: 1024 characters
    assert citizen.said == catalog().text("report.evidence_added", "en", count=1)
    oversized = citizen.fixture("long_caption")
    oversized["message"]["caption"] = "x" * 5000  # longer than Telegram allows: answered, not a crash
    oversized["message"]["photo"][0]["file_unique_id"] = "AQADother"
    await citizen.send(oversized)
    assert citizen.said.startswith(catalog().text("common.too_long", "en", limit=4000))
    code = await finish(citizen)
    assert [e["kind"] for e in await hook.storage.reports.evidence_of(code)] == ["link", "photo"]


async def test_a_press_without_data_or_message_is_answered_and_ignored(hook: Hook) -> None:
    press = load_fixture("callback")
    del press["callback_query"]["data"]
    await hook.citizen.send(press)
    inline = load_fixture("callback") | {"update_id": 900000099}
    inline["callback_query"] = {k: v for k, v in inline["callback_query"].items() if k != "message"}
    inline["callback_query"]["inline_message_id"] = "AAAAAA"
    await hook.citizen.send(inline)
    assert len(hook.api.called("answerCallbackQuery")) == 2
    assert hook.api.sent() == []


def mistyped(name: str, path: tuple[str | int, ...], value: object) -> dict[str, Any]:
    """A fixture with one field of the wrong JSON type (the library does not check types)."""
    update = load_fixture(name)
    target: Any = update
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return update


@pytest.mark.parametrize(
    "update",
    [
        mistyped("text", ("message", "text"), ["a", "list"]),
        mistyped("text", ("message", "text"), True),
        mistyped("text", ("message", "chat", "id"), "111111111"),
        mistyped("text", ("message", "from", "language_code"), 7),
        mistyped("photo", ("message", "caption"), {"not": "text"}),
        mistyped("photo", ("message", "photo", 2, "file_size"), "big"),
        mistyped("photo", ("message", "photo", 2, "width"), None),
        mistyped("document_pdf", ("message", "document", "file_size"), "20480"),
        mistyped("forward_channel", ("message", "forward_origin", "chat", "username"), False),
        mistyped("forward_channel", ("message", "forward_origin", "message_id"), "77"),
        mistyped("forward_user", ("message", "text"), False),
        mistyped("callback", ("callback_query", "data"), ["lang:en"]),
        mistyped("callback", ("callback_query", "message", "chat", "id"), [1]),
        mistyped("group_message", ("message", "chat", "id"), {"id": 1}),
    ],
)
async def test_fields_of_the_wrong_type_never_raise(
    hook: Hook, update: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    response = await hook.post(json.dumps(update).encode())
    assert response.status_code in (200, 400)
    await hook.channel.drain()
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []
