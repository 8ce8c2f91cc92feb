"""Devices: registration (by an operator, or self-registration with an enrolment token), tags and
groups, revocation, and what devices report (check-ins, update status)."""

import contextlib
import hashlib
import hmac
import json
import re
import secrets
import string
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from edgeops.errors import Conflict, InvalidInput, NotFound
from edgeops.fleet.releases import check_name
from edgeops.governance import audit, keys
from edgeops.store.tables import Device, EnrolmentToken, Project, Release

DEVICE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
TAG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:=/-]{0,63}$")
MAX_TAGS = 64
MAX_ATTRIBUTES_BYTES = 4096
_ALPHABET = string.ascii_lowercase + string.digits
TOKEN_HEAD = "eoe_"


def check_device_id(text: str) -> str:
    if not DEVICE_ID.match(text):
        raise InvalidInput(
            f"device id {text[:140]!r}: use 1-128 letters, digits, '.', '_', ':' or '-', "
            "starting with a letter or digit"
        )
    return text


def _labels(values: list[str], what: str) -> list[str]:
    for value in values:
        if not isinstance(value, str) or not TAG.match(value):
            raise InvalidInput(
                f"{what} {str(value)[:80]!r}: use 1-64 letters, digits or . _ : = / -"
            )
    unique = sorted(set(values))
    if len(unique) > MAX_TAGS:
        raise InvalidInput(f"a device has at most {MAX_TAGS} {what}s")
    return unique


def _attributes(values: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(values, dict) or len(json.dumps(values)) > MAX_ATTRIBUTES_BYTES:
        raise InvalidInput(f"attributes are a JSON object of at most {MAX_ATTRIBUTES_BYTES} bytes")
    return values


def get(session: Session, project: Project, device_id: str) -> Device:
    device = session.scalar(
        select(Device).where(Device.project_id == project.id, Device.device_id == device_id)
    )
    if device is None:
        raise NotFound(f"no device {device_id!r} in project {project.name!r}")
    return device


def list_devices(
    session: Session,
    project: Project,
    *,
    device_type: str | None = None,
    group: str | None = None,
    tag: str | None = None,
    include_revoked: bool = True,
) -> list[Device]:
    query = select(Device).where(Device.project_id == project.id).order_by(Device.device_id)
    if device_type is not None:
        query = query.where(Device.device_type == device_type)
    if not include_revoked:
        query = query.where(Device.revoked_at.is_(None))
    found = list(session.scalars(query))
    # Tags and groups are short JSON lists: filtered here, the same way on SQLite and PostgreSQL.
    return [
        d for d in found
        if (group is None or group in d.groups) and (tag is None or tag in d.tags)
    ]  # fmt: skip


def _new_device(
    session: Session, project: Project, device_id: str, device_type: str, *,
    attributes: dict[str, Any], tags: list[str], groups: list[str], actor: str, now: datetime,
    api_key_id: int | None,
) -> Device:  # fmt: skip
    check_device_id(device_id)
    check_name(device_type, "device type")
    taken = session.scalar(
        select(Device.id).where(Device.project_id == project.id, Device.device_id == device_id)
    )
    if taken is not None:
        raise Conflict(f"device {device_id!r} is already registered in {project.name!r}")
    device = Device(
        project_id=project.id, device_id=device_id, device_type=device_type,
        attributes=_attributes(attributes), tags=_labels(tags, "tag"),
        groups=_labels(groups, "group"), api_key_id=api_key_id, registered_at=now,
        registered_by=actor, health={}, update_detail="",
    )  # fmt: skip
    session.add(device)
    session.flush()
    return device


def register(
    session: Session, project: Project, device_id: str, device_type: str, *,
    attributes: dict[str, Any] | None = None, tags: list[str] | None = None,
    groups: list[str] | None = None, actor: str, now: datetime,
) -> tuple[Device, str]:  # fmt: skip
    """Register a device and create its device key; the key's secret is returned this once."""
    check_device_id(device_id)
    key, secret = keys.create_key(
        session, role="device", project=project, name=device_id, actor=actor,
        device_id=device_id,
    )  # fmt: skip
    device = _new_device(
        session, project, device_id, device_type, attributes=attributes or {},
        tags=tags or [], groups=groups or [], actor=actor, now=now, api_key_id=key.id,
    )  # fmt: skip
    audit.record(session, actor, "device.register", f"device:{device_id}", project.id,
                 {"device_type": device_type, "key": key.prefix})  # fmt: skip
    return device, secret


def _token_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode(errors="replace")).hexdigest()


def create_token(
    session: Session, project: Project, *, name: str, device_type: str | None,
    groups: list[str] | None, uses: int | None, expires_at: datetime | None, actor: str,
) -> tuple[EnrolmentToken, str]:  # fmt: skip
    """An enrolment token devices use to register themselves; its secret is shown this once."""
    if device_type is not None:
        check_name(device_type, "device type")
    if uses is not None and uses < 1:
        raise InvalidInput("an enrolment token allows at least 1 use (or no limit)")
    if not 0 < len(name) <= 128:
        raise InvalidInput("a token name has 1-128 characters")
    prefix = "".join(secrets.choice(_ALPHABET) for _ in range(12))
    secret = f"{TOKEN_HEAD}{prefix}_{secrets.token_urlsafe(32)}"
    token = EnrolmentToken(
        project_id=project.id, prefix=prefix, secret_hash=_token_hash(secret), name=name,
        device_type=device_type, groups=_labels(groups or [], "group"), uses_left=uses,
        expires_at=expires_at, created_by=actor,
    )  # fmt: skip
    session.add(token)
    session.flush()
    audit.record(session, actor, "enrolment-token.create", f"enrolment:{prefix}", project.id,
                 {"name": name, "device_type": device_type, "uses": uses})  # fmt: skip
    return token, secret


