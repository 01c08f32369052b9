"""processed_events: when the replies of an event were sent (replied_at)

Telegram redelivers a webhook update whose 200 it did not get: after a crash between the commit and the
sending (the replies must go now), or when the first instance was merely slow (they are going already).
With several instances the redelivery may reach another one, which cannot tell the two apart from its own
memory. The instance that sends an event's replies records it here; one that meets the event again sends
the stored replies only when nobody has recorded sending them within a grace period
(bot/channels/telegram.py). Rows stored before this revision are older than any grace period.

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("processed_events") as batch:
        batch.add_column(sa.Column("replied_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("processed_events") as batch:
        batch.drop_column("replied_at")
