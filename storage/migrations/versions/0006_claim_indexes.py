"""cases: indexes in claim order and by lease expiry, so a claim reads the first rows of an index

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.create_index(
            "ix_cases_claim",
            ["status", sa.text("urgent DESC"), sa.text("priority DESC"), "first_seen", "id"],
            unique=False,
        )
        batch.create_index("ix_cases_lease", ["status", "lease_until"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.drop_index("ix_cases_lease")
        batch.drop_index("ix_cases_claim")
