"""governance: users, API keys, project HMAC keys, hash-chained audit log

Revision ID: 0002
Revises: 0001

Columns are added with ALTER TABLE ADD COLUMN only: on SQLite, batch mode would rebuild a table
by dropping it, and with foreign keys on, dropping `projects` would cascade to every sample.
New NOT NULL columns therefore carry a server default on SQLite (hmac_key '' and the audit hashes
64 zeros; dropped on PostgreSQL after the backfill, and never used: the code always sets them).
"""

import hashlib
import json
import secrets
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

GENESIS = "0" * 64

projects = sa.table("projects", sa.column("id", sa.Integer), sa.column("hmac_key", sa.String))
audit_events = sa.table(
    "audit_events",
    sa.column("id", sa.Integer),
    sa.column("at", sa.DateTime(timezone=True)),
    sa.column("actor", sa.String),
    sa.column("action", sa.String),
    sa.column("project_id", sa.Integer),
    sa.column("target", sa.String),
    sa.column("details", sa.JSON),
    sa.column("prev_hash", sa.String),
    sa.column("hash", sa.String),
)


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("prefix", sa.String(length=12), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=True),
        sa.Column("device_id", sa.String(length=128), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("project_id IS NOT NULL OR role = 'admin'", name="ck_api_keys_project"),
        sa.CheckConstraint(
            "(role = 'device') = (device_id IS NOT NULL)", name="ck_api_keys_device"
        ),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_api_keys_prefix", "api_keys", ["prefix"], unique=True)
    op.create_index("ix_api_keys_project_id", "api_keys", ["project_id"], unique=False)
    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("last_id", sa.Integer(), nullable=False),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )

    _add_not_null("projects", sa.Column("hmac_key", sa.String(length=64)), "")
    op.add_column(
        "projects",
        sa.Column("allow_unsigned", sa.Boolean(), nullable=False, server_default=sa.true()),
    )
    bind = op.get_bind()
    for (project_id,) in bind.execute(sa.select(projects.c.id)).all():
        bind.execute(
            projects.update()
            .where(projects.c.id == project_id)
            .values(hmac_key=secrets.token_hex(16))
        )

    _add_not_null("audit_events", sa.Column("prev_hash", sa.String(length=64)), GENESIS)
    _add_not_null("audit_events", sa.Column("hash", sa.String(length=64)), GENESIS)
    last_id, last_hash = _chain_existing_events(bind)
    op.bulk_insert(
        sa.table(
            "audit_head",
            sa.column("id", sa.Integer),
            sa.column("last_id", sa.Integer),
            sa.column("last_hash", sa.String),
        ),
        [{"id": 1, "last_id": last_id, "last_hash": last_hash}],
    )
    # allow_unsigned keeps its default (true): it is the documented default of the setting.
    for table, name in [("projects", "hmac_key"), ("audit_events", "prev_hash"),
                        ("audit_events", "hash")]:  # fmt: skip
        _drop_server_default(table, name)


def _add_not_null(table: str, column: sa.Column[Any], default: str) -> None:
    column.nullable = False
    column.server_default = sa.DefaultClause(default)
    op.add_column(table, column)


def _drop_server_default(table: str, column: str) -> None:
    if op.get_bind().dialect.name != "sqlite":  # SQLite would rebuild the table, see above
        op.alter_column(table, column, server_default=None)


def _chain_existing_events(bind: Any) -> tuple[int, str]:
    """Number the events written before the chain 1, 2, 3… (a PostgreSQL sequence may have
    left gaps, which the chain would report as deletions) and hash them in order. The hashing is
    governance/audit.py's of this revision, copied so that this migration never changes."""
    ids = bind.execute(sa.select(audit_events.c.id).order_by(audit_events.c.id)).scalars().all()
    for new_id, old_id in enumerate(ids, start=1):
        if new_id != old_id:  # ascending: the smaller id is always free by now
            bind.execute(audit_events.update().where(audit_events.c.id == old_id).values(id=new_id))
    previous = GENESIS
    rows = bind.execute(sa.select(audit_events).order_by(audit_events.c.id)).all()
    for row in rows:
        at: datetime = row.at
        at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
        fields = {
            "id": row.id,
            "at": at.isoformat(timespec="microseconds"),
            "actor": row.actor,
            "action": row.action,
            "project_id": row.project_id,
            "target": row.target,
            "details": row.details,
        }
        canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        digest = hashlib.sha256((previous + canonical).encode()).hexdigest()
        bind.execute(
            audit_events.update()
            .where(audit_events.c.id == row.id)
            .values(prev_hash=previous, hash=digest)
        )
        previous = digest
    return len(rows), previous


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite >= 3.35), not a batch rebuild: see the module docstring.
    for table, column in [("audit_events", "hash"), ("audit_events", "prev_hash"),
                          ("projects", "allow_unsigned"), ("projects", "hmac_key")]:  # fmt: skip
        op.drop_column(table, column)
    op.drop_table("audit_head")
    op.drop_index("ix_api_keys_project_id", table_name="api_keys")
    op.drop_index("ix_api_keys_prefix", table_name="api_keys")
    op.drop_table("api_keys")
    op.drop_table("users")
