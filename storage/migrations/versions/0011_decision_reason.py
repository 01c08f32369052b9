"""cases: when the case was last claimed (a reporter is told "under review since") and the reason picked
with the decision (a reporter is told why)

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("reason", sa.String(length=32), nullable=True))
    # A case held now was last touched by its claim or a lease extension: the nearest date there is.
    op.execute("UPDATE cases SET claimed_at = updated_at WHERE status = 'in_review'")


def downgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("reason")
        batch.drop_column("claimed_at")
