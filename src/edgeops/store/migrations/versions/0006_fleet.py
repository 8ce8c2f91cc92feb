"""fleet: devices, enrolment tokens, releases, rollouts, TUF signing keys and metadata

Revision ID: 0006
Revises: 0005
"""

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_AT = sa.DateTime(timezone=True)


def _owned() -> list[Any]:
    return [
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE"),
    ]


def upgrade() -> None:
    op.create_table(
        "releases",
        *_owned(),
        sa.Column("device_type", sa.String(length=64), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("changelog", sa.Text(), nullable=False),
        sa.Column("model_version_id", sa.Integer(), nullable=True),
        sa.Column("artifacts", sa.JSON(), nullable=False),
        sa.Column("deltas", sa.JSON(), nullable=False),
        sa.Column("created_at", _AT, nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(["model_version_id"], ["model_versions.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("project_id", "device_type", "version"),
    )
    op.create_table(
        "devices",
        *_owned(),
        sa.Column("device_id", sa.String(length=128), nullable=False),
        sa.Column("device_type", sa.String(length=64), nullable=False),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("groups", sa.JSON(), nullable=False),
        sa.Column("api_key_id", sa.Integer(), nullable=True),
        sa.Column("registered_at", _AT, nullable=False),
        sa.Column("registered_by", sa.String(length=128), nullable=False),
        sa.Column("last_seen_at", _AT, nullable=True),
        sa.Column("installed_release_id", sa.Integer(), nullable=True),
        sa.Column("target_release_id", sa.Integer(), nullable=True),
        sa.Column("health", sa.JSON(), nullable=False),
        sa.Column("update_state", sa.String(length=16), nullable=True),
        sa.Column("update_detail", sa.String(length=500), nullable=False),
        sa.Column("revoked_at", _AT, nullable=True),
        sa.ForeignKeyConstraint(["api_key_id"], ["api_keys.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["installed_release_id"], ["releases.id"]),
        sa.ForeignKeyConstraint(["target_release_id"], ["releases.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("project_id", "device_id"),
    )
    op.create_table(
        "enrolment_tokens",
        *_owned(),
        sa.Column("prefix", sa.String(length=12), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("device_type", sa.String(length=64), nullable=True),
        sa.Column("groups", sa.JSON(), nullable=False),
        sa.Column("uses_left", sa.Integer(), nullable=True),
        sa.Column("expires_at", _AT, nullable=True),
        sa.Column("created_at", _AT, nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("revoked_at", _AT, nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("prefix"),
    )
    op.create_table(
        "rollouts",
        *_owned(),
        sa.Column("release_id", sa.Integer(), nullable=False),
        sa.Column("group", sa.String(length=64), nullable=True),
        sa.Column("stages", sa.JSON(), nullable=False),
        sa.Column("dwell_s", sa.Integer(), nullable=False),
        sa.Column("stage_timeout_s", sa.Integer(), nullable=False),
        sa.Column("max_failure_rate", sa.Float(), nullable=False),
        sa.Column("on_failure", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("stage", sa.Integer(), nullable=False),
        sa.Column("stage_started_at", _AT, nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", _AT, nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("updated_at", _AT, nullable=False),
        sa.ForeignKeyConstraint(["release_id"], ["releases.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_rollouts_state", "rollouts", ["state"])
    op.create_table(
        "rollout_devices",
        sa.Column("rollout_id", sa.Integer(), nullable=False),
        sa.Column("device_pk", sa.Integer(), nullable=False),
        sa.Column("stage", sa.Integer(), nullable=False),
        sa.Column("previous_release_id", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.String(length=500), nullable=False),
        sa.Column("updated_at", _AT, nullable=False),
        sa.ForeignKeyConstraint(["rollout_id"], ["rollouts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["device_pk"], ["devices.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["previous_release_id"], ["releases.id"]),
        sa.PrimaryKeyConstraint("rollout_id", "device_pk"),
    )
    op.create_index("ix_rollout_devices_device_pk", "rollout_devices", ["device_pk"])
    op.create_table(
        "signing_keys",
        *_owned(),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("keyid", sa.String(length=64), nullable=False),
        sa.Column("public", sa.JSON(), nullable=False),
        sa.Column("private_pem", sa.Text(), nullable=True),
        sa.Column("created_at", _AT, nullable=False),
        sa.Column("retired_at", _AT, nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "tuf_metadata",
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("expires_at", _AT, nullable=False),
        sa.Column("created_at", _AT, nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("project_id", "role", "version"),
    )
    for table in ("releases", "devices", "enrolment_tokens", "rollouts", "signing_keys"):
        op.create_index(f"ix_{table}_project_id", table, ["project_id"])


def downgrade() -> None:
    for table in ("releases", "devices", "enrolment_tokens", "rollouts", "signing_keys"):
        op.drop_index(f"ix_{table}_project_id", table)
    op.drop_index("ix_rollout_devices_device_pk", "rollout_devices")
    op.drop_index("ix_rollouts_state", "rollouts")
    for table in ("tuf_metadata", "signing_keys", "rollout_devices", "rollouts",
                  "enrolment_tokens", "devices", "releases"):  # fmt: skip
        op.drop_table(table)
