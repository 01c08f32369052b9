"""PostgreSQL: a plain turn in one round trip, the function raabta_plain_turn

Nine messages in ten are plain turns (storage.plainturn.is_plain): their event id, their conversation's new
state, their contact reachable again. Through SQLAlchemy in a transaction that is five round trips (BEGIN,
three statements, COMMIT); this function makes them one statement, which PostgreSQL runs as a transaction
of its own (storage/pgturn.py calls it in autocommit). Its statements are those of
`Storage._commit_head` and `outbox.clear_unreachable`, so it stores exactly their rows
(tests/test_pg_plain_turn.py compares the two):

- a duplicate event (its id is stored already) changes nothing: `duplicate` is true and `stored` is the
  response stored with it;
- a stale version (another instance moved the conversation on), or a first turn whose conversation exists
  already, raises SQLSTATE RB409, which rolls back the event id inserted before it too: nothing is stored;
- otherwise: the event row, the state row (version + 1, or 1 for a first turn), the contact reachable.

SQLite has no stored functions and commits its plain turns in fixed SQL (storage.plainturn): this
revision does nothing there. The function's text is frozen here; a change to it is a new revision
(CREATE OR REPLACE).

Revision ID: 0019
Revises: 0018
"""

from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

FUNCTION = """
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

DROP = (
    "DROP FUNCTION IF EXISTS raabta_plain_turn(text, text, json, json, text, integer, timestamptz)"
)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(FUNCTION)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(DROP)
