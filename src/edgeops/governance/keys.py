"""API keys: secrets for programs and devices, scoped to a role and (except admin) a project.

A key reads `eo_<prefix>_<secret>`. The 12-character prefix is stored in clear to find the key
and to name it (`key:<prefix>` in the audit log); of the whole key only its SHA-256 is stored.
"""

import hashlib
import hmac
import secrets
import string
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from edgeops.errors import Conflict, InvalidInput, NotFound
from edgeops.governance import audit
from edgeops.governance.roles import Permission, allowed, validate_role
from edgeops.store.tables import ApiKey, Project, utcnow

# Lowercase letters and digits only: a prefix never starts with '-' (it is a CLI argument) and
# never contains the '_' that separates it from the secret.
_PREFIX_ALPHABET = string.ascii_lowercase + string.digits
PREFIX_LENGTH = 12
_HEAD = "eo_"
_SECRET_START = len(_HEAD) + PREFIX_LENGTH + 1
MAX_KEY_LENGTH = 256
LAST_USED_RESOLUTION = timedelta(minutes=1)  # record a key's use at most this often


@dataclass(frozen=True)
class Principal:
    """Who is acting: a user or an API key, with its role and reach.

    `project_id` None means every project (admin keys, and users, whose roles are
    workspace-wide); a project-scoped principal acts on its project only."""

    actor: str  # as written to the audit log: "key:ab12cd34ef56", "user:alice"
    role: str
    project_id: int | None
    device_id: str | None
    key_id: int | None

    def can(self, permission: Permission, project_id: int | None = None) -> bool:
        """Whether the role grants `permission` on `project_id` (None: workspace-wide)."""
        reach = self.project_id is None or self.project_id == project_id
        return reach and allowed(self.role, permission)


def hash_secret(secret: str) -> str:
    """SHA-256 of the whole key. A fast hash is right here: keys carry 190+ random bits, so
    there is nothing to brute-force (argon2 is for passwords, which people choose)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def create_key(
    session: Session,
    *,
    role: str,
    project: Project | None,
    name: str | None,
    actor: str,
    device_id: str | None = None,
) -> tuple[ApiKey, str]:
    """A new key and its secret. The secret is returned this once and cannot be shown again."""
    validate_role(role)
    if project is None and role != "admin":
        raise InvalidInput(f"a {role!r} key needs a project; only admin keys span all projects")
    if role == "device" and not device_id:
        raise InvalidInput("a device key needs a device id (e.g. --device pump-7)")
    if device_id is not None and role != "device":
        raise InvalidInput(f"only device keys have a device id, not {role!r} keys")
    if device_id is not None and not (0 < len(device_id) <= 128 and device_id.isprintable()):
        raise InvalidInput("a device id has 1-128 printable characters")
    name = name if name is not None else (device_id or f"{role} key")
    if len(name) > 128:
        raise InvalidInput("a key name has at most 128 characters")
    prefix = "".join(secrets.choice(_PREFIX_ALPHABET) for _ in range(PREFIX_LENGTH))
    secret = f"{_HEAD}{prefix}_{secrets.token_urlsafe(32)}"
    key = ApiKey(
        prefix=prefix, secret_hash=hash_secret(secret), name=name, role=role,
        project_id=project.id if project else None, device_id=device_id, created_by=actor,
    )  # fmt: skip
    session.add(key)
    session.flush()
    details = {"role": role, "name": name, "device_id": device_id}
    audit.record(session, actor, "key.create", f"key:{prefix}", key.project_id, details)
    return key, secret


def authenticate_key(session: Session, secret: str) -> Principal | None:
    """The key's principal, or None for anything that is not a live key (never raises on
    garbage). Notes the key's use at most once a minute, in `session`: the caller commits."""
    if not (
        isinstance(secret, str)
        and _SECRET_START < len(secret) <= MAX_KEY_LENGTH
        and secret.isascii()
        and secret.startswith(_HEAD)
        and secret[_SECRET_START - 1] == "_"
    ):
        return None
    prefix = secret[len(_HEAD) : _SECRET_START - 1]
    if any(char not in _PREFIX_ALPHABET for char in prefix):
        return None
    key = session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
    if key is None or not hmac.compare_digest(key.secret_hash, hash_secret(secret)):
        return None
    if key.revoked_at is not None:
        return None
    now = utcnow()
    if key.last_used_at is None or _aware(key.last_used_at) < now - LAST_USED_RESOLUTION:
        key.last_used_at = now
    return Principal(
        actor=f"key:{key.prefix}", role=key.role, project_id=key.project_id,
        device_id=key.device_id, key_id=key.id,
    )  # fmt: skip


def revoke(session: Session, prefix_or_id: str | int, actor: str) -> ApiKey:
    """Revoke a key (by prefix, or by id when given an int); it stops working at once."""
    if isinstance(prefix_or_id, int):
        key = session.get(ApiKey, prefix_or_id)
    else:
        key = session.scalar(select(ApiKey).where(ApiKey.prefix == prefix_or_id))
    if key is None:
        raise NotFound(f"no API key {prefix_or_id!r} (see `edgeops keys list`)")
    if key.revoked_at is not None:
        raise Conflict(f"key {key.prefix} was already revoked at {key.revoked_at:%Y-%m-%d %H:%M}")
    key.revoked_at = utcnow()
    audit.record(session, actor, "key.revoke", f"key:{key.prefix}", key.project_id,
                 {"name": key.name})  # fmt: skip
    return key


def list_keys(session: Session, project: Project | None = None) -> list[ApiKey]:
    """All keys (revoked ones too), or a project's."""
    query = select(ApiKey).order_by(ApiKey.id)
    if project is not None:
        query = query.where(ApiKey.project_id == project.id)
    return list(session.scalars(query))


def record(key: ApiKey) -> dict[str, Any]:
    """The key's stable public fields (CLI --json, REST API); never the secret or its hash."""
    return {
        "id": key.id,
        "prefix": key.prefix,
        "name": key.name,
        "role": key.role,
        "project_id": key.project_id,
        "device_id": key.device_id,
        "created_at": _aware(key.created_at).isoformat(),
        "created_by": key.created_by,
        "last_used_at": _iso(key.last_used_at),
        "revoked_at": _iso(key.revoked_at),
    }


def _aware(at: datetime) -> datetime:
    """SQLite hands back naive datetimes; ours are stored in UTC."""
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at


def _iso(at: datetime | None) -> str | None:
    return _aware(at).isoformat() if at is not None else None
