"""the web chat's transcript in a column of its own, conversations.transcript

A web chat conversation kept its last messages (the bot's replies, the labels of buttons pressed) in its
state, under "recent": about 10 KB of JSON that every turn parsed and wrote again to add two or three
messages (issue 23). They move to `conversations.transcript`, one JSON object a line, which a turn appends to
without reading (bot.shared.transcript). The row keeps them, so forget-me and retention, which delete it,
delete them as before.

PostgreSQL's `raabta_plain_turn` (migration 0019) takes the transcript as an eighth argument and stores it
with the state; the function of 0019 goes (its callers are of the code before this revision).

Downgrade puts the messages back in the state and restores 0019's function.

Revision ID: 0021
Revises: 0020
"""

import json
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

KEEP = 30  # messages a transcript keeps (bot.shared.transcript.MAX_MESSAGES when this was written)
BATCH = 500

FUNCTION = """
CREATE OR REPLACE FUNCTION raabta_plain_turn(
    p_channel text, p_event_id text, p_response json, p_state json, p_conversation_id text,
    p_expected integer, p_now timestamptz, p_transcript text, OUT duplicate boolean, OUT stored json
) LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO processed_events (channel, event_id, response, created_at)
    VALUES (p_channel, p_event_id, p_response, p_now)
    ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        duplicate := true;
        SELECT response INTO stored FROM processed_events
        WHERE channel = p_channel AND event_id = p_event_id;
        RETURN;
    END IF;
    IF p_expected = 0 THEN
        INSERT INTO conversations (id, channel, state, version, updated_at, transcript)
        VALUES (p_conversation_id, p_channel, p_state, 1, p_now, p_transcript)
        ON CONFLICT DO NOTHING;
    ELSE
        UPDATE conversations
        SET state = p_state, version = p_expected + 1, updated_at = p_now, transcript = p_transcript
        WHERE id = p_conversation_id AND version = p_expected;
    END IF;
    IF NOT FOUND THEN
        -- no id in the message: it reaches the server's log
        RAISE EXCEPTION 'the conversation changed elsewhere' USING ERRCODE = 'RB409';
    END IF;
    UPDATE contacts SET unreachable_at = NULL
    WHERE reporter_id = p_conversation_id AND channel = p_channel AND unreachable_at IS NOT NULL;
    duplicate := false;
END
$$
"""

# Migration 0019's function, as it was
FUNCTION_0019 = """
CREATE OR REPLACE FUNCTION raabta_plain_turn(
    p_channel text, p_event_id text, p_response json, p_state json, p_conversation_id text,
    p_expected integer, p_now timestamptz, OUT duplicate boolean, OUT stored json
) LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO processed_events (channel, event_id, response, created_at)
    VALUES (p_channel, p_event_id, p_response, p_now)
    ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        duplicate := true;
        SELECT response INTO stored FROM processed_events
        WHERE channel = p_channel AND event_id = p_event_id;
        RETURN;
    END IF;
    IF p_expected = 0 THEN
        INSERT INTO conversations (id, channel, state, version, updated_at)
        VALUES (p_conversation_id, p_channel, p_state, 1, p_now)
        ON CONFLICT DO NOTHING;
    ELSE
        UPDATE conversations SET state = p_state, version = p_expected + 1, updated_at = p_now
        WHERE id = p_conversation_id AND version = p_expected;
    END IF;
    IF NOT FOUND THEN
        -- no id in the message: it reaches the server's log
        RAISE EXCEPTION 'the conversation changed elsewhere' USING ERRCODE = 'RB409';
    END IF;
    UPDATE contacts SET unreachable_at = NULL
    WHERE reporter_id = p_conversation_id AND channel = p_channel AND unreachable_at IS NOT NULL;
    duplicate := false;
END
$$
"""

DROP = "DROP FUNCTION IF EXISTS raabta_plain_turn(text, text, json, json, text, integer, timestamptz, text)"
DROP_0019 = "DROP FUNCTION IF EXISTS raabta_plain_turn(text, text, json, json, text, integer, timestamptz)"

conversations = sa.table(
    "conversations", sa.column("id", sa.String), sa.column("state", sa.JSON), sa.column("transcript", sa.Text)
)


def _rows(where: Any) -> Iterator[Any]:
    """The conversations matching `where`, BATCH at a time in id order (a state may weigh tens of KB, so
    not all at once); the caller may change each row as it comes."""
    bind = op.get_bind()
    after = ""
    while True:
        query = (
            sa.select(conversations.c.id, conversations.c.state, conversations.c.transcript)
            .where(where, conversations.c.id > after)
            .order_by(conversations.c.id)
            .limit(BATCH)
        )
        rows = bind.execute(query).all()
        if not rows:
            return
        yield from rows
        after = rows[-1].id


def _as_text(state: sa.ColumnElement[Any]) -> sa.ColumnElement[str]:
    return sa.cast(state, sa.Text)


def upgrade() -> None:
    op.add_column("conversations", sa.Column("transcript", sa.Text(), nullable=True))
    bind = op.get_bind()
    for row in _rows(_as_text(conversations.c.state).contains('"recent"')):
        state = dict(row.state or {})
        recent = state.pop("recent", None)
        if recent is None:
            continue  # "recent" was a word in a draft, not the key
        said = [m for m in recent if isinstance(m, dict)][-KEEP:] if isinstance(recent, list) else []
        lines = "".join(json.dumps(m, ensure_ascii=False, separators=(",", ":")) + "\n" for m in said)
        bind.execute(
            sa.update(conversations)
            .where(conversations.c.id == row.id)
            .values(state=state, transcript=lines or None)
        )
    if bind.dialect.name == "postgresql":
        op.execute(DROP_0019)
        op.execute(FUNCTION)


def downgrade() -> None:
    bind = op.get_bind()
    for row in _rows(conversations.c.transcript.is_not(None)):
        said = []
        for line in (row.transcript or "").split("\n"):
            try:
                message = json.loads(line) if line.strip() else None
            except ValueError:
                message = None
            if isinstance(message, dict):
                said.append(message)
        state = dict(row.state or {})
        if said:
            state["recent"] = said[-KEEP:]
        bind.execute(sa.update(conversations).where(conversations.c.id == row.id).values(state=state))
    if bind.dialect.name == "postgresql":
        op.execute(DROP)
        op.execute(FUNCTION_0019)
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("transcript")
