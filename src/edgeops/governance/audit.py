"""The audit log: one event per state change, written in the change's own transaction."""

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from edgeops.store.tables import AuditEvent


def record(
    session: Session,
    actor: str,
    action: str,
    target: str,
    project_id: int | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add an event to `session`; it commits (or rolls back) with the change it describes."""
    event = AuditEvent(
        actor=actor, action=action, target=target, project_id=project_id, details=details or {}
    )
    session.add(event)
    return event


def events(session: Session, project_id: int | None = None, limit: int = 100) -> list[AuditEvent]:
    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if project_id is not None:
        query = query.where(AuditEvent.project_id == project_id)
    return list(session.scalars(query))
