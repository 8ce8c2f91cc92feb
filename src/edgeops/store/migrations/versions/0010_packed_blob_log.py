"""packed blob log: the ingestion committer records pack places in order, merged later

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "packed_blob_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("pack", sa.String(length=64), nullable=False),
        sa.Column("start", sa.BigInteger(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("packed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    # Places not merged yet go to packed_blobs first, so no packed blob is lost.
    op.execute(
        "INSERT INTO packed_blobs (digest, pack, start, size, packed_at) "
        "SELECT digest, pack, start, size, packed_at FROM packed_blob_log WHERE true "
        "ORDER BY id ON CONFLICT (digest) DO NOTHING"
    )
    op.drop_table("packed_blob_log")
