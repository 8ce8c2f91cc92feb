"""Users: people who sign in with a name and a password, stored as an argon2id hash."""

import re
from datetime import UTC, datetime
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from edgeops.errors import Conflict, InvalidInput
from edgeops.governance import audit
from edgeops.governance.keys import Principal
from edgeops.governance.roles import validate_role
from edgeops.store.tables import User

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
MIN_PASSWORD = 12
MAX_PASSWORD = 1024  # argon2 takes any length; a bound keeps a huge body from costing much
# A hash of a random password nobody knows: checked when the user does not exist, so that an
# unknown name takes as long to refuse as a wrong password.
_DECOY_HASH = (
    "$argon2id$v=19$m=65536,t=3,p=4$URJVaJDb3O/lMUI638nA8Q$"
    "a6Alzi5f0j13W70yJyDxJnkfqNKg5wpJ8M2Q+F+Px5c"
)


def _hasher() -> PasswordHasher:
    """argon2id with argon2-cffi's defaults (RFC 9106's low-memory profile)."""
    return PasswordHasher()


def create_user(session: Session, name: str, password: str, role: str, actor: str) -> User:
    if not _NAME.match(name):
        raise InvalidInput(
            f"user name {name!r} is not allowed: use 1-64 lowercase letters, digits, "
            "'-' or '_', starting with a letter or digit (e.g. alice)"
        )
    validate_role(role)
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise InvalidInput(
            f"the password must have {MIN_PASSWORD} to {MAX_PASSWORD} characters "
            f"(it has {len(password)}); a passphrase of a few words is easiest to remember"
        )
    if session.scalar(select(User).where(User.name == name)) is not None:
        raise Conflict(f"user {name!r} already exists")
    user = User(name=name, password_hash=_hasher().hash(password), role=role, disabled=False)
    session.add(user)
    session.flush()
    audit.record(session, actor, "user.create", name, None, {"role": role})
    return user


def authenticate_user(session: Session, name: str, password: str) -> Principal | None:
    """The user's principal if the password is right and the user is enabled, else None.

    Every refusal costs one argon2 verification, so timing does not tell whether a name exists.
    A hash made with older parameters is upgraded in `session`: the caller commits."""
    hasher = _hasher()
    acceptable = len(name) <= 64 and len(password) <= MAX_PASSWORD
    user = session.scalar(select(User).where(User.name == name)) if acceptable else None
    try:
        hasher.verify(user.password_hash if user else _DECOY_HASH, password[:MAX_PASSWORD])
    except (VerificationError, InvalidHashError):
        return None
    if user is None or user.disabled:
        return None
    if hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hasher.hash(password)
    return Principal(
        actor=f"user:{user.name}", role=user.role, project_id=None, device_id=None, key_id=None
    )


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.name)))


def record(user: User) -> dict[str, Any]:
    """The user's stable public fields (CLI --json, REST API); never the password hash."""
    return {
        "name": user.name,
        "role": user.role,
        "disabled": user.disabled,
        "created_at": _aware(user.created_at).isoformat(),
    }


def _aware(at: datetime) -> datetime:
    """SQLite hands back naive datetimes; ours are stored in UTC."""
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at
