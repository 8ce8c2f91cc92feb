"""The audit log: one event per state change, written in the change's own transaction, and
hash-chained so that editing or deleting an event afterwards is detectable.

Each event stores `prev_hash` (the hash of the event before it; 64 zeros for the first) and
`hash` = SHA-256(prev_hash + canonical JSON of the event's fields). The `audit_head` row names
the newest event, so deleting events from the end shows too. Events get consecutive ids handed
out under the head row's lock: a gap in the ids means a deleted event, never a rolled-back one.

This detects tampering by anyone who edits rows without recomputing the whole chain; someone
with write access to the database can still rewrite every hash. Copy `hash` values elsewhere
(e.g. `edgeops audit log --json`) to anchor the chain outside the database.
"""

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import Connection, bindparam, insert, select, update
from sqlalchemy.orm import Session

from edgeops.store import rawsql
from edgeops.store.tables import AuditEvent, AuditHead, utcnow

GENESIS = "0" * 64
HEAD_ID = 1  # the only row of audit_head

Problem = Literal["edited", "deleted/out of order"]


def record(
    session: Session,
    actor: str,
    action: str,
    target: str,
    project_id: int | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add an event to `session`; it commits (or rolls back) with the change it describes.

    On PostgreSQL this locks the head row until the transaction ends, so concurrent writers
    append one after another (SQLite transactions are serialized already): call it as late in
    the transaction as convenient and commit soon after."""
    head = session.execute(
        select(AuditHead.last_id, AuditHead.last_hash)
        .where(AuditHead.id == HEAD_ID)
        .with_for_update()
    ).one()
    event = AuditEvent(
        id=head.last_id + 1,
        at=utcnow(),
        actor=actor,
        action=action,
        target=target,
        project_id=project_id,
        # Stored as it reads back from JSON (e.g. int keys become strings), so the hash of the
        # stored row equals the hash computed here.
        details=json.loads(json.dumps(details or {})),
        prev_hash=head.last_hash,
    )
    event.hash = event_hash(head.last_hash, _fields(event))
    session.execute(
        update(AuditHead)
        .where(AuditHead.id == HEAD_ID)
        .values(last_id=event.id, last_hash=event.hash)
    )
    session.add(event)
    return event


@dataclass(frozen=True)
class Entry:
    """An event to append with `record_many`."""

    actor: str
    action: str
    target: str
    project_id: int | None = None
    details: dict[str, Any] | None = None


def record_many(connection: Connection, entries: Sequence[Entry]) -> None:
    """Append several events in `connection`'s transaction with one read and one update of
    the head and one insert, for writers that commit many changes at once (ingestion). Locks
    the head row like `record`. Core, not the ORM: no objects are needed afterwards."""
    if not entries:
        return
    raw = rawsql.cursor(connection)
    if raw is not None:
        last_id, last_hash = raw.execute(_RAW_HEAD, (HEAD_ID,)).fetchone()
    else:
        last_id, last_hash = connection.execute(_HEAD_FOR_UPDATE).one()
    at = utcnow()
    rows = []
    for entry in entries:
        last_id += 1
        row = {
            "id": last_id,
            "at": at,
            "actor": entry.actor,
            "action": entry.action,
            "target": entry.target,
            "project_id": entry.project_id,
            "details": json.loads(json.dumps(entry.details or {})),
        }
        row["prev_hash"], row["hash"] = last_hash, event_hash(last_hash, _row_fields(row))
        last_hash = row["hash"]
        rows.append(row)
    if raw is not None:
        rawsql.insert(connection.dialect, AuditEvent.__tablename__).many(raw, rows)
        raw.execute(_RAW_MOVE_HEAD, (last_id, last_hash, HEAD_ID))
        return
    connection.execute(_INSERT_EVENTS, rows)
    connection.execute(_MOVE_HEAD, {"new_id": last_id, "new_hash": last_hash})


# `record_many`'s statements, built once: ingestion calls it for every group commit, and
# building them cost more than running them.
_HEAD_FOR_UPDATE = (
    select(AuditHead.last_id, AuditHead.last_hash).where(AuditHead.id == HEAD_ID).with_for_update()
)
_INSERT_EVENTS = insert(AuditEvent.metadata.tables[AuditEvent.__tablename__])
_MOVE_HEAD = (
    update(AuditHead)
    .where(AuditHead.id == HEAD_ID)
    .values(last_id=bindparam("new_id"), last_hash=bindparam("new_hash"))
)


# The same on SQLite's own cursor (`store.rawsql`), where the transaction holds the write lock.
_RAW_HEAD = "SELECT last_id, last_hash FROM audit_head WHERE id = ?"
_RAW_MOVE_HEAD = "UPDATE audit_head SET last_id = ?, last_hash = ? WHERE id = ?"


def event_hash(prev_hash: str, fields: dict[str, Any]) -> str:
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256((prev_hash + canonical).encode()).hexdigest()


_FIELDS = ("id", "at", "actor", "action", "project_id", "target", "details")


def _fields(event: Any) -> dict[str, Any]:
    """The hashed fields of an AuditEvent or of a row with the same columns."""
    return _row_fields({name: getattr(event, name) for name in _FIELDS})


def _row_fields(row: dict[str, Any]) -> dict[str, Any]:
    fields = {name: row[name] for name in _FIELDS}
    fields["at"] = canonical_time(fields["at"])
    return fields


def canonical_time(at: datetime) -> str:
    """UTC with microseconds: SQLite hands back naive datetimes (stored in UTC), PostgreSQL
    aware ones in the session's time zone."""
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    return at.isoformat(timespec="microseconds")


def events(
    session: Session,
    project_id: int | None = None,
    limit: int = 100,
    *,
    action: str | None = None,
    actor: str | None = None,
) -> list[AuditEvent]:
    """The newest events first, optionally only a project's, an action's or an actor's."""
    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if project_id is not None:
        query = query.where(AuditEvent.project_id == project_id)
    if action is not None:
        query = query.where(AuditEvent.action == action)
    if actor is not None:
        query = query.where(AuditEvent.actor == actor)
    return list(session.scalars(query))


def event_record(event: AuditEvent) -> dict[str, Any]:
    """The event's stable public fields (CLI --json, REST API)."""
    return {
        "id": event.id,
        "at": canonical_time(event.at),
        "actor": event.actor,
        "action": event.action,
        "project_id": event.project_id,
        "target": event.target,
        "details": event.details,
        "hash": event.hash,
    }


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    bad_event_id: int | None = None
    problem: Problem | None = None
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checked": self.checked,
            "bad_event_id": self.bad_event_id,
            "problem": self.problem,
            "detail": self.detail,
        }


