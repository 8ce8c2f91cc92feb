"""packed blobs: a staged blob's bytes may sit in a pack file instead of the row

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("staged_blobs") as batch:
        batch.alter_column("data", existing_type=sa.LargeBinary(), nullable=True)
        batch.add_column(sa.Column("pack", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("start", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("size", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("staged_blobs") as batch:
        batch.drop_column("size")
        batch.drop_column("start")
        batch.drop_column("pack")
        batch.alter_column("data", existing_type=sa.LargeBinary(), nullable=False)
