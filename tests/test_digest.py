"""The weekly digest: opt in over the web chat, `raabta digest send` once per ISO week through the outbox,
unsubscribe by button or by typing, "forget me"; and this month's numbers from the data."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import select, update

from bot.shared.digest import digest_message, week_item
from responses import catalog
from storage.records import TurnRecord
from storage.repository import Storage
from storage.schema import cases, outbox, subscriptions
from storage.support import iso_week, month_numbers, month_start, queue_digest, subscriber_count
from tests.test_api import add_report
from tests.test_cli import env_for
from tests.test_queue_cli import raabta
from tests.test_webchat import WebChat

WEEK = date(2026, 3, 2)


async def subscribed(client: httpx.AsyncClient, lang: str = "ur-Latn") -> WebChat:
    chat = WebChat(client)
    await chat.send("/start")
    await chat.send(choice=f"lang:{lang}")
    await chat.send(choice="menu:learn")
    await chat.send(choice="digest:ask")
    await chat.send(choice="digest:on")
    assert chat.said == catalog().text("digest.subscribed", lang)
    return chat


async def rows(storage: Storage, table: object) -> list[dict[str, object]]:
    async with storage.reader.connect() as conn:
        return [dict(r._mapping) for r in await conn.execute(select(table))]  # type: ignore[call-overload]


def render(lang: str) -> dict[str, object]:
    return digest_message(catalog(), lang, WEEK)


async def test_a_subscriber_gets_one_card_a_week_through_the_outbox(
    client: httpx.AsyncClient, storage: Storage
) -> None:
    chat = await subscribed(client)
    [row] = await rows(storage, subscriptions)
    assert row["channel"] == "webchat" and row["language"] == "ur-Latn" and row["last_week"] is None
    assert await queue_digest(storage, iso_week(WEEK), render) == 1
    assert await queue_digest(storage, iso_week(WEEK), render) == 0, "once per ISO week"
    pulled = (await client.get("/webchat/api/messages", params={"session": chat.session})).json()
    [message] = pulled["messages"]
    item = week_item(catalog(), WEEK)
    assert catalog().text(item, "ur-Latn") in message["text"]
    assert [b["id"] for b in message["buttons"]] == ["digest:off", "nav:menu"]
    next_week = WEEK + timedelta(days=7)
    assert await queue_digest(storage, iso_week(next_week), render) == 1


async def test_the_stop_button_on_a_digest_unsubscribes_and_drops_what_is_queued(
    client: httpx.AsyncClient, storage: Storage
) -> None:
    chat = await subscribed(client, "en")
    await chat.send(choice="nav:menu")
    await queue_digest(storage, iso_week(WEEK), render)
    await chat.send(choice="digest:off")
    assert chat.messages[0]["text"] == catalog().text("digest.unsubscribed", "en")
    assert await rows(storage, subscriptions) == []
    assert [r for r in await rows(storage, outbox) if r["kind"] == "digest"] == []
    assert await queue_digest(storage, iso_week(WEEK + timedelta(days=7)), render) == 0


async def test_typing_band_karo_digest_unsubscribes(client: httpx.AsyncClient, storage: Storage) -> None:
    chat = await subscribed(client)
    await chat.send("band karo digest")
    assert chat.said == catalog().text("digest.unsubscribed", "ur-Latn")
    assert await subscriber_count(storage) == 0


async def test_subscribing_in_another_language_moves_the_digest(
    client: httpx.AsyncClient, storage: Storage
) -> None:
    chat = await subscribed(client, "en")
    await chat.send(choice="lang:ur")
    await chat.send(choice="menu:learn")
    await chat.send(choice="digest:ask")
    await chat.send(choice="digest:on")
    assert [r["language"] for r in await rows(storage, subscriptions)] == ["ur"]


async def test_forget_me_deletes_the_subscription(client: httpx.AsyncClient, storage: Storage) -> None:
    chat = await subscribed(client)
    await chat.send("mera data mita do")
    await chat.send(choice="forget:yes")
    assert await subscriber_count(storage) == 0


async def test_each_subscriber_gets_the_card_in_their_language_on_their_channel(storage: Storage) -> None:
    for channel, lang in (("telegram", "ur"), ("messenger", "en"), ("webchat", "ur-Latn")):
        record = TurnRecord(channel, uuid.uuid4().hex, uuid.uuid4().hex, 0, {}, [], subscribe=lang)
        assert (await storage.commit_turn(record)).status.value == "ok"
    assert await queue_digest(storage, iso_week(WEEK), render, batch=2) == 3
    queued = {r["channel"]: r for r in await rows(storage, outbox)}
    item = week_item(catalog(), WEEK)
    for channel, lang in (("telegram", "ur"), ("messenger", "en"), ("webchat", "ur-Latn")):
        assert queued[channel]["kind"] == "digest"
        assert catalog().text(item, lang) in str(queued[channel]["payload"]["text"])  # type: ignore[index]


async def test_two_runs_at_once_queue_each_subscriber_once(storage: Storage) -> None:
    for _ in range(30):
        record = TurnRecord("webchat", uuid.uuid4().hex, uuid.uuid4().hex, 0, {}, [], subscribe="en")
        await storage.commit_turn(record)
    done = await asyncio.gather(*(queue_digest(storage, iso_week(WEEK), render, batch=7) for _ in range(3)))
    assert sum(done) == 30
    assert len(await rows(storage, outbox)) == 30


async def test_digest_send_from_the_command_line(tmp_path: Path, db_url: str, storage: Storage) -> None:
    record = TurnRecord("telegram", uuid.uuid4().hex, uuid.uuid4().hex, 0, {}, [], subscribe="ur")
    await storage.commit_turn(record)
    env = env_for(tmp_path, RAABTA_DATABASE_URL=db_url)
    first = await raabta(env, "digest", "send", "--week", "2026-W10")
    assert first.returncode == 0, first.stderr
    assert "digest 2026-W10: queued for 1 subscribers" in first.stdout
    again = await raabta(env, "digest", "send", "--week", "2026-W10")
    assert "queued for 0 subscribers" in again.stdout
    bad = await raabta(env, "digest", "send", "--week", "March")
    assert bad.returncode == 2 and "ISO week" in bad.stderr
    this_week = await raabta(env, "digest", "send")
    assert this_week.returncode == 0 and "queued for 1 subscribers" in this_week.stdout


async def test_this_months_numbers_come_from_the_data(client: httpx.AsyncClient, storage: Storage) -> None:
    now = datetime.now(UTC)
    for url in ("https://t.me/a", "https://t.me/b", "https://t.me/c", "https://t.me/d"):
        await add_report(storage, url)
    await add_report(storage, "https://t.me/a")
    async with storage.writer.begin() as conn:
        ids = sorted((await conn.scalars(select(cases.c.id))).all())
        decided = {ids[0]: "referred", ids[1]: "escalated", ids[2]: "monitoring"}
        for case_id, status in decided.items():
            await conn.execute(
                update(cases).where(cases.c.id == case_id).values(status=status, decided_at=now)
            )
        old = month_start(now) - timedelta(days=3)
        await conn.execute(
            update(cases).where(cases.c.id == ids[3]).values(status="referred", decided_at=old)
        )
    assert await month_numbers(storage) == (5, 2, 1)

    chat = WebChat(client)
    await chat.send("/start")
    await chat.send(choice="lang:en")
    await chat.send(choice="menu:help")
    await chat.send(choice="info:numbers")
    assert chat.said == catalog().text("learn.numbers", "en", received=5, referred=2, monitored=1)


def test_the_month_starts_in_pakistan_time() -> None:
    just_after = datetime(2026, 2, 28, 19, 30, tzinfo=UTC)  # 1 March, 00:30 in Pakistan
    assert month_start(just_after) == datetime(2026, 2, 28, 19, 0, tzinfo=UTC)
    assert iso_week(date(2026, 1, 1)) == "2026-W01" and iso_week(date(2027, 1, 1)) == "2026-W53"
