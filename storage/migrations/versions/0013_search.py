"""search: the words of report descriptions (report_text) and the account names of cases (case_handles)

`report_text` holds each report's description as words made in Python (storage.search.terms: nlu.normalize,
then Roman Urdu spellings folded), so both databases index and query exactly the same words:

- SQLite: an FTS5 table, rowid = reports.id, the `ascii` tokenizer (it splits on ASCII spaces and
  punctuation only, so the words reach the index as made) and detail=none (no positions: a query is its
  words, in any order). A trigger deletes a report's row with the report, so a reused rowid never inherits
  another report's words.
- PostgreSQL: a table of (report_id, tsvector) with a GIN index; the tsvector is array_to_tsvector of the
  words (the 'simple' configuration's result, no stemming since Urdu has none, without depending on the
  parser or the database's LC_CTYPE); the foreign key cascades a report's deletion.

Neither can be declared portably, so `report_text` is not in storage.schema (storage.search names it for
schema comparisons to leave out). `case_handles` is plain and is in storage.schema.

The backfill indexes every report stored before this revision, and keys every case by the account of its
link and the @handles its reports name, with the functions the app uses when it stores a report (imported
from storage.search: a later change to how words are made must come with a migration that re-indexes).

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY

from storage.search import account_of, handle_name, terms

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

BATCH = 2_000


def upgrade() -> None:
    op.create_table(
        "case_handles",
        sa.Column("handle", sa.String(length=100), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_case_handles_case_id_cases")),
        sa.PrimaryKeyConstraint("handle", "case_id", name=op.f("pk_case_handles")),
    )
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute(
            "CREATE TABLE report_text ("
            " report_id INTEGER PRIMARY KEY REFERENCES reports (id) ON DELETE CASCADE,"
            " terms TSVECTOR NOT NULL)"
        )
        op.execute("CREATE INDEX ix_report_text_terms ON report_text USING gin (terms)")
        insert = sa.text(
            "INSERT INTO report_text (report_id, terms) VALUES (:id, array_to_tsvector(:terms))"
        ).bindparams(sa.bindparam("terms", type_=ARRAY(sa.Text)))
    else:
        op.execute("CREATE VIRTUAL TABLE report_text USING fts5(terms, tokenize = 'ascii', detail = none)")
        op.execute(
            "CREATE TRIGGER report_text_gone AFTER DELETE ON reports "
            "BEGIN DELETE FROM report_text WHERE rowid = old.id; END"
        )
        insert = sa.text("INSERT INTO report_text (rowid, terms) VALUES (:id, :terms)")
    _backfill(bind, insert, bind.dialect.name == "postgresql")


def _backfill(bind: sa.engine.Connection, insert: sa.TextClause, postgres: bool) -> None:
    last = 0
    while True:
        rows = bind.execute(
            sa.text("SELECT id, description FROM reports WHERE id > :last ORDER BY id LIMIT :n"),
            {"last": last, "n": BATCH},
        ).all()
        if not rows:
            break
        last = rows[-1].id
        words = [(row.id, terms(row.description or "")) for row in rows]
        values = [
            {"id": report_id, "terms": found if postgres else " ".join(found)}
            for report_id, found in words
            if found
        ]
        if values:
            bind.execute(insert, values)
    pairs: set[tuple[str, int]] = set()
    for row in bind.execute(sa.text("SELECT id, canonical_url FROM cases WHERE canonical_url IS NOT NULL")):
        account = account_of(row.canonical_url)
        if account is not None:
            pairs.add((account[0], row.id))
    named = bind.execute(
        sa.text(
            "SELECT e.value, cr.case_id FROM evidence e JOIN case_reports cr ON cr.report_id = e.report_id "
            "WHERE e.kind = 'handle'"
        )
    )
    for row in named:
        name = handle_name(row.value)
        if name:
            pairs.add((name, row.case_id))
    ordered = sorted(pairs)
    for start in range(0, len(ordered), BATCH):
        bind.execute(
            sa.text("INSERT INTO case_handles (handle, case_id) VALUES (:handle, :case_id)"),
            [{"handle": name, "case_id": case_id} for name, case_id in ordered[start : start + BATCH]],
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS report_text_gone")
    op.execute("DROP TABLE report_text")
    op.drop_table("case_handles")