def verify(session: Session) -> VerifyResult:
    """Walk the chain from the first event to the head; report the first event that breaks it.

    Events appended while this runs (ids beyond the head read at the start) are left for the
    next run."""
    head = session.execute(
        select(AuditHead.last_id, AuditHead.last_hash).where(AuditHead.id == HEAD_ID)
    ).one_or_none()
    if head is None:
        return VerifyResult(False, 0, None, "deleted/out of order", "the audit head row is gone")
    columns = [getattr(AuditEvent, name) for name in (*_FIELDS, "prev_hash", "hash")]
    rows = session.execute(
        select(*columns).where(AuditEvent.id <= head.last_id).order_by(AuditEvent.id),
        execution_options={"yield_per": 1000},  # stream: the log may be long
    )
    checked, previous_id, previous_hash = 0, 0, GENESIS
    for event in rows:
        if event.id != previous_id + 1:
            return _broken(checked, previous_id + 1, "deleted/out of order", "it is missing")
        if event.prev_hash != previous_hash:
            return _broken(
                checked, event.id, "deleted/out of order",
                "its prev_hash does not match the event before it",
            )  # fmt: skip
        if event_hash(event.prev_hash, _fields(event)) != event.hash:
            return _broken(checked, event.id, "edited", "its contents do not match its hash")
        checked, previous_id, previous_hash = checked + 1, event.id, event.hash
    if previous_id != head.last_id:
        return _broken(
            checked, previous_id + 1, "deleted/out of order",
            f"the log ends at event {previous_id} but its head names event {head.last_id}",
        )  # fmt: skip
    if previous_hash != head.last_hash:
        return _broken(checked, previous_id, "edited", "its hash does not match the head's")
    return VerifyResult(True, checked)


def _broken(checked: int, event_id: int, problem: Problem, detail: str) -> VerifyResult:
    return VerifyResult(False, checked, event_id, problem, f"event {event_id}: {detail}")
