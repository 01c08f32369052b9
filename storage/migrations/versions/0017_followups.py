"""follow-up questions analysts send to reporters, and the answers they bring

`followups` holds an analyst's question on a case with counts only (queued to, answered, skipped): never
who was asked. `followup_pending` marks a question waiting for one reporter's next message, by report
(never by pseudonym: the outbox row that delivers it names the chat, as every notification does); rows go
when that message arrives, with forget-me, or when they are too old. `evidence.followup_id` says which
question an answer (kind `answer`, or a link or file sent with it) was sent for. storage/followups.py.

Revision ID: 0017
Revises: 0016
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "followups",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("asked_by", sa.String(length=64), nullable=False),
        sa.Column("asked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recipients", sa.Integer(), nullable=False),
        sa.Column("answered", sa.Integer(), server_default="0", nullable=False),
        sa.Column("skipped", sa.Integer(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_followups_case_id_cases")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_followups")),
    )
    op.create_index(op.f("ix_followups_case_id"), "followups", ["case_id"], unique=False)
    op.create_table(
        "followup_pending",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("followup_id", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("outbox_id", sa.Integer(), nullable=True),
        sa.Column("asked_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["followup_id"],
            ["followups.id"],
            name=op.f("fk_followup_pending_followup_id_followups"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["reports.id"],
            name=op.f("fk_followup_pending_report_id_reports"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_followup_pending")),
        sa.UniqueConstraint("followup_id", "report_id", name=op.f("uq_followup_pending_followup_id")),
    )
    op.create_index(op.f("ix_followup_pending_report_id"), "followup_pending", ["report_id"], unique=False)
    op.create_index(op.f("ix_followup_pending_asked_at"), "followup_pending", ["asked_at"], unique=False)
    # A nullable column without a foreign key: SQLite adds it in place (no copy of the evidence table).
    with op.batch_alter_table("evidence") as batch:
        batch.add_column(sa.Column("followup_id", sa.Integer(), nullable=True))
    op.create_index(op.f("ix_evidence_followup_id"), "evidence", ["followup_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_evidence_followup_id"), table_name="evidence")
    with op.batch_alter_table("evidence") as batch:
        batch.drop_column("followup_id")
    op.drop_index(op.f("ix_followup_pending_asked_at"), table_name="followup_pending")
    op.drop_index(op.f("ix_followup_pending_report_id"), table_name="followup_pending")
    op.drop_table("followup_pending")
    op.drop_index(op.f("ix_followups_case_id"), table_name="followups")
    op.drop_table("followups")
