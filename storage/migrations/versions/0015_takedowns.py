"""referral notices and takedown checks (referrals, takedown_checks)

A referral used to end at the decision: nothing said whether a notice went out, to whom, or whether the
page came down. `referrals` keeps each notice sent about a referred or escalated case (agency, the
template of responses/notices.yaml it was written from, when it was sent, the reference the platform or
agency gave it); `takedown_checks` keeps what an analyst found when looking again (still_online, removed,
geo_blocked). storage/takedowns.py reads them for the "checks due" lane and the time-to-removal figures.
Both are new and empty: cases referred before this revision count from their decision until a notice is
recorded for them.

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "referrals",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("agency", sa.String(length=32), nullable=False),
        sa.Column("reference", sa.String(length=100), nullable=True),
        sa.Column("template", sa.String(length=32), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_referrals_case_id_cases")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referrals")),
    )
    op.create_index(op.f("ix_referrals_case_id"), "referrals", ["case_id"])
    op.create_table(
        "takedown_checks",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("result", sa.String(length=16), nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("by", sa.String(length=64), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_takedown_checks_case_id_cases")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_takedown_checks")),
    )
    op.create_index(op.f("ix_takedown_checks_case_id"), "takedown_checks", ["case_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_takedown_checks_case_id"), table_name="takedown_checks")
    op.drop_table("takedown_checks")
    op.drop_index(op.f("ix_referrals_case_id"), table_name="referrals")
    op.drop_table("referrals")
