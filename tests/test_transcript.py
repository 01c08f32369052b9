"""The web chat transcript as lines (bot.shared.transcript): what a list cut to its last messages was."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from alembic import command
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.engine import Connection

from bot.app import make_pipeline
from bot.dialogue import Inbound
from bot.shared import transcript
from bot.shared.config import Settings
from storage import migrate
from storage.database import utcnow
from storage.repository import Storage

texts = st.text(st.characters(codec="utf-8") | st.sampled_from(["\n", "\u2028", "\u2029", "\x85", "\r"]))
buttons = st.lists(st.fixed_dictionaries({"id": st.text(max_size=8), "label": texts}), max_size=3)
message = st.fixed_dictionaries(
    {"text": texts, "kind": st.sampled_from(["text", "citizen", "notice"]), "buttons": buttons}
)
turns = st.lists(st.lists(message, max_size=4), max_size=25)


@given(turns, st.integers(min_value=1, max_value=12))
def test_adding_turn_after_turn_keeps_the_last_messages_in_order(said: list[list[Any]], keep: int) -> None:
    kept: list[dict[str, Any]] = []
    text: str | None = None
    for messages in said:
        kept = (kept + messages)[-keep:]
        text = transcript.added(text, messages, keep)
        assert transcript.messages(text) == kept


def cut_by_counting(text: str, keep: int) -> str:
    """What `added` keeps of a text, by its definition: all but the first (newlines - keep) lines."""
    lines = text.split("\n")
    extra = text.count("\n") - keep
    return "\n".join(lines[extra:]) if extra > 0 else text


stored_texts = st.text(st.sampled_from(["\n", "a", "ی", "\u2028", "😡"]))


@given(stored_texts, turns, st.integers(min_value=1, max_value=12))
def test_any_stored_text_is_cut_as_counting_its_newlines_would(
    stored: str, said: list[list[Any]], keep: int
) -> None:
    """Whatever the row holds (more lines than `keep`, as after a lower limit; a last line with no newline;
    an empty text), the text kept is the one counting every newline gives."""
    for messages in said or [[]]:
        expected = cut_by_counting(stored + "".join(transcript.line(m) for m in messages), keep)
        stored = transcript.added(stored, messages, keep)
        assert stored == expected


@given(turns)
def test_the_newest_message_with_buttons_is_found_from_the_end(said: list[list[Any]]) -> None:
    everything = [m for messages in said for m in messages]
    text = transcript.added(None, everything, keep=len(everything) or 1)
    expected = next((m for m in reversed(everything) if m["buttons"]), {})
    assert transcript.last_with_buttons(text) == expected


def test_a_lone_surrogate_is_kept_as_an_escape() -> None:
    text = transcript.added(None, [{"text": "a\ud800b", "kind": "text", "buttons": []}])
    assert text.isascii()
    assert transcript.messages(text) == [{"text": "a\ud800b", "kind": "text", "buttons": []}]


def test_a_line_that_is_not_an_object_is_skipped() -> None:
    text = '{"text": "one"}\nnot json\n[1, 2]\n{"text": "two", "buttons": [{"id": "x"}]}\n'
    assert transcript.messages(text) == [{"text": "one"}, {"text": "two", "buttons": [{"id": "x"}]}]
    assert transcript.last_with_buttons(text + "broken {\n") == {"text": "two", "buttons": [{"id": "x"}]}
    assert transcript.messages(None) == [] and transcript.last_with_buttons("") == {}


async def test_a_web_chat_turn_keeps_its_messages_beside_the_state(
    settings: Settings, storage: Storage
) -> None:
    pipeline = make_pipeline(settings, storage)
    hello = await pipeline.handle(Inbound("webchat", "session-1", "e1", text="hello"))
    button = next(b for r in hello.replies for b in r.buttons)
    pressed = await pipeline.handle(Inbound("webchat", "session-1", "e2", choice=button.id))
    stored = await storage.load_conversation(pipeline.pseudonyms.of("webchat", "session-1"))
    assert stored.state is not None and "recent" not in stored.state
    said = transcript.messages(stored.transcript)
    assert said == [
        *(r.to_dict() for r in hello.replies),
        {"text": button.label, "kind": "citizen", "buttons": []},  # the button pressed: its label
        *(r.to_dict() for r in pressed.replies),
    ]
    assert "hello" not in [m["text"] for m in said]  # typed text is never kept
    await pipeline.handle(Inbound("telegram", "42", "e1", text="hello"))
    assert (await storage.load_conversation(pipeline.pseudonyms.of("telegram", "42"))).transcript is None


async def test_the_migration_moves_the_messages_out_of_the_state_and_back(storage: Storage) -> None:
    said = [{"text": "سلام", "kind": "text", "buttons": [{"id": "lang:ur", "label": "اردو"}]}]
    said += [{"text": str(n), "kind": "notice", "buttons": []} for n in range(40)]
    states = {
        "a": {"step": "start", "recent": said},
        "b": {"step": "report.describe", "draft": {"description": 'a page says "recent" news'}},
    }

    async def migrate_to(revision: str) -> None:
        def run(conn: Connection) -> None:
            config = migrate.alembic_config(conn, storage.audit_key)
            (command.upgrade if revision == "head" else command.downgrade)(config, revision)

        async with storage.writer.begin() as conn:
            await conn.run_sync(run)

    await migrate_to("0020")
    async with storage.writer.begin() as conn:
        for key, state in states.items():
            await conn.execute(
                sa.text(
                    "INSERT INTO conversations (id, channel, state, version, updated_at) "
                    "VALUES (:id, 'webchat', :state, 1, :at)"
                ),
                {"id": key, "state": json.dumps(state), "at": utcnow()},
            )
    await migrate_to("head")
    a, b = await storage.load_conversation("a"), await storage.load_conversation("b")
    assert a.state == {"step": "start"} and transcript.messages(a.transcript) == said[-30:]
    assert b.state == states["b"] and b.transcript is None
    await migrate_to("0020")
    async with storage.reader.connect() as conn:
        rows = dict((await conn.execute(sa.text("SELECT id, state FROM conversations"))).all())
    assert {key: json.loads(v) if isinstance(v, str) else v for key, v in rows.items()} == {
        "a": {"step": "start", "recent": said[-30:]},
        "b": states["b"],
    }
    await migrate_to("head")
