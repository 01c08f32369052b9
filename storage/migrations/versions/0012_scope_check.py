"""reports and cases: the "scope check" mark (the citizen went on past the scope notice)

A report carries the mark when its citizen was told what Raabta is for (violence, recruitment, financing,
threats, weapons) and that accusing someone can endanger lives, and went on believing that the page, about
opinion, criticism of the state or army, sectarian disagreement or a blasphemy accusation, incites violence.

A case shows the mark when any of its reports carries it. That is stored on the case, not derived in each
query: every read of a case (the queue list and its lanes, claims, the case page, the API, the CLI, the
CSV, JSON and STIX exports) selects the case row, so a column reaches them all without an EXISTS over
case_reports and reports in each, and the list filters on it like `needs_care`. It is kept true to its
reports where reports move: a marked report joining a case sets it (storage.cases.join and receive), a
merge carries it to the case merged into (storage.queue), and nothing clears it (reports never leave a
case otherwise, and a decision does not change what its reports are, unlike `urgent`). Reports stored
before this revision never saw the notice with the mark kept, so both columns start false and there is
nothing to derive.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Not in batch mode: on SQLite that would copy each table (for the `false()` default) and drop the old
    # one, which the foreign keys pointing at cases and reports refuse once they hold rows.
    for table in ("reports", "cases"):
        op.add_column(table, sa.Column("scope_check", sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    for table in ("cases", "reports"):
        if op.get_bind().dialect.name == "sqlite":
            # In place (SQLite 3.35 or later): batch mode would copy the table and drop the old one, which
            # the foreign keys pointing at cases and reports refuse while they hold rows.
            op.execute(f"ALTER TABLE {table} DROP COLUMN scope_check")
        else:
            op.drop_column(table, "scope_check")
