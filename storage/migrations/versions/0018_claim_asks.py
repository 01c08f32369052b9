"""how often each recruiters' claim is asked about: counts by day and language, never who asked

`claim_asks` holds one row per day (in Pakistan), claim (an id of responses/claims.yaml) and language, with
the number of times the claim's answer was asked for. No pseudonym and no conversation: forget-me has
nothing here to delete. storage/claim_asks.py.

Revision ID: 0018
Revises: 0017
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "claim_asks",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("claim", sa.Text(), nullable=False),
        sa.Column("language", sa.Text(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", "claim", "language", name=op.f("pk_claim_asks")),
    )


def downgrade() -> None:
    op.drop_table("claim_asks")
