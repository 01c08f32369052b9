"""Real Telegram payload shapes, replayed through the real webhook endpoint.

Each file in tests/fixtures/telegram/real/ holds one update (or the several updates of one album) in the
shape Telegram sends, taken from python-telegram-bot's and aiogram's test suites and the Bot API docs;
its `_source` says where. Every one is answered 200 and has the effect listed in EXPECT: evidence an
analyst can open (links, files, forwarded words with their origin), one answer for an album, an edit
answered, reachability following a block, an unreadable update counted and not retried.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from bot import metrics
from bot.app import make_pipeline
from bot.channels.telegram import TelegramChannel
from bot.shared.config import Settings
from nlu.urls import canonicalize
from responses import catalog
from storage.repository import Storage
from tests.conftest import SQLITE_ONLY
from tests.fakes.telegram_api import Citizen, FakeBotAPI, _rechat, serving
from tests.test_telegram import CODE, fast, telegram_settings
from tests.test_telegram_input import Hook, conversation_state, unsupported_answer

pytestmark = SQLITE_ONLY  # the corpus: see tests/conftest.py

REAL = Path(__file__).parent / "fixtures" / "telegram" / "real"
ALBUM_WAIT = 0.3  # seconds; the tests wait for the answer by draining, never by sleeping


def real(name: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A fixture's notes and its updates as Telegram sends them (the `_` notes left out)."""
    data: dict[str, Any] = json.loads((REAL / f"{name}.json").read_text(encoding="utf-8"))
    updates = data["updates"] if "updates" in data else [data["update"]]
    return data, updates


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


async def replay(hook: Hook, updates: list[dict[str, Any]]) -> list[int]:
    """POST each update to the webhook as Telegram does (one request each), then wait until handled."""
    statuses = [(await hook.post(json.dumps(u).encode())).status_code for u in updates]
    await hook.channel.drain()
    return statuses


# stages ------------------------------------------------------------------------------------------


async def at_menu(citizen: Citizen) -> None:
    await citizen.say("/start")
    await citizen.press("lang:en")


async def at_link(citizen: Citizen) -> None:
    await at_menu(citizen)
    await citizen.press("menu:report")


async def at_category(citizen: Citizen) -> None:
    await at_link(citizen)
    await citizen.say("https://www.facebook.com/Bad.Page/")
    assert "cat:propaganda" in citizen.buttons


async def with_contact(citizen: Citizen) -> None:
    """A report sent with "updates here": the citizen's contact is kept."""
    await at_category(citizen)
    await citizen.press("cat:propaganda")
    await citizen.press("confirm:submit")
    await citizen.press("updates:yes")


async def nowhere(_citizen: Citizen) -> None:
    """No conversation yet."""


# effects -----------------------------------------------------------------------------------------


@dataclass
class Seen:
    hook: Hook
    sent: list[Any]  # the sendMessage calls made for the replayed updates
    draft: dict[str, Any]
    step: str | None

    @property
    def links(self) -> set[str]:
        return {x["canonical"] for x in self.draft.get("links", [])}

    def evidence(self, kind: str) -> list[str]:
        return [e["ref"] for e in self.draft.get("evidence", []) if e["kind"] == kind]


def canon(*raw: str) -> set[str]:
    found = {canonicalize(x) for x in raw}
    assert None not in found, raw
    return {x for x in found if x}


Check = Callable[[Seen], Awaitable[None] | None]


@dataclass
class Expect:
    stage: Callable[[Citizen], Awaitable[None]]
    check: Check
    notes: list[str] = field(default_factory=list)


def links_kept(*raw: str, photos: tuple[str, ...] = (), forward: str | None = None) -> Check:
    def check(seen: Seen) -> None:
        assert canon(*raw) <= seen.links, seen.draft
        assert {f"AQAD{p}_1280" for p in photos} <= set(seen_fingerprints(seen)), seen.draft
        if forward is not None:
            assert any(ref.startswith(forward) for ref in seen.evidence("forward")), seen.draft

    return check


