"""governance: retention policies per project, data-encryption keys (per project and subject)

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_AT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "retention_policies",
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("raw_sample_days", sa.Integer(), nullable=False),
        sa.Column("updated_at", _AT, nullable=False),
        sa.Column("updated_by", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("project_id"),
    )
    op.create_table(
        "data_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("subject_sha256", sa.String(length=64), nullable=False),
        sa.Column("wrapped", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", _AT, nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("project_id", "subject_sha256"),
    )
    op.create_index("ix_data_keys_project_id", "data_keys", ["project_id"])


def downgrade() -> None:
    op.drop_index("ix_data_keys_project_id", table_name="data_keys")
    op.drop_table("data_keys")
    op.drop_table("retention_policies")