def _aware(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at


def enrol(
    session: Session, project: Project, secret: str, device_id: str, device_type: str | None,
    attributes: dict[str, Any], now: datetime,
) -> tuple[Device, str]:  # fmt: skip
    """A device registers itself with an enrolment token: a new device row and device key."""
    token = None
    if secret.startswith(TOKEN_HEAD) and len(secret) < 200:
        prefix = secret[len(TOKEN_HEAD) : len(TOKEN_HEAD) + 12]
        token = session.scalar(
            select(EnrolmentToken)
            .where(EnrolmentToken.prefix == prefix, EnrolmentToken.project_id == project.id)
            .with_for_update()
        )
    if token is None or not hmac.compare_digest(token.secret_hash, _token_hash(secret)):
        raise PermissionError("invalid enrolment token")
    if token.revoked_at is not None or (
        token.expires_at is not None and _aware(token.expires_at) <= now
    ):
        raise PermissionError("this enrolment token was revoked or has expired")
    if token.uses_left is not None and token.uses_left <= 0:
        raise PermissionError("this enrolment token has been used up")
    chosen_type = token.device_type or device_type
    if chosen_type is None:
        raise InvalidInput("say which device type this device is (device_type)")
    if token.device_type is not None and device_type not in (None, token.device_type):
        raise InvalidInput(f"this enrolment token is for device type {token.device_type!r}")
    actor = f"enrolment:{token.prefix}"
    check_device_id(device_id)
    key, key_secret = keys.create_key(
        session, role="device", project=project, name=device_id, actor=actor,
        device_id=device_id,
    )  # fmt: skip
    device = _new_device(
        session, project, device_id, chosen_type, attributes=attributes, tags=[],
        groups=list(token.groups), actor=actor, now=now, api_key_id=key.id,
    )  # fmt: skip
    if token.uses_left is not None:
        token.uses_left -= 1
    audit.record(session, actor, "device.enrol", f"device:{device_id}", project.id,
                 {"device_type": chosen_type, "key": key.prefix})  # fmt: skip
    return device, key_secret


def tag(
    session: Session, device: Device, *, add_tags: Sequence[str] = (),
    remove_tags: Sequence[str] = (), add_groups: Sequence[str] = (),
    remove_groups: Sequence[str] = (), attributes: dict[str, Any] | None = None, actor: str,
) -> Device:  # fmt: skip
    """Add or remove tags and groups, merge attributes (a None value removes one)."""
    tags = (set(device.tags) | set(_labels(list(add_tags), "tag"))) - set(remove_tags)
    groups = (set(device.groups) | set(_labels(list(add_groups), "group"))) - set(remove_groups)
    device.tags, device.groups = sorted(tags), sorted(groups)
    if attributes:
        merged = {**device.attributes, **attributes}
        device.attributes = _attributes({k: v for k, v in merged.items() if v is not None})
    audit.record(session, actor, "device.tag", f"device:{device.device_id}", device.project_id,
                 {"tags": device.tags, "groups": device.groups})  # fmt: skip
    return device


def revoke(session: Session, device: Device, actor: str, now: datetime) -> Device:
    """The device's key stops working at once; the device keeps its history."""
    if device.revoked_at is not None:
        raise Conflict(f"device {device.device_id!r} was already revoked")
    device.revoked_at = now
    device.target_release_id = None
    if device.api_key_id is not None:
        with contextlib.suppress(Conflict):  # its key may have been revoked on its own before
            keys.revoke(session, device.api_key_id, actor)
    audit.record(session, actor, "device.revoke", f"device:{device.device_id}",
                 device.project_id, {})  # fmt: skip
    return device


def record(device: Device, versions: dict[int, str]) -> dict[str, Any]:
    """The device's public fields; `versions` maps release ids to versions."""

    def iso(at: datetime | None) -> str | None:
        return _aware(at).isoformat() if at is not None else None

    return {
        "device_id": device.device_id,
        "device_type": device.device_type,
        "attributes": device.attributes,
        "tags": device.tags,
        "groups": device.groups,
        "registered_at": iso(device.registered_at),
        "registered_by": device.registered_by,
        "last_seen_at": iso(device.last_seen_at),
        "installed_release": versions.get(device.installed_release_id or -1),
        "target_release": versions.get(device.target_release_id or -1),
        "health": device.health,
        "update_state": device.update_state,
        "update_detail": device.update_detail,
        "revoked_at": iso(device.revoked_at),
    }


def release_versions(session: Session, project: Project) -> dict[int, str]:
    rows = session.execute(
        select(Release.id, Release.version).where(Release.project_id == project.id)
    )
    return {row.id: row.version for row in rows}


def token_record(token: EnrolmentToken) -> dict[str, Any]:
    return {
        "prefix": token.prefix,
        "name": token.name,
        "device_type": token.device_type,
        "groups": token.groups,
        "uses_left": token.uses_left,
        "expires_at": _aware(token.expires_at).isoformat() if token.expires_at else None,
        "created_by": token.created_by,
        "revoked": token.revoked_at is not None,
    }
