"""The web chat transcript, a row a turn (bot.shared.transcript, storage.transcripts): what the list cut to
its last messages, with the labels of the buttons pressed, was; kept, cut and deleted with its
conversation."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from alembic import command
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Connection

from bot.app import make_pipeline
from bot.dialogue import Inbound
from bot.shared import transcript
from bot.shared.config import Settings
from storage import migrate
from storage.database import utcnow
from storage.engine import json_list, json_text, json_value
from storage.records import CommitStatus, TurnRecord
from storage.repository import Storage
from storage.safety import Safety
from storage.schema import conversations
from storage.transcripts import KEEP_TURNS


def turn(pressed: str | None, replies: list[dict[str, Any]]) -> str:
    """`transcript.turn` of replies as the pipeline hands them over: each encoded by `json_text`."""
    return transcript.turn(pressed, map(json_text, replies))


texts = st.text(st.characters(codec="utf-8") | st.sampled_from(["\n", "\u2028", "\u2029", "\x85", "\r"]))
buttons = st.lists(st.fixed_dictionaries({"id": st.text(max_size=8), "label": texts}), max_size=3)
message = st.fixed_dictionaries(
    {"text": texts, "kind": st.sampled_from(["text", "citizen", "notice"]), "buttons": buttons}
)
turns = st.lists(st.tuples(st.integers(min_value=0, max_value=4), st.lists(message, max_size=4)), max_size=25)


def pressed_label(said: list[dict[str, Any]], pick: int) -> tuple[str | None, str | None]:
    """A button of the newest message with buttons (what the conversation offered: `State.offered`), by
    `pick`, and its label as the list kept before migration 0022 named it; (None, None) for typed text."""
    offered = next((m["buttons"] for m in reversed(said) if m["buttons"]), [])
    if not offered or pick == 0:
        return None, None
    choice = offered[(pick - 1) % len(offered)]["id"]
    return choice, next(b["label"] for b in offered if b["id"] == choice)


@given(turns, st.integers(min_value=1, max_value=40))
def test_the_last_messages_are_those_the_whole_list_cut_to_its_end_kept(
    said: list[tuple[int, list[Any]]], keep: int
) -> None:
    """Turn after turn, the rows read back are the list as it was kept before (the citizen's pressed button
    by the label the offering message gave it, then the replies), cut to the last `keep` messages."""
    everything: list[dict[str, Any]] = []
    rows: list[str] = []
    for pick, replies in said:
        choice, label = pressed_label(everything, pick)
        if label is not None:
            everything.append({"text": label, "kind": "citizen", "buttons": []})
        everything.extend(replies)
        rows.append(turn(choice, replies))
        assert transcript.messages(rows, keep) == everything[-keep:]


def test_a_button_whose_offer_is_not_among_the_rows_is_left_out() -> None:
    offer = {"text": "Menu", "kind": "text", "buttons": [{"id": "menu:report", "label": "Report"}]}
    rows = [turn(None, [offer]), turn("menu:report", []), turn("menu:x", [])]
    assert transcript.messages(rows) == [offer, {"text": "Report", "kind": "citizen", "buttons": []}]
    assert transcript.messages(rows[1:]) == []  # the offering turn was cut: no label to show
    # Before migration 0022 the row held the label itself: kept as it is
    old = '{"text":"Report","kind":"citizen","buttons":[]}\n'
    assert transcript.messages([old]) == [{"text": "Report", "kind": "citizen", "buttons": []}]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False) | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.dictionaries(texts, json_values, max_size=4), max_size=4))
def test_replies_encoded_once_are_the_text_of_the_list(replies: list[dict[str, Any]]) -> None:
    """The pipeline encodes each reply once, for the transcript's lines and, joined, for its event's row:
    byte for byte what encoding the list writes (what the row held before, and what SQLAlchemy writes)."""
    assert json_list(map(json_text, replies)) == json_text(replies)


def test_replies_beyond_orjson_still_read_back_as_given() -> None:
    """A reply orjson refuses (a lone surrogate) is written by the standard library, alone: the joined
    text is not the list's bytes, but it reads back as the same list."""
    replies = [{"text": "a\ud800b", "buttons": []}, {"text": "ٹھیک ہے", "buttons": []}]
    assert json_value(json_list(map(json_text, replies))) == replies


def test_a_turn_where_the_citizen_wrote_says_so_first_and_never_what() -> None:
    reply = {"text": "Thanks", "kind": "text", "buttons": []}
    said = transcript.turn(None, [json_text(reply)], wrote=True)
    assert said.splitlines()[0] == transcript.WROTE.strip()
    assert transcript.messages([said]) == [{"kind": "citizen", "kept": False}, reply]
    # a button pressed is named, never marked as written
    pressed = transcript.line({"kind": "citizen", "choice": "menu:x"})
    assert transcript.turn("menu:x", [], wrote=True) == pressed


