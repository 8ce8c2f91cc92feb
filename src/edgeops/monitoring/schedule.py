"""The monitor scheduler inside `edgeops serve`: every enabled monitor of every project is
checked every `every_s` seconds, by exactly one server process, and telemetry older than the
retention is pruned.

Several server processes (uvicorn workers, or servers on several hosts sharing a database) all
run this loop. Each monitor is claimed before it runs with a compare-and-set on its
`last_run_at` (`UPDATE ... WHERE last_run_at IS NULL OR last_run_at <= cutoff`): the database
lets exactly one of them win a given period, on SQLite and PostgreSQL alike, with no extra
table and no lock held while the check runs. A process that dies mid-check loses only that
period; the next one runs again.
"""

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from fastapi.concurrency import run_in_threadpool
from sqlalchemy import or_, select, update

from edgeops.store.tables import Monitor, Project

if TYPE_CHECKING:
    from edgeops.workspace import Workspace

log = logging.getLogger(__name__)

DEFAULT_EVERY_S = 300.0
ACTOR = "monitor-scheduler"
# A period counts as over slightly early, so that ticks a little faster than `every_s` (timer
# jitter) do not skip every other period.
SLACK = 0.9


def claim_due(ws: "Workspace", now: datetime, every_s: float) -> list[tuple[str, str]]:
    """Claim the enabled monitors not run in the last `every_s` seconds; returns (project,
    monitor) names of those this process won (committed before any of them runs)."""
    cutoff = now - timedelta(seconds=every_s * SLACK)
    due = or_(Monitor.last_run_at.is_(None), Monitor.last_run_at <= cutoff)
    won = []
    with ws.session() as session:
        candidates = session.execute(
            select(Monitor.id, Monitor.name, Project.name)
            .join(Project, Project.id == Monitor.project_id)
            .where(Monitor.enabled, due)
            .order_by(Monitor.id)
        ).all()
        for monitor_id, monitor, project in candidates:
            claimed = session.execute(
                update(Monitor).where(Monitor.id == monitor_id, due).values(last_run_at=now)
            )
            if getattr(claimed, "rowcount", 0) == 1:
                won.append((project, monitor))
        session.commit()
    return won


def step(
    ws: "Workspace",
    every_s: float = DEFAULT_EVERY_S,
    keep_days: int | None = None,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """Check the monitors this process claims; a failing monitor (a model without a reference
    profile, a storage error) is logged and does not stop the others."""
    now = now or datetime.now(UTC)
    results = []
    for project, monitor in claim_due(ws, now, every_s):
        try:
            results.extend(ws.monitoring.check(project=project, monitor=monitor, now=now,
                                               actor=ACTOR))  # fmt: skip
        except Exception:
            log.exception("monitor %s/%s failed", project, monitor)
    if keep_days is not None:
        with ws.session() as session:
            names = [p.name for p in session.scalars(select(Project))]
        for name in names:
            ws.monitoring.prune(keep_days, project=name, actor=ACTOR)
    return results


async def run_periodically(ws: "Workspace", every_s: float, keep_days: int | None = None) -> None:
    """Until cancelled; the checks run in a worker thread (they read Parquet and crunch numbers
    while the event loop keeps serving requests)."""
    while True:
        try:
            await run_in_threadpool(step, ws, every_s, keep_days)
        except Exception:
            log.exception("monitor scheduler step failed")
        await asyncio.sleep(every_s)
