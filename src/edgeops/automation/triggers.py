"""Triggers: what starts runs. `tick(session, now)` checks the schedule, data, code and alert
triggers of every enabled workflow; manual runs, git webhooks and monitor alerts call in
directly. Each occasion has a dedupe key, so it starts at most one run however many schedulers
look at it, and trigger states (what was seen last) survive restarts in the database."""

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from edgeops.automation import cron, engine
from edgeops.automation.spec import SEVERITIES, TriggerSpec, WorkflowSpec
from edgeops.monitoring.service import parse_duration
from edgeops.store.tables import (
    Alert,
    DatasetVersion,
    Project,
    Sample,
    TriggerState,
    Workflow,
    WorkflowRun,
)

SCHEDULER = "scheduler"


def current_workflows(session: Session, project_id: int | None = None) -> list[Workflow]:
    """The newest version of every workflow (of one project, or all)."""
    newest = select(func.max(Workflow.id)).group_by(Workflow.project_id, Workflow.name)
    if project_id is not None:
        newest = newest.where(Workflow.project_id == project_id)
    return list(session.scalars(select(Workflow).where(Workflow.id.in_(newest))))


def _state(session: Session, workflow: Workflow, key: str) -> TriggerState | None:
    return session.get(
        TriggerState, (workflow.project_id, workflow.name, key), with_for_update=True
    )


def _remember(
    session: Session, workflow: Workflow, key: str, state: dict[str, Any], now: datetime
) -> None:
    row = session.get(TriggerState, (workflow.project_id, workflow.name, key))
    if row is None:
        session.add(
            TriggerState(
                project_id=workflow.project_id,
                workflow_name=workflow.name,
                trigger=key,
                state=state,
                updated_at=now,
            )
        )
    else:
        row.state, row.updated_at = state, now
    session.flush()


def fire(
    session: Session,
    workflow: Workflow,
    trigger: dict[str, Any],
    now: datetime,
    dedupe_key: str | None,
    actor: str = SCHEDULER,
) -> WorkflowRun | None:
    """A run for this occasion, unless one was already started for it."""
    project = session.get(Project, workflow.project_id)
    assert project is not None
    try:
        with session.begin_nested():
            return engine.create_run(session, project, workflow, trigger, actor, now, dedupe_key)
    except IntegrityError:  # another scheduler fired the same occasion a moment ago
        return None


def _schedule(
    session: Session, workflow: Workflow, key: str, trigger: TriggerSpec, now: datetime
) -> WorkflowRun | None:
    row = _state(session, workflow, key)
    if row is None:  # first look: fire from now on, not for times before the workflow existed
        _remember(session, workflow, key, {"checked": now.isoformat()}, now)
        return None
    checked = datetime.fromisoformat(row.state["checked"])
    if now <= checked:
        return None
    assert trigger.cron is not None
    due = cron.latest_between(trigger.cron, trigger.timezone, checked, now)
    _remember(session, workflow, key, {"checked": now.isoformat()}, now)
    if due is None:
        return None
    record = {
        "kind": "schedule",
        "cron": trigger.cron,
        "timezone": trigger.timezone,
        "at": due.isoformat(),
    }
    dedupe = f"schedule:{workflow.project_id}:{workflow.name}:{key}:{due.isoformat()}"
    return fire(session, workflow, record, now, dedupe)


def _data(
    session: Session, workflow: Workflow, key: str, trigger: TriggerSpec, now: datetime
) -> WorkflowRun | None:
    project_id = workflow.project_id
    count = session.scalar(select(func.count()).where(Sample.project_id == project_id)) or 0
    newest_sample = session.scalar(
        select(func.max(Sample.created_at)).where(Sample.project_id == project_id)
    )
    own = f"workflow:{workflow.name}#"  # versions this workflow committed do not re-trigger it
    head = session.scalar(
        select(DatasetVersion)
        .where(DatasetVersion.project_id == project_id, ~DatasetVersion.author.startswith(own))
        .order_by(DatasetVersion.created_at.desc())
        .limit(1)
    )
    seen = {"samples": count, "version": head.id if head else None}
    row = _state(session, workflow, key)
    if row is None:
        _remember(session, workflow, key, seen, now)
        return None
    new_samples = count - int(row.state.get("samples", 0))
    reasons = []
    if trigger.new_samples is not None and new_samples >= trigger.new_samples:
        reasons.append(f"{new_samples} new samples")
    if trigger.new_version and head is not None and head.id != row.state.get("version"):
        reasons.append(f"new dataset version {head.id[:12]}")
    if not reasons:
        return None
    changes = [moment for moment in (newest_sample, head.created_at if head else None) if moment]
    latest = max(_aware(moment) for moment in changes) if changes else None
    if latest is not None and now - latest < parse_duration(trigger.debounce):
        return None  # still arriving: wait for a quiet `debounce`
    _remember(session, workflow, key, seen, now)
    record = {
        "kind": "data",
        "reason": ", ".join(reasons),
        "new_samples": new_samples,
        "dataset_version": head.id if head else None,
    }
    dedupe = f"data:{project_id}:{workflow.name}:{key}:{seen['version']}:{count}"
    return fire(session, workflow, record, now, dedupe)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def code_fingerprint(workflow: Workflow, spec: WorkflowSpec) -> dict[str, Any]:
    recipes = engine.recipe_hashes(spec)
    text = json.dumps([workflow.version, recipes], sort_keys=True)
    return {
        "fingerprint": hashlib.sha256(text.encode()).hexdigest(),
        "workflow_version": workflow.version,
        "recipes": recipes,
    }