def seen_fingerprints(seen: Seen) -> list[str]:
    return [e["fingerprint"] for e in seen.draft.get("evidence", []) if e["kind"] == "photo"]


def forward_kept(starts: str, exact: bool = False) -> Check:
    def check(seen: Seen) -> None:
        refs = seen.evidence("forward")
        assert any((ref == starts) if exact else ref.startswith(starts) for ref in refs), refs

    return check


def nothing_said(seen: Seen) -> None:
    assert seen.sent == []


def album_answered_once(seen: Seen) -> None:
    texts = catalog()
    assert [c.params["text"] for c in seen.sent] == [
        texts.text("report.evidence_kept", "en", count=3),
        texts.text("report.ask_category", "en"),
    ]
    assert sum(1 for c in seen.sent if c.buttons) == 1
    assert seen_fingerprints(seen) == ["AQADalb1_1280", "AQADalb2_1280", "AQADalb3_1280"]
    assert seen.step == "report.category"


def edit_answered(seen: Seen) -> None:
    assert [c.params["text"] for c in seen.sent] == [catalog().text("telegram.edit_used_first", "en")]


def poll_refused(seen: Seen) -> None:
    assert seen.sent[0].params["text"] == unsupported_answer("poll")


def caption_not_a_request(seen: Seen) -> None:
    assert seen.sent[0].params["text"] == unsupported_answer("video")
    assert seen.step == "menu"  # not the family flow the caption's words would open


async def contact_unreachable(seen: Seen) -> None:
    nothing_said(seen)
    assert await contact(seen.hook) is None


async def contact_reachable(seen: Seen) -> None:
    nothing_said(seen)
    assert await contact(seen.hook) is not None


async def contact(hook: Hook) -> bytes | None:
    pseudonym = hook.channel.pipeline.pseudonyms.of("telegram", str(hook.citizen.chat_id))
    return await hook.storage.outbox.contact_of(pseudonym, "telegram")


async def blocked_before(citizen: Citizen) -> None:
    """A citizen with a kept contact, marked unreachable (they had blocked the bot)."""
    await with_contact(citizen)
    await citizen.deliver(json.loads((REAL / "my_chat_member_blocked.json").read_text())["update"])


EXPECT: dict[str, Expect] = {
    "text_link_message": Expect(at_link, links_kept("https://t.me/lashkar_news")),
    "text_link_caption": Expect(
        at_link, links_kept("https://www.facebook.com/Hidden.Page/", photos=("cap",))
    ),
    "forward_url_after_emoji": Expect(
        at_link, links_kept("http://google.com", forward="Forwarded from Bhai Jaan (account hidden):")
    ),
    "forward_mention": Expect(at_link, links_kept("https://t.me/recruiter_pk")),
    "forward_channel_video_link": Expect(
        at_link, links_kept("https://t.me/lashkar_news/77", "https://www.youtube.com/watch?v=dQw4w9WgXcQ")
    ),
    "forward_origin_user": Expect(at_link, links_kept("https://t.me/abu_recruits")),
    "forward_origin_hidden_user": Expect(
        at_link,
        forward_kept(
            "Forwarded from Mujahid Khan (account hidden):\nSend the money to the usual account.", True
        ),
    ),
    "forward_origin_chat": Expect(
        at_link, forward_kept("Forwarded from Shaheen Group (group):\nEveryone bring your own weapon.", True)
    ),
    "forward_origin_private_channel": Expect(
        at_link,
        links_kept(
            "https://t.me/c/9876543210/12",
            photos=("pch",),
            forward="Forwarded from Closed Circle (channel):\nTraining photos",
        ),
    ),
    "external_reply_quote": Expect(
        at_link,
        links_kept(
            "https://t.me/lashkar_news/78",
            "https://www.facebook.com/Quoted.Page",
            forward="Join us, more at this page",
        ),
    ),
    "external_reply_photo": Expect(at_link, links_kept("https://t.me/c/9876543210/40", photos=("ext",))),
    "album_three_photos": Expect(at_category, album_answered_once),
    "edited_message_link": Expect(at_menu, edit_answered),
    "edited_message_live_location": Expect(at_menu, nothing_said),
    "my_chat_member_blocked": Expect(with_contact, contact_unreachable),
    "my_chat_member_unblocked": Expect(blocked_before, contact_reachable),
    "my_chat_member_group_added": Expect(with_contact, contact_reachable),
    "poll_old_server": Expect(at_menu, nothing_said),  # unreadable: see the test below
    "poll_current": Expect(at_menu, poll_refused),
    "channel_post": Expect(at_menu, nothing_said),
    "video_caption": Expect(at_menu, caption_not_a_request),
    "voice_caption_text_link": Expect(at_link, links_kept("https://t.me/voice_of_war")),
}


