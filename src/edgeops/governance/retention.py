"""Retention policies: a project keeps raw samples for N days, except the ones a release pins.

A sample is pinned while a dataset version that holds it trained a model that some release
ships (release → model version → dataset version → samples): those stay as long as the release
exists, so a shipped model can always be traced back to, and retrained on, its data. Everything
else older than the policy's `raw_sample_days` is removed the way a privacy erasure removes a
subject's samples (blobs, rows, cached features; the versions that held them are redacted with
tombstones). Models are not flagged "retrain required": expiring data withdraws nobody's
consent. Applying a policy writes one `retention.apply` audit event per project.

Run it by hand (`edgeops privacy retention apply`), from a workflow step (`retention`), or from
the server (`edgeops serve --retention-every HOURS`)."""

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from edgeops.data import projects
from edgeops.data.versions import read_manifest
from edgeops.errors import InvalidInput, NotFound
from edgeops.governance import audit, privacy
from edgeops.store.tables import (
    DatasetVersion,
    ModelVersion,
    Project,
    Release,
    RetentionPolicy,
    Sample,
    utcnow,
)

if TYPE_CHECKING:
    from edgeops.workspace import Workspace

SET = "retention.set"
CLEAR = "retention.clear"
APPLY = "retention.apply"
MAX_DAYS = 36_500


def set_policy(
    session: Session, project: Project, raw_sample_days: int, actor: str
) -> RetentionPolicy:
    """Keep `project`'s raw samples `raw_sample_days` days (pinned ones longer); audited."""
    if not 1 <= raw_sample_days <= MAX_DAYS:
        raise InvalidInput(
            f"raw sample days must be between 1 and {MAX_DAYS}, not {raw_sample_days}"
        )
    policy = session.get(RetentionPolicy, project.id)
    if policy is None:
        policy = RetentionPolicy(project_id=project.id, raw_sample_days=raw_sample_days)
        session.add(policy)
    policy.raw_sample_days, policy.updated_by, policy.updated_at = raw_sample_days, actor, utcnow()
    audit.record(session, actor, SET, f"project:{project.name}", project.id,
                 {"raw_sample_days": raw_sample_days})  # fmt: skip
    session.commit()
    return policy


def clear_policy(session: Session, project: Project, actor: str) -> None:
    """Keep `project`'s samples until someone removes them (the default); audited."""
    policy = session.get(RetentionPolicy, project.id)
    if policy is None:
        raise NotFound(f"project {project.name!r} has no retention policy")
    session.delete(policy)
    audit.record(session, actor, CLEAR, f"project:{project.name}", project.id, {})
    session.commit()


def record(project: Project, policy: RetentionPolicy | None) -> dict[str, Any]:
    """The policy's public fields (CLI --json, REST API)."""
    if policy is None:
        return {"project": project.name, "raw_sample_days": None}
    return {
        "project": project.name,
        "raw_sample_days": policy.raw_sample_days,
        "updated_at": policy.updated_at.isoformat(),
        "updated_by": policy.updated_by,
    }


def pinned_versions(session: Session, project: Project) -> list[DatasetVersion]:
    """The dataset versions that trained a model some release of `project` ships."""
    shipped = (
        select(ModelVersion.dataset_version_id)
        .join(Release, Release.model_version_id == ModelVersion.id)
        .where(Release.project_id == project.id)
    )
    # By id: PostgreSQL cannot DISTINCT over the versions' JSON columns.
    query = select(DatasetVersion).where(DatasetVersion.id.in_(shipped)).order_by(DatasetVersion.id)
    return list(session.scalars(query))


def expired(
    ws: "Workspace", session: Session, project: Project, days: int, now: datetime
) -> tuple[list[Sample], int, list[str]]:
    """`project`'s samples older than `days` at `now` and not pinned; also how many old ones a
    release pins, and the pinning versions."""
    cutoff = now - timedelta(days=days)
    old = list(session.scalars(
        select(Sample).where(Sample.project_id == project.id, Sample.created_at < cutoff)
        .order_by(Sample.id)
    ))  # fmt: skip
    pinning = pinned_versions(session, project)
    pinned = {e["content_hash"] for v in pinning for e in read_manifest(session, ws.blobs, v)}
    kept = [s for s in old if s.content_hash in pinned]
    return [s for s in old if s.content_hash not in pinned], len(kept), [v.id for v in pinning]


def apply(
    ws: "Workspace",
    *,
    project: str | None = None,
    dry_run: bool = False,
    now: datetime | None = None,
    actor: str | None = None,
) -> list[dict[str, Any]]:
    """Enforce the retention policy of `project` (default: every project that has one); with
    `dry_run`, only say what would go. One report per project with a policy; the audit log
    names `actor` (default: the workspace's)."""
    now = now or utcnow()
    actor = actor or ws.actor
    reports: list[dict[str, Any]] = []
    with ws.session() as session:
        privacy.secure_delete(session)
        chosen = [projects.get(session, project)] if project is not None else list(
            session.scalars(select(Project).join(RetentionPolicy).order_by(Project.id))
        )  # fmt: skip
        for proj in chosen:
            policy = session.get(RetentionPolicy, proj.id)
            if policy is None:
                raise NotFound(
                    f"project {proj.name!r} has no retention policy: set one with "
                    "`edgeops privacy retention set --days N`"
                )
            rows, pinned, pinning = expired(ws, session, proj, policy.raw_sample_days, now)
            report: dict[str, Any] = {
                "project": proj.name,
                "raw_sample_days": policy.raw_sample_days,
                "cutoff": (now - timedelta(days=policy.raw_sample_days)).isoformat(),
                "dry_run": dry_run,
                "expired": [s.id for s in rows],
                "kept_pinned": pinned,
                "pinned_by_versions": pinning,
                "samples_deleted": 0,
                "dataset_versions_redacted": [],
            }
            if rows and not dry_run:
                part = privacy.remove_samples(
                    ws, session, proj, rows, _one_of({s.id for s in rows}),
                    erasure=f"retention-{uuid.uuid4().hex}", flag_models=False,
                )  # fmt: skip
                if part is not None:
                    report["samples_deleted"] = part["samples_erased"]
                    report["blobs_deleted"] = part["blobs_deleted"]
                    report["dataset_versions_redacted"] = part["dataset_versions_redacted"]
            if not dry_run:
                details = {k: v for k, v in report.items() if k != "expired"}
                audit.record(session, actor, APPLY, f"project:{proj.name}", proj.id, details)
            reports.append(report)
        ws.blobs.sync()
        session.commit()
    if any(r["samples_deleted"] for r in reports):
        privacy.compact(ws)
    return reports


def _one_of(ids: set[int]) -> Callable[[dict[str, Any]], bool]:
    """Selects the manifest entries of these sample ids."""
    return lambda entry: entry["id"] in ids


async def run_periodically(ws: "Workspace", every_s: float) -> None:
    """Apply every project's policy every `every_s` seconds (the server's retention task);
    a failure is logged and tried again next time."""
    import asyncio
    import logging

    logger = logging.getLogger(__name__)
    while True:
        try:
            reports = await asyncio.to_thread(apply, ws)
            for report in reports:
                if report["samples_deleted"]:
                    logger.info("retention: %s lost %d samples older than %d days",
                                report["project"], report["samples_deleted"],
                                report["raw_sample_days"])  # fmt: skip
        except Exception:
            logger.exception("applying retention policies failed; retrying in %s s", every_s)
        await asyncio.sleep(every_s)
