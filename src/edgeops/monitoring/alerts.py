"""Alerts: raised from findings with de-duplication and cool-down, listed, acknowledged,
resolved when the finding goes away, sent to webhooks.

- One alert per fingerprint (monitor, kind, model) while it is open or acknowledged: a repeat
  finding updates it (`count`, `last_seen`, the newest details) instead of adding another.
- A finding that comes back within the monitor's cool-down after its alert was resolved reopens
  that alert (no flapping stream of new ones).
- Notifications (webhook, automation listeners) go out when an alert opens or reopens, and for
  an alert still open once per cool-down; never for an acknowledged one.
"""

import json
import logging
import urllib.request
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from edgeops.errors import InvalidInput, NotFound
from edgeops.governance import audit
from edgeops.monitoring.analysis import Finding
from edgeops.store.tables import Alert, Monitor, Project

log = logging.getLogger(__name__)

SEVERITIES = ("info", "warning", "critical")
STATUSES = ("open", "acknowledged", "resolved")
ACTIVE = ("open", "acknowledged")
WEBHOOK_TIMEOUT_S = 5.0


def fingerprint(monitor: Monitor | None, kind: str, model_version_id: int | None) -> str:
    return f"{monitor.id if monitor else 'adhoc'}:{kind}:{model_version_id or '-'}"


def _aware(moment: datetime) -> datetime:
    from datetime import UTC

    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def raise_finding(
    session: Session,
    project: Project,
    monitor: Monitor | None,
    model_version_id: int | None,
    finding: Finding,
    actor: str,
    now: datetime,
) -> tuple[Alert, bool]:
    """Record `finding`; returns its alert and whether to notify about it now."""
    key = fingerprint(monitor, finding.kind, model_version_id)
    cooldown = timedelta(seconds=monitor.cooldown_s if monitor else 3600)
    latest = session.scalar(
        select(Alert)
        .where(Alert.project_id == project.id, Alert.fingerprint == key)
        .order_by(Alert.id.desc())
        .limit(1)
    )
    if latest is not None and (
        latest.status in ACTIVE or now - _aware(latest.last_seen) < cooldown
    ):
        reopened = latest.status == "resolved"
        latest.status = "open" if reopened else latest.status
        latest.count += 1
        latest.last_seen = now
        latest.severity = _worse(latest.severity, finding.severity)
        latest.title = finding.title[:500]
        latest.details = finding.details
        due = latest.notified_at is None or now - _aware(latest.notified_at) >= cooldown
        notify = latest.status == "open" and (reopened or due)
        if notify:
            latest.notified_at = now
        if reopened:
            audit.record(session, actor, "alert.reopen", f"alert:{latest.id}", project.id)
        return latest, notify
    alert = Alert(
        project_id=project.id,
        monitor_id=monitor.id if monitor else None,
        model_version_id=model_version_id,
        kind=finding.kind,
        severity=finding.severity,
        fingerprint=key,
        title=finding.title[:500],
        details=finding.details,
        status="open",
        count=1,
        first_seen=now,
        last_seen=now,
        notified_at=now,
    )
    session.add(alert)
    session.flush()
    audit.record(
        session, actor, "alert.create", f"alert:{alert.id}", project.id,
        {"kind": finding.kind, "severity": finding.severity},
    )  # fmt: skip
    return alert, True


def _worse(a: str, b: str) -> str:
    return a if SEVERITIES.index(a) >= SEVERITIES.index(b) else b


def resolve_absent(
    session: Session,
    project: Project,
    monitor: Monitor,
    model_version_id: int | None,
    present: set[str],
    now: datetime,
) -> list[Alert]:
    """Resolve the monitor's open alerts whose finding this run did not repeat."""
    keep = {fingerprint(monitor, kind, model_version_id) for kind in present}
    stale = session.scalars(
        select(Alert).where(
            Alert.project_id == project.id,
            Alert.monitor_id == monitor.id,
            Alert.status.in_(ACTIVE),
        )
    ).all()
    resolved = []
    for alert in stale:
        if alert.fingerprint not in keep:
            alert.status = "resolved"
            alert.details = {**alert.details, "resolved_at": now.isoformat()}
            resolved.append(alert)
    return resolved


def list_alerts(
    session: Session, project: Project, status: str | None = None, limit: int = 100
) -> list[Alert]:
    """Newest first; `status` one of open, acknowledged, resolved, active (open or acked)."""
    query = select(Alert).where(Alert.project_id == project.id)
    if status == "active":
        query = query.where(Alert.status.in_(ACTIVE))
    elif status is not None:
        if status not in STATUSES:
            raise InvalidInput(
                f"unknown alert status {status!r}: use active, {', '.join(STATUSES)}"
            )
        query = query.where(Alert.status == status)
    return list(
        session.scalars(query.order_by(Alert.last_seen.desc(), Alert.id.desc()).limit(limit))
    )


def get(session: Session, project: Project, alert_id: int) -> Alert:
    alert = session.get(Alert, alert_id)
    if alert is None or alert.project_id != project.id:
        raise NotFound(
            f"no alert {alert_id} in project {project.name!r}: see `edgeops alerts list`"
        )
    return alert


def acknowledge(
    session: Session, project: Project, alert_id: int, actor: str, now: datetime
) -> Alert:
    """Someone has seen it: no more notifications; it resolves when the finding goes away."""
    alert = get(session, project, alert_id)
    if alert.status == "resolved":
        raise InvalidInput(f"alert {alert_id} is already resolved")
    alert.status = "acknowledged"
    alert.acknowledged_by = actor
    alert.acknowledged_at = now
    audit.record(session, actor, "alert.ack", f"alert:{alert.id}", project.id)
    return alert


def record(alert: Alert, model: str | None = None) -> dict[str, Any]:
    return {
        "id": alert.id,
        "kind": alert.kind,
        "severity": alert.severity,
        "status": alert.status,
        "title": alert.title,
        "model": model,
        "monitor_id": alert.monitor_id,
        "count": alert.count,
        "first_seen": _aware(alert.first_seen).isoformat(),
        "last_seen": _aware(alert.last_seen).isoformat(),
        "acknowledged_by": alert.acknowledged_by,
        "details": alert.details,
    }


def send_webhook(url: str, payload: dict[str, Any]) -> str | None:
    """POST the alert as JSON; returns an error message instead of raising (a dead webhook
    must not stop monitoring)."""
    body = json.dumps({"type": "edgeops.alert", "alert": payload}, default=str).encode()
    request = urllib.request.Request(
        url, data=body, headers={"content-type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_S) as answer:
            if answer.status >= 300:
                return f"webhook answered {answer.status}"
    except Exception as exc:
        log.warning("webhook %s failed: %s", url, exc)
        return f"webhook failed: {exc}"[:300]
    return None
