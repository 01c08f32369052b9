"""support requests keep where to write back; subscriptions for the weekly digest

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("support_requests") as batch:
        batch.add_column(sa.Column("conversation_id", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("channel", sa.String(length=16), nullable=True))
        batch.create_index(batch.f("ix_support_requests_conversation_id"), ["conversation_id"], unique=False)
    op.create_table(
        "subscriptions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("conversation_id", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_week", sa.String(length=8), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscriptions")),
        sa.UniqueConstraint(
            "conversation_id", "channel", "language", name=op.f("uq_subscriptions_conversation_id")
        ),
    )


def downgrade() -> None:
    op.drop_table("subscriptions")
    with op.batch_alter_table("support_requests") as batch:
        batch.drop_index(batch.f("ix_support_requests_conversation_id"))
        batch.drop_column("channel")
        batch.drop_column("conversation_id")
