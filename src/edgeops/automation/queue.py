"""The durable job queue in the database: claim with a lease, renew it, finish or lose it.

Claiming is one short transaction. On PostgreSQL it selects `FOR UPDATE SKIP LOCKED`, so many
workers on many hosts each take a different job without waiting on one another. SQLite has one
writer at a time and every transaction here begins `IMMEDIATE` (see store/db.py), so the select
and the update of a claim cannot interleave with another worker's: the same guarantee."""

from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from edgeops.store.tables import Job

LEASE_S = 30.0
BACKOFF_S = 5.0  # first retry after 5 s, then 10, 20, ...
MAX_BACKOFF_S = 600.0


def claimable(now: datetime) -> object:
    """Queued and due, or running with a lease that ran out (its worker died)."""
    return or_(
        and_(Job.status == "queued", Job.available_at <= now),
        and_(Job.status == "running", Job.lease_expires_at < now),
    )


def claim(session: Session, worker: str, now: datetime, lease_s: float = LEASE_S) -> Job | None:
    """Take the oldest due job for `worker` (the caller commits). A job whose worker vanished
    counts that attempt; one that used up its attempts that way is failed, not claimed."""
    query = (
        select(Job)
        .where(claimable(now))  # type: ignore[arg-type]
        .order_by(Job.available_at, Job.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    while (job := session.scalar(query)) is not None:
        if job.status == "running":
            job.log += f"[{now.isoformat()}] lease of {job.lease_owner} expired: worker lost\n"
            if job.attempts >= job.max_attempts:
                job.status, job.lease_owner = "failed", None
                job.error = f"its worker was lost {job.attempts} times"
                job.finished_at = now
                return job
        job.status, job.lease_owner = "running", worker
        job.lease_expires_at = now + timedelta(seconds=lease_s)
        job.attempts += 1
        job.started_at = now
        return job
    return None


def renew(session: Session, job_id: int, worker: str, now: datetime, lease_s: float) -> bool:
    """Extend `worker`'s lease; False if the job is no longer its own (lost or cancelled)."""
    result = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.lease_owner == worker, Job.status == "running")
        .values(lease_expires_at=now + timedelta(seconds=lease_s))
    )
    session.commit()
    return bool(getattr(result, "rowcount", 0))


def backoff(attempt: int) -> timedelta:
    return timedelta(seconds=min(MAX_BACKOFF_S, BACKOFF_S * 2 ** max(0, attempt - 1)))
