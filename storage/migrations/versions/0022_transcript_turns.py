"""the web chat's transcript as a row a turn, transcript_turns

Kept as one text on the conversation's row (migration 0021), the transcript was written again whole by
every turn, about 10 KB to add two or three messages (issue 23). Each turn's messages now go in a row of
their own, keyed by the conversation and its version after the turn; a turn deletes the row 30 versions
back (storage.transcripts). A button the citizen pressed is kept as its id (`{"kind": "citizen",
"choice": ...}`) and named by the message that offered it when a page reads the transcript, so a turn
never reads earlier messages. The rows go with their conversation (ON DELETE CASCADE).

Upgrade moves each conversation's text into one row at its current version (its lines are messages as
before; a pressed button's line holds its label, which readers keep) and drops the column. PostgreSQL's
`raabta_plain_turn` keeps its arguments; its eighth is now the turn's own messages, added as a row.

Downgrade puts each conversation's last 30 messages back in the column, the pressed buttons named, and
restores 0021's function.

Revision ID: 0022
Revises: 0021
"""

import importlib.util
import json
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

KEEP_TURNS = 30  # rows a conversation keeps (storage.transcripts.KEEP_TURNS when this was written)
KEEP = 30  # messages the column kept (0021)
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
    IF p_transcript <> '' THEN
        INSERT INTO transcript_turns (conversation_id, version, messages)
        VALUES (p_conversation_id, p_expected + 1, p_transcript);
        IF p_expected + 1 > 30 THEN
            DELETE FROM transcript_turns
            WHERE conversation_id = p_conversation_id AND version <= p_expected + 1 - 30;
        END IF;
    END IF;
    UPDATE contacts SET unreachable_at = NULL
    WHERE reporter_id = p_conversation_id AND channel = p_channel AND unreachable_at IS NOT NULL;
    duplicate := false;
END
$$
"""

conversations = sa.table(
    "conversations",
    sa.column("id", sa.String),
    sa.column("version", sa.Integer),
    sa.column("transcript", sa.Text),
)
turns = sa.table(
    "transcript_turns",
    sa.column("conversation_id", sa.String),
    sa.column("version", sa.Integer),
    sa.column("messages", sa.Text),
)


def _function_0021() -> str:
    """Migration 0021's function text, read from its file rather than repeated here."""
    path = Path(__file__).with_name("0021_transcripts.py")
    spec = importlib.util.spec_from_file_location("raabta_migration_0021", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return str(module.FUNCTION)


def upgrade() -> None:
    op.create_table(
        "transcript_turns",
        sa.Column(
            "conversation_id",
            sa.String(64),
            sa.ForeignKey("conversations.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("version", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("messages", sa.Text(), nullable=False),
        sqlite_with_rowid=False,
    )
    bind = op.get_bind()
    after = ""
    while True:  # BATCH conversations at a time: a transcript weighs about 10 KB
        rows = bind.execute(
            sa.select(conversations.c.id, conversations.c.version, conversations.c.transcript)
            .where(conversations.c.transcript.is_not(None), conversations.c.transcript != "")
            .where(conversations.c.id > after)
            .order_by(conversations.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            break
        bind.execute(
            sa.insert(turns),
            [{"conversation_id": r.id, "version": r.version, "messages": r.transcript} for r in rows],
        )
        after = rows[-1].id
    # Not a batch operation on SQLite: that copies the table and drops the old one, and dropping it
    # deletes the rows just moved (the cascade). SQLite drops a column in place since 3.35.
    op.execute("ALTER TABLE conversations DROP COLUMN transcript")
    if bind.dialect.name == "postgresql":
        op.execute(FUNCTION)


def _messages(texts: list[str]) -> list[dict[str, Any]]:
    """The messages of a conversation's rows, oldest first, a pressed button named by the newest earlier
    message that offered it (left out when none did), as bot.shared.transcript reads them."""
    found: list[dict[str, Any]] = []
    for text in texts:
        for line in text.split("\n"):
            try:
                message = json.loads(line) if line.strip() else None
            except ValueError:
                message = None
            if not isinstance(message, dict):
                continue
            choice = message.get("choice") if message.get("kind") == "citizen" else None
            if isinstance(choice, str):
                label = next(
                    (
                        b.get("label")
                        for m in reversed(found)
                        for b in (m.get("buttons") or [])
                        if isinstance(b, dict) and b.get("id") == choice
                    ),
                    None,
                )
                if not isinstance(label, str):
                    continue
                message = {"text": label, "kind": "citizen", "buttons": []}
            found.append(message)
    return found


def downgrade() -> None:
    op.add_column("conversations", sa.Column("transcript", sa.Text(), nullable=True))
    bind = op.get_bind()
    after = ""
    while True:
        ids = list(
            bind.scalars(
                sa.select(turns.c.conversation_id)
                .where(turns.c.conversation_id > after)
                .group_by(turns.c.conversation_id)
                .order_by(turns.c.conversation_id)
                .limit(BATCH)
            )
        )
        if not ids:
            break
        for conversation_id in ids:
            texts = list(
                bind.scalars(
                    sa.select(turns.c.messages)
                    .where(turns.c.conversation_id == conversation_id)
                    .order_by(turns.c.version)
                )
            )
            said = _messages(texts)[-KEEP:]
            lines = "".join(json.dumps(m, ensure_ascii=False, separators=(",", ":")) + "\n" for m in said)
            bind.execute(
                sa.update(conversations)
                .where(conversations.c.id == conversation_id)
                .values(transcript=lines or None)
            )
        after = ids[-1]
    if bind.dialect.name == "postgresql":
        op.execute(_function_0021())
    op.drop_table("transcript_turns")
