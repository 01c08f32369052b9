"""Which claims people ask about (issue 24): the Learn flow's ClaimAsked effect, counted by day and language
in the turn's own transaction (storage/claim_asks.py), and the console's overview charts of the last 7 and
30 days. Counts only: no row names who asked, so forget-me has nothing there to delete. Both backends."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
from alembic import command
from sqlalchemy import Connection, MetaData, delete, inspect, select

from bot.app import create_app
from bot.shared.config import Settings
from responses import catalog
from storage import claim_asks, migrate
from storage.records import TurnRecord
from storage.repository import Storage
from storage.schema import claim_asks as table
from tests import test_console as security
from tests.test_console import Signed
from tests.test_forget_scan import every_row, naming
from tests.test_webchat import WebChat

app, signed, tokens = security.app, security.signed, security.tokens  # the console's fixtures
NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


async def rows(storage: Storage) -> list[dict[str, Any]]:
    async with storage.reader.connect() as conn:
        found = await conn.execute(select(table).order_by(table.c.day, table.c.claim, table.c.language))
        return [dict(r._mapping) for r in found]


def turn(asked: tuple[tuple[str, str], ...]) -> TurnRecord:
    return TurnRecord("webchat", uuid.uuid4().hex, uuid.uuid4().hex, 0, {}, [], claims_asked=asked)


async def count(storage: Storage, asked: list[tuple[str, str]], now: datetime) -> None:
    async with storage.writer.begin() as conn:
        await claim_asks.count_in(conn, asked, now)


async def test_a_turn_counts_its_claims_by_day_and_language_and_adds_to_the_days_count(
    storage: Storage,
) -> None:
    assert (await storage.commit_turn(turn((("polio", "ur"),)))).status.value == "ok"
    second = (("polio", "ur"), ("polio", "en"), ("hijrat", "ur"), ("polio", "ur"))
    assert (await storage.commit_turn(turn(second))).status.value == "ok"
    assert (await storage.commit_turn(turn(()))).status.value == "ok"
    today = claim_asks.day_of(datetime.now(UTC))
    assert [(r["day"], r["claim"], r["language"], r["count"]) for r in await rows(storage)] == [
        (today, "hijrat", "ur", 1),
        (today, "polio", "en", 1),
        (today, "polio", "ur", 3),
    ]


async def test_the_day_is_pakistans(storage: Storage) -> None:
    await count(storage, [("polio", "en")], datetime(2026, 2, 28, 18, 59, tzinfo=UTC))  # 23:59 in Pakistan
    await count(storage, [("polio", "en")], datetime(2026, 2, 28, 19, 0, tzinfo=UTC))  # 00:00, 1 March
    assert [(r["day"], r["count"]) for r in await rows(storage)] == [
        (date(2026, 2, 28), 1),
        (date(2026, 3, 1), 1),
    ]


async def test_the_top_claims_of_the_last_days_every_language_together(storage: Storage) -> None:
    await count(storage, [("polio", "en")] * 2 + [("polio", "ur")] * 3 + [("hijrat", "ur-Latn")] * 4, NOW)
    await count(storage, [("civilians", "en")] * 9, NOW - timedelta(days=6))  # the 7 days' first
    await count(storage, [("world_war", "en")] * 20, NOW - timedelta(days=7))  # one day too old for 7
    await count(storage, [("ghazwa_hind", "ur")] * 50, NOW - timedelta(days=30))  # too old for 30
    assert await claim_asks.top(storage, 7, NOW) == [("civilians", 9), ("polio", 5), ("hijrat", 4)]
    assert await claim_asks.top(storage, 30, NOW) == [
        ("world_war", 20),
        ("civilians", 9),
        ("polio", 5),
        ("hijrat", 4),
    ]
    assert await claim_asks.top(storage, 30, NOW, limit=2) == [("world_war", 20), ("civilians", 9)]
    await count(storage, [("hijrat", "en")], NOW)  # a tie: by id
    assert await claim_asks.top(storage, 1, NOW) == [("hijrat", 5), ("polio", 5)]


async def test_questions_in_the_chat_are_counted_links_and_read_more_are_not(
    client: httpx.AsyncClient, storage: Storage
) -> None:
    chat = WebChat(client)
    await chat.send("/start")
    await chat.press("lang:en")
    await chat.send("is democracy kufr?")
    assert "claim:democracy_kufr:more" in chat.buttons
    await chat.press("claim:democracy_kufr:more")  # the same question, read further: not asked again
    await chat.send(choice="nav:menu")
    await chat.send("/card democracy_kufr en")  # a link opened: not a question
    other = WebChat(client)
    await other.send("/start")
    await other.press("lang:ur-Latn")
    await other.send("kya jamhooriyat kufr hai?")
    assert "claim:democracy_kufr:more" in other.buttons
    counted = {(r["claim"], r["language"]): r["count"] for r in await rows(storage)}
    assert counted == {("democracy_kufr", "en"): 1, ("democracy_kufr", "ur-Latn"): 1}


async def test_forget_me_has_nothing_to_delete_no_row_names_who_asked(
    settings: Settings, storage: Storage
) -> None:
    application = create_app(settings, storage)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=application), base_url="http://testserver"
    ) as http:
        chat = WebChat(http)
        pseudonym = application.state.pipeline.pseudonyms.of("webchat", chat.session)
        await chat.send("/start")
        await chat.press("lang:en")
        await chat.send("is democracy kufr?")
        before = await rows(storage)
        assert [(r["claim"], r["language"], r["count"]) for r in before] == [("democracy_kufr", "en", 1)]
        async with storage.reader.connect() as conn:
            columns = await conn.run_sync(
                lambda c: [col["name"] for col in inspect(c).get_columns("claim_asks")]
            )
        assert sorted(columns) == ["claim", "count", "day", "language"], "counts only: no one is named"
        found = await every_row(storage)
        assert not [w for w in naming(found, pseudonym) if w.startswith("claim_asks.")]
        assert not [w for w in naming(found, chat.session) if w.startswith("claim_asks.")]
        await chat.send("delete my data")
        await chat.press("forget:yes")
        assert await rows(storage) == before, "forget-me leaves the counts as they were"
        assert naming(await every_row(storage), pseudonym) == []


async def test_the_migration_adds_and_removes_the_table(storage: Storage) -> None:
    def tables(conn: Connection) -> set[str]:
        meta = MetaData()
        meta.reflect(conn)
        return set(meta.tables)

    def down(conn: Connection) -> None:
        command.downgrade(migrate.alembic_config(conn, storage.audit_key), "0017")

    await count(storage, [("polio", "en")], NOW)
    async with storage.writer.begin() as conn:
        await conn.execute(delete(table))
        await conn.run_sync(down)
    async with storage.writer.connect() as conn:
        assert "claim_asks" not in await conn.run_sync(tables)
    assert await migrate.current_revision(storage.writer) == "0017"
    await storage.upgrade()
    assert await storage.is_current()
    await count(storage, [("polio", "en")], NOW)
    assert len(await rows(storage)) == 1


# --- the console's overview --------------------------------------------------------------------------


async def test_the_overview_charts_the_claims_asked_about_most_in_7_and_30_days(
    storage: Storage, signed: dict[str, Signed]
) -> None:
    page = (await signed["analyst"].get("/console/overview")).text
    for days in (7, 30):
        assert f"No claim asked about in the last {days} days." in page
    now = datetime.now(UTC)
    await count(storage, [("polio", "ur")] * 3 + [("polio", "en")] + [("hijrat", "ur-Latn")] * 2, now)
    await count(storage, [("civilians", "en")] * 7, now - timedelta(days=20))
    await count(storage, [("gone_from_the_library", "en")], now - timedelta(days=2))
    page = (await signed["supervisor"].get("/console/overview")).text
    title = catalog().text
    week = page.split('id="chart-claims-7"', 1)[1].split("</svg>", 1)[0]
    month = page.split('id="chart-claims-30"', 1)[1].split("</svg>", 1)[0]
    polio, hijrat, civilians = (title(f"claims.{c}.button", "en") for c in ("polio", "hijrat", "civilians"))
    assert f'data-label="{polio}" data-value="4"' in week and f'data-label="{hijrat}" data-value="2"' in week
    assert civilians not in week and f'data-label="{civilians}" data-value="7"' in month
    assert 'data-label="gone_from_the_library" data-value="1"' in week, "a claim since removed: its id"
    assert month.index(civilians) < month.index(polio) < month.index(hijrat), "most asked first"
    assert "Claims people ask about, last 7 days" in week and "No claim asked about" not in page
    admin = (await signed["admin"].get("/console/overview")).text
    assert 'id="chart-claims-30"' in admin