def test_a_lone_surrogate_is_kept_as_an_escape() -> None:
    text = turn(None, [{"text": "a\ud800b", "kind": "text", "buttons": []}])
    assert text.isascii()
    assert transcript.messages([text]) == [{"text": "a\ud800b", "kind": "text", "buttons": []}]


def test_a_line_that_is_not_an_object_is_skipped() -> None:
    text = '{"text": "one"}\nnot json\n[1, 2]\n{"text": "two", "buttons": [{"id": "x"}]}\nbroken {'
    assert transcript.messages([text]) == [{"text": "one"}, {"text": "two", "buttons": [{"id": "x"}]}]
    assert transcript.messages([]) == [] and transcript.messages([""]) == []


async def kept_rows(storage: Storage, conversation: str) -> list[tuple[int, str]]:
    async with storage.reader.connect() as conn:
        found = await conn.execute(
            sa.text(
                "SELECT version, messages FROM transcript_turns WHERE conversation_id = :c ORDER BY version"
            ),
            {"c": conversation},
        )
        return [(int(v), str(m)) for v, m in found.all()]


async def test_a_web_chat_turn_keeps_its_own_messages_in_a_row(settings: Settings, storage: Storage) -> None:
    pipeline = make_pipeline(settings, storage)
    hello = await pipeline.handle(Inbound("webchat", "session-1", "e1", text="hello"))
    button = next(b for r in hello.replies for b in r.buttons)
    pressed = await pipeline.handle(Inbound("webchat", "session-1", "e2", choice=button.id))
    # A client may post any "choice": one that was not offered is never kept (it may hold a number)
    forged = await pipeline.handle(Inbound("webchat", "session-1", "e3", choice="call me: 0300 1234567"))
    conversation = pipeline.pseudonyms.of("webchat", "session-1")
    rows = await kept_rows(storage, conversation)
    assert [version for version, _ in rows] == [1, 2, 3]
    started = await pipeline.handle(Inbound("webchat", "session-1", "e4", text="/start"))
    assert transcript.messages(await storage.transcript(conversation)) == [
        {"kind": "citizen", "kept": False},  # "hello": that the citizen wrote, never what
        *(r.to_dict() for r in hello.replies),
        {"text": button.label, "kind": "citizen", "buttons": []},  # the button pressed: its label
        *(r.to_dict() for r in pressed.replies),
        *(r.to_dict() for r in forged.replies),
        *(r.to_dict() for r in started.replies),  # the page sends /start by itself: no mark for it
    ]
    assert not any("hello" in m or "0300" in m for _, m in await kept_rows(storage, conversation))
    await pipeline.handle(Inbound("telegram", "42", "e1", text="hello"))
    assert await kept_rows(storage, pipeline.pseudonyms.of("telegram", "42")) == []


def said_at(n: int) -> str:
    return turn(None, [{"text": f"reply {n}", "kind": "text", "buttons": []}])


async def test_a_long_conversation_keeps_its_last_turns_rows_whatever_path_its_turns_take(
    storage: Storage,
) -> None:
    """Plain turns (fixed SQL on SQLite, the function on PostgreSQL) and turns through Core (here a digest
    subscribed and stopped) add their row alike; a conflict or a repeated event adds none."""
    for n in range(1, 41):
        plain = n % 7 != 0
        record = TurnRecord(
            "webchat",
            f"e{n}",
            "c1",
            n - 1,
            {"step": "start", "n": n},
            [],
            transcript=said_at(n),
            subscribe=None if plain or n % 2 else "en",
            unsubscribe=not plain and bool(n % 2),
        )
        assert (await storage.commit_turn(record)).status is CommitStatus.OK
    stale = TurnRecord("webchat", "e41", "c1", 39, {"step": "start"}, [], transcript=said_at(41))
    again = TurnRecord("webchat", "e40", "c1", 40, {"step": "start"}, [], transcript=said_at(41))
    assert (await storage.commit_turn(stale)).status is CommitStatus.CONFLICT
    assert (await storage.commit_turn(again)).status is CommitStatus.DUPLICATE
    rows = await kept_rows(storage, "c1")
    assert [version for version, _ in rows] == list(range(40 - KEEP_TURNS + 1, 41))
    shown = transcript.messages(await storage.transcript("c1"))
    assert [m["text"] for m in shown] == [f"reply {n}" for n in range(11, 41)]


