"""outbox: the subject of a status message and the status it tells, so an undelivered one can be withdrawn
when it stops being true, and the reporter's last delivered status is known again

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("subject", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("says", sa.String(length=16), nullable=True))
        batch.create_index(batch.f("ix_outbox_subject"), ["subject"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_index(batch.f("ix_outbox_subject"))
        batch.drop_column("says")
        batch.drop_column("subject")
