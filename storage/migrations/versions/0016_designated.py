"""designated organisations matched on reports and cases: reports.designated and cases.designated

The pipeline matches each report against the designated (proscribed) organisations list
(bot.shared.designated) when it comes in; storage keeps what it found on the report (reports.designated,
with the link for a name found in a link's slug) and gathers, on each case, what its reports name there
(cases.designated), which the queue shows and the priority weighs (storage.priority, the `designated`
part). Reports stored before this revision were never matched: both columns stay null for them.

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("reports") as batch:
        batch.add_column(sa.Column("designated", sa.JSON(), nullable=True))
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("designated", sa.JSON(), nullable=True))


def downgrade() -> None:
    for table in ("cases", "reports"):
        if op.get_bind().dialect.name == "sqlite":
            # In place (SQLite 3.35 or later): batch mode would copy the table and drop the old one, which
            # the foreign keys pointing at cases and reports refuse while they hold rows (as in 0012).
            op.execute(f"ALTER TABLE {table} DROP COLUMN designated")
        else:
            op.drop_column(table, "designated")