def test_every_fixture_says_where_its_shape_comes_from_and_is_replayed() -> None:
    names = {p.stem for p in REAL.glob("*.json")}
    assert names == set(EXPECT)
    for name in names:
        data, updates = real(name)
        assert data["_source"].strip() and data["_note"].strip(), name
        assert updates and all(type(u["update_id"]) is int for u in updates), name


@pytest.mark.parametrize("name", sorted(EXPECT))
async def test_a_real_payload_is_answered_200_with_its_effect(hook: Hook, name: str) -> None:
    expect = EXPECT[name]
    await expect.stage(hook.citizen)
    before = len(hook.api.sent(hook.citizen.chat_id))
    _, updates = real(name)
    assert await replay(hook, updates) == [200] * len(updates)
    state = await conversation_state(hook) if await hook.storage.count("conversations") else {}
    seen = Seen(
        hook, hook.api.sent(hook.citizen.chat_id)[before:], state.get("draft") or {}, state.get("step")
    )
    result = expect.check(seen)
    if result is not None:
        await result


async def test_an_update_the_library_cannot_read_is_a_200_counted_and_logged_by_its_keys(
    hook: Hook, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    counter = metrics.UNREADABLE.labels("telegram")
    before = counter._value.get()
    _, updates = real("poll_old_server")
    assert await replay(hook, updates) == [200]
    assert counter._value.get() == before + 1
    [logged] = [r for r in caplog.records if r.getMessage() == "telegram_update_unreadable"]
    assert logged.fields["keys"] == ["message", "update_id"]  # type: ignore[attr-defined]
    everything = " ".join(r.getMessage() + json.dumps(getattr(r, "fields", {})) for r in caplog.records)
    assert "jihad" not in everything and "Haan" not in everything  # never its content
    assert hook.api.sent() == []
    assert await replay(hook, updates) == [200]  # sent again, still 200 (Telegram would not retry)


async def test_a_text_link_report_and_a_forwarded_channel_post_reach_the_analyst(hook: Hook) -> None:
    """Done when: each ends up as evidence an analyst can open."""
    found = []
    for n, name in enumerate(("text_link_message", "forward_channel_video_link")):
        citizen = Citizen(hook.api, hook.citizen.deliver, chat_id=600_000_001 + n)
        await at_link(citizen)
        _, [update] = real(name)
        await citizen.send(_rechat(update, citizen.chat_id))
        await citizen.press("cat:propaganda")
        await citizen.press("confirm:submit")
        match = CODE.search(citizen.said)
        assert match, citizen.said
        evidence = await hook.storage.reports.evidence_of(match.group(1))
        found.append({e["value"] for e in evidence if e["kind"] == "link"})
    assert found[0] == {"https://t.me/lashkar_news"}
    assert found[1] == canon("https://t.me/lashkar_news/77", "https://www.youtube.com/watch?v=dQw4w9WgXcQ")
