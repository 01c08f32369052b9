"""evidence: the sha256 of downloaded files; evidence_files: each kept copy, when stored and when purged

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("evidence") as batch:
        batch.add_column(sa.Column("sha256", sa.String(length=64), nullable=True))
        batch.create_index(batch.f("ix_evidence_fingerprint"), ["fingerprint"], unique=False)
    op.create_table(
        "evidence_files",
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("stored_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("channel", "name", name=op.f("pk_evidence_files")),
    )
    with op.batch_alter_table("evidence_files") as batch:
        batch.create_index(batch.f("ix_evidence_files_stored_at"), ["stored_at"], unique=False)


def downgrade() -> None:
    op.drop_table("evidence_files")
    with op.batch_alter_table("evidence") as batch:
        batch.drop_index(batch.f("ix_evidence_fingerprint"))
        batch.drop_column("sha256")
