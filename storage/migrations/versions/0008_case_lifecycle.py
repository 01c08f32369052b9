"""cases: title, priority parts, claimed report count, shared_at; reports: per-report consent and the last
status sent; case_reports: every case a report is on (one per link)

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("title", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("priority_parts", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("claimed_reports", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("shared_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("reports") as batch:
        batch.add_column(sa.Column("updates", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch.add_column(sa.Column("notified_status", sa.String(length=16), nullable=True))
    op.create_table(
        "case_reports",
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_case_reports_case_id_cases")),
        sa.ForeignKeyConstraint(
            ["report_id"], ["reports.id"], name=op.f("fk_case_reports_report_id_reports"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("case_id", "report_id", name=op.f("pk_case_reports")),
    )
    with op.batch_alter_table("case_reports") as batch:
        batch.create_index(batch.f("ix_case_reports_report_id"), ["report_id"], unique=False)
    # Every existing report is on its one case; consent given before this revision was per citizen, so a
    # report whose reporter kept a contact on its channel keeps getting updates.
    op.execute("INSERT INTO case_reports (case_id, report_id) SELECT case_id, id FROM reports")
    op.execute(
        "UPDATE reports SET updates = true WHERE EXISTS (SELECT 1 FROM contacts WHERE "
        "contacts.reporter_id = reports.reporter_id AND contacts.channel = reports.channel)"
    )
    # Decided cases' reporters were told when they were decided.
    op.execute(
        "UPDATE reports SET notified_status = CASE (SELECT status FROM cases WHERE cases.id = reports.case_id) "
        "WHEN 'referred' THEN 'action_taken' WHEN 'escalated' THEN 'action_taken' "
        "WHEN 'monitoring' THEN 'reviewed' WHEN 'no_action' THEN 'reviewed' ELSE NULL END"
    )
    op.execute("UPDATE cases SET shared_at = decided_at WHERE status IN ('referred', 'escalated')")


def downgrade() -> None:
    op.drop_table("case_reports")
    with op.batch_alter_table("reports") as batch:
        batch.drop_column("notified_status")
        batch.drop_column("updates")
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("shared_at")
        batch.drop_column("claimed_reports")
        batch.drop_column("priority_parts")
        batch.drop_column("title")