async def test_forget_me_and_retention_take_the_rows_with_the_conversation(storage: Storage) -> None:
    for who in ("gone", "old", "kept"):
        await storage.commit_turn(TurnRecord("webchat", f"{who}-1", who, 0, {}, [], transcript=said_at(1)))
    forget = TurnRecord("webchat", "gone-2", "gone", 1, {}, [], transcript=said_at(2), forget=True)
    assert (await storage.commit_turn(forget)).status is CommitStatus.OK
    assert await kept_rows(storage, "gone") == [] and await storage.transcript("gone") == []
    async with storage.writer.begin() as conn:  # "old" was last written past the retention period
        await conn.execute(
            sa.update(conversations)
            .where(conversations.c.id == "old")
            .values(updated_at=utcnow() - timedelta(days=200))
        )
    await Safety(storage).purge(180)
    assert await kept_rows(storage, "old") == []
    assert [v for v, _ in await kept_rows(storage, "kept")] == [1]


async def migrate_to(storage: Storage, revision: str) -> None:
    """Migrate `storage` up to head or down to `revision`."""

    def run(conn: Connection) -> None:
        config = migrate.alembic_config(conn, storage.audit_key)
        (command.upgrade if revision == "head" else command.downgrade)(config, revision)

    async with storage.writer.begin() as conn:
        await conn.run_sync(run)


async def test_the_migration_moves_the_messages_out_of_the_state_and_back(storage: Storage) -> None:
    said = [{"text": "سلام", "kind": "text", "buttons": [{"id": "lang:ur", "label": "اردو"}]}]
    said += [{"text": str(n), "kind": "notice", "buttons": []} for n in range(40)]
    states = {
        "a": {"step": "start", "recent": said},
        "b": {"step": "report.describe", "draft": {"description": 'a page says "recent" news'}},
    }

    await migrate_to(storage, "0020")
    async with storage.writer.begin() as conn:
        for key, state in states.items():
            await conn.execute(
                sa.text(
                    "INSERT INTO conversations (id, channel, state, version, updated_at) "
                    "VALUES (:id, 'webchat', :state, 1, :at)"
                ),
                {"id": key, "state": json.dumps(state), "at": utcnow()},
            )
    await migrate_to(storage, "head")
    a, b = await storage.load_conversation("a"), await storage.load_conversation("b")
    assert a.state == {"step": "start"} and transcript.messages(await storage.transcript("a")) == said[-30:]
    assert b.state == states["b"] and await storage.transcript("b") == []
    await migrate_to(storage, "0020")
    async with storage.reader.connect() as conn:
        rows = dict((await conn.execute(sa.text("SELECT id, state FROM conversations"))).all())
    assert {key: json.loads(v) if isinstance(v, str) else v for key, v in rows.items()} == {
        "a": {"step": "start", "recent": said[-30:]},
        "b": states["b"],
    }
    await migrate_to(storage, "head")


async def test_migration_0022_moves_the_column_into_rows_and_back(storage: Storage) -> None:
    offer = {"text": "مینو", "kind": "text", "buttons": [{"id": "menu:learn", "label": "جانیے"}]}
    column = "".join(transcript.line(m) for m in [offer, {"text": "جانیے", "kind": "citizen", "buttons": []}])

    await migrate_to(storage, "0021")
    async with storage.writer.begin() as conn:
        for key, text in (("a", column), ("b", None)):
            await conn.execute(
                sa.text(
                    "INSERT INTO conversations (id, channel, state, version, updated_at, transcript) "
                    "VALUES (:id, 'webchat', '{}', 7, :at, :text)"
                ),
                {"id": key, "at": utcnow(), "text": text},
            )
    await migrate_to(storage, "head")
    assert await kept_rows(storage, "a") == [(7, column)] and await kept_rows(storage, "b") == []
    # The next turns add rows of their own; a pressed button is kept by its id, named when read
    later = [turn("menu:learn", [offer]), said_at(9)]
    for n, said in enumerate(later, start=7):
        record = TurnRecord("webchat", f"e{n}", "a", n, {}, [], transcript=said)
        assert (await storage.commit_turn(record)).status is CommitStatus.OK
    expected = transcript.messages([column, *later])
    assert expected[-3:-1] == [{"text": "جانیے", "kind": "citizen", "buttons": []}, offer]
    await migrate_to(storage, "0021")
    async with storage.reader.connect() as conn:
        kept = dict((await conn.execute(sa.text("SELECT id, transcript FROM conversations"))).all())
    assert kept == {"a": "".join(transcript.line(m) for m in expected), "b": None}
    await migrate_to(storage, "head")