def _code(
    session: Session, workflow: Workflow, key: str, now: datetime, spec: WorkflowSpec
) -> WorkflowRun | None:
    seen = code_fingerprint(workflow, spec)
    row = _state(session, workflow, key)
    if row is None:
        _remember(session, workflow, key, {**seen, "fired": 0}, now)
        return None
    if row.state.get("fingerprint") == seen["fingerprint"]:
        return None
    changed = ["workflow"] if row.state.get("workflow_version") != workflow.version else []
    changed += [
        f"recipe of {step}"
        for step, digest in seen["recipes"].items()
        if row.state.get("recipes", {}).get(step) != digest
    ]
    fired = int(row.state.get("fired", 0)) + 1
    _remember(session, workflow, key, {**seen, "fired": fired}, now)
    record = {"kind": "code", "changed": changed, "workflow_version": workflow.version}
    dedupe = f"code:{workflow.project_id}:{workflow.name}:{key}:{seen['fingerprint'][:16]}:{fired}"
    return fire(session, workflow, record, now, dedupe)


def alert_matches(trigger: TriggerSpec, kind: str, severity: str) -> bool:
    wanted = SEVERITIES.index(trigger.severity)
    rank = SEVERITIES.index(severity) if severity in SEVERITIES else -1
    return (trigger.kind is None or trigger.kind == kind) and rank >= wanted


def fire_alert(
    session: Session, workflow: Workflow, trigger: TriggerSpec, alert: Alert, now: datetime
) -> WorkflowRun | None:
    if not alert_matches(trigger, alert.kind, alert.severity) or alert.status != "open":
        return None
    record = {
        "kind": "alert",
        "alert": alert.id,
        "alert_kind": alert.kind,
        "severity": alert.severity,
        "title": alert.title,
    }
    return fire(
        session, workflow, record, now, f"alert:{workflow.project_id}:{workflow.name}:{alert.id}"
    )


def _alerts(
    session: Session, workflow: Workflow, key: str, trigger: TriggerSpec, now: datetime
) -> list[WorkflowRun]:
    """Alerts opened since the last look (the listener may have fired them already)."""
    row = _state(session, workflow, key)
    newest = (
        session.scalar(select(func.max(Alert.id)).where(Alert.project_id == workflow.project_id))
        or 0
    )
    if row is None:
        _remember(session, workflow, key, {"alert": newest}, now)
        return []
    fresh = session.scalars(
        select(Alert)
        .where(Alert.project_id == workflow.project_id, Alert.id > int(row.state.get("alert", 0)))
        .order_by(Alert.id)
    ).all()
    _remember(session, workflow, key, {"alert": newest}, now)
    runs = [fire_alert(session, workflow, trigger, alert, now) for alert in fresh]
    return [run for run in runs if run is not None]


def tick(session: Session, now: datetime) -> list[WorkflowRun]:
    """Check every trigger of every enabled workflow once; return the runs started."""
    started: list[WorkflowRun] = []
    for workflow in current_workflows(session):
        if not workflow.enabled:
            continue
        spec = engine.spec_of(workflow)
        for index, trigger in enumerate(spec.triggers):
            key = f"{trigger.type}:{index}"
            if trigger.type == "schedule":
                run = _schedule(session, workflow, key, trigger, now)
            elif trigger.type == "data":
                run = _data(session, workflow, key, trigger, now)
            elif trigger.type == "code":
                run = _code(session, workflow, key, now, spec)
            elif trigger.type == "alert":
                started += _alerts(session, workflow, key, trigger, now)
                continue
            else:
                continue
            if run is not None:
                started.append(run)
    return started


def on_alert(session: Session, alert_id: int, now: datetime) -> list[WorkflowRun]:
    """Start the runs of every workflow with a matching alert trigger (monitors call this when
    an alert opens)."""
    alert = session.get(Alert, alert_id)
    if alert is None:
        return []
    runs = []
    for workflow in current_workflows(session, alert.project_id):
        if not workflow.enabled:
            continue
        for trigger in engine.spec_of(workflow).triggers:
            if trigger.type == "alert":
                run = fire_alert(session, workflow, trigger, alert, now)
                if run is not None:
                    runs.append(run)
    return runs
