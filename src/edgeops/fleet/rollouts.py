"""Rollouts: a release reaching a group in stages, each gated on the health of the devices it
has reached; `advance` is the scheduler's step (time is a parameter, never read here).

States: pending → running → completed, or paused (by hand, or on failures with
`on_failure="pause"`), aborted (by hand), rolled-back (failures over the threshold)."""

import hashlib
import itertools
import math
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from edgeops.errors import Conflict, InvalidInput, NotFound
from edgeops.governance import audit
from edgeops.store.tables import Device, Project, Release, Rollout, RolloutDevice

ACTIVE = ("pending", "running", "paused")
FINAL_MEMBER = ("succeeded", "failed")
SCHEDULER = "scheduler"
# What a device's update report means for the rollout it belongs to.
MEMBER_STATE = {
    "downloading": "updating", "installing": "updating", "installed": "updating",
    "healthy": "succeeded", "failed": "failed", "rolled-back": "failed",
}  # fmt: skip


def parse_stages(text: str | list[int]) -> list[int]:
    """`1,10,50,100` → [1, 10, 50, 100]: increasing percentages ending at 100."""
    try:
        stages = [int(p) for p in text.split(",")] if isinstance(text, str) else list(text)
    except ValueError:
        raise InvalidInput(f"stages {text!r}: give percentages like 1,10,50,100") from None
    if (
        not stages
        or stages[-1] != 100
        or any(not 0 < s <= 100 for s in stages)
        or any(a >= b for a, b in itertools.pairwise(stages))
    ):
        raise InvalidInput(f"stages {text!r}: increasing percentages (1-100) ending at 100")
    return stages


def parse_rate(text: str | float) -> float:
    """`2%` or 0.02 → 0.02."""
    try:
        value = float(text.strip().removesuffix("%")) / 100 if isinstance(text, str) and (
            text.strip().endswith("%")) else float(text)  # fmt: skip
    except ValueError:
        raise InvalidInput(f"failure rate {text!r}: give a percentage like 2%") from None
    if not 0 <= value < 1:
        raise InvalidInput(f"failure rate {text!r}: between 0% and 100% (exclusive)")
    return value


_DURATION = re.compile(r"^(\d+)\s*([smhd]?)$")


def parse_duration(text: str | int) -> int:
    """`10m`, `2h`, `30s`, `1d` or seconds → seconds."""
    match = _DURATION.match(str(text).strip())
    if match is None:
        raise InvalidInput(f"duration {text!r}: give a number with s, m, h or d (e.g. 10m)")
    scale = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]
    return int(match.group(1)) * scale


def _aware(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at


def create(
    session: Session, project: Project, release: Release, *, group: str | None,
    stages: list[int], dwell_s: int, stage_timeout_s: int, max_failure_rate: float,
    on_failure: str, actor: str, now: datetime,
) -> Rollout:  # fmt: skip
    """A pending rollout; the scheduler starts it at its next step."""
    if on_failure not in ("rollback", "pause"):
        raise InvalidInput(f"on failure: rollback or pause, not {on_failure!r}")
    if stage_timeout_s < dwell_s:
        raise InvalidInput("the stage timeout must be at least the dwell time")
    busy = session.scalar(
        select(Rollout.id).join(Release, Release.id == Rollout.release_id).where(
            Rollout.project_id == project.id, Rollout.state.in_(ACTIVE),
            Release.device_type == release.device_type,
        )
    )  # fmt: skip
    if busy is not None:
        raise Conflict(
            f"rollout {busy} is still active for {release.device_type}: "
            f"finish, abort or wait for it first (`edgeops rollout status {busy}`)"
        )
    rollout = Rollout(
        project_id=project.id, release_id=release.id, group=group, stages=stages,
        dwell_s=dwell_s, stage_timeout_s=stage_timeout_s, max_failure_rate=max_failure_rate,
        on_failure=on_failure, state="pending", stage=0, reason="", created_by=actor,
        created_at=now, updated_at=now,
    )  # fmt: skip
    session.add(rollout)
    session.flush()
    audit.record(session, actor, "rollout.create", f"rollout:{rollout.id}", project.id, {
        "release": f"{release.device_type}/{release.version}", "group": group, "stages": stages,
        "dwell_s": dwell_s, "max_failure_rate": max_failure_rate, "on_failure": on_failure,
    })  # fmt: skip
    return rollout


def get(session: Session, project: Project, rollout_id: int) -> Rollout:
    rollout = session.get(Rollout, rollout_id)
    if rollout is None or rollout.project_id != project.id:
        raise NotFound(f"no rollout {rollout_id} in project {project.name!r}")
    return rollout


def list_rollouts(session: Session, project: Project) -> list[Rollout]:
    return list(session.scalars(
        select(Rollout).where(Rollout.project_id == project.id).order_by(Rollout.id)
    ))  # fmt: skip


def advance(session: Session, now: datetime) -> list[dict[str, Any]]:
    """One scheduler step over every active rollout: start pending ones, fail or roll back
    unhealthy stages, move healthy ones on after their dwell. Returns what changed."""
    changes = []
    ids = list(session.scalars(
        select(Rollout.id).where(Rollout.state.in_(("pending", "running"))).order_by(Rollout.id)
    ))  # fmt: skip
    for rollout_id in ids:
        rollout = session.scalar(select(Rollout).where(Rollout.id == rollout_id).with_for_update())
        if rollout is None or rollout.state not in ("pending", "running"):
            continue  # another scheduler got there first
        change = _step(session, rollout, now)
        if change is not None:
            changes.append({"rollout": rollout.id, **change})
    return changes


def _members(session: Session, rollout: Rollout) -> list[RolloutDevice]:
    return list(session.scalars(
        select(RolloutDevice).where(RolloutDevice.rollout_id == rollout.id)
    ))  # fmt: skip


def _step(session: Session, rollout: Rollout, now: datetime) -> dict[str, Any] | None:
    release = session.get(Release, rollout.release_id)
    assert release is not None
    if rollout.state == "pending":
        rollout.state, rollout.stage, rollout.stage_started_at = "running", 0, now
        reached = _assign(session, rollout, release, now)
        return _changed(session, rollout, now, "started", {"devices": reached})
    members = _members(session, rollout)
    started = _aware(rollout.stage_started_at or now)
    if now - started >= timedelta(seconds=rollout.stage_timeout_s):
        for member in members:
            if member.state not in FINAL_MEMBER:
                member.state, member.detail, member.updated_at = "failed", "no report in time", now
    failed = sum(m.state == "failed" for m in members)
    rate = failed / len(members) if members else 0.0
    if rate > rollout.max_failure_rate:
        reason = (f"{failed} of {len(members)} devices failed in stage "
                  f"{rollout.stage + 1} ({rate:.1%} > {rollout.max_failure_rate:.1%})")  # fmt: skip
        if rollout.on_failure == "pause":
            rollout.state, rollout.reason = "paused", reason
            return _changed(session, rollout, now, "paused", {"reason": reason})
        _roll_back(session, rollout, members, now)
        rollout.state, rollout.reason = "rolled-back", reason
        return _changed(session, rollout, now, "rolled-back", {"reason": reason})
    done = all(m.state in FINAL_MEMBER for m in members)
    if not done or now - started < timedelta(seconds=rollout.dwell_s):
        return None
    if rollout.stage == len(rollout.stages) - 1:
        rollout.state = "completed"
        return _changed(session, rollout, now, "completed", {"devices": len(members)})
    rollout.stage, rollout.stage_started_at = rollout.stage + 1, now
    reached = _assign(session, rollout, release, now)
    return _changed(session, rollout, now, "stage", {"stage": rollout.stage + 1,
                                                     "percent": rollout.stages[rollout.stage],
                                                     "devices": reached})  # fmt: skip


def _changed(
    session: Session, rollout: Rollout, now: datetime, what: str, details: dict[str, Any]
) -> dict[str, Any]:
    rollout.updated_at = now
    audit.record(session, SCHEDULER, f"rollout.{what}", f"rollout:{rollout.id}",
                 rollout.project_id, details)  # fmt: skip
    return {"event": what, **details}


def eligible(session: Session, rollout: Rollout, release: Release) -> list[Device]:
    """The group's devices of the release's type, in the rollout's own stable random order."""
    query = select(Device).where(
        Device.project_id == rollout.project_id, Device.device_type == release.device_type,
        Device.revoked_at.is_(None),
    )  # fmt: skip
    devices = [
        d for d in session.scalars(query) if rollout.group is None or rollout.group in d.groups
    ]

    def order(device: Device) -> str:
        return hashlib.sha256(f"{rollout.id}:{device.device_id}".encode()).hexdigest()

    return sorted(devices, key=order)


def _assign(session: Session, rollout: Rollout, release: Release, now: datetime) -> int:
    """Offer the release to enough devices to reach this stage's percentage; returns how many
    devices the rollout has reached in all."""
    devices = eligible(session, rollout, release)
    want = math.ceil(len(devices) * rollout.stages[rollout.stage] / 100)
    reached = {m.device_pk for m in _members(session, rollout)}
    for device in devices:
        if len(reached) >= want:
            break
        if device.id in reached:
            continue
        already = device.installed_release_id == release.id
        session.add(RolloutDevice(
            rollout_id=rollout.id, device_pk=device.id, stage=rollout.stage,
            previous_release_id=device.installed_release_id,
            state="succeeded" if already else "offered", detail="", updated_at=now,
        ))  # fmt: skip
        device.target_release_id = release.id
        reached.add(device.id)
    session.flush()
    return len(reached)


def _roll_back(
    session: Session, rollout: Rollout, members: list[RolloutDevice], now: datetime,
    only_unstarted: bool = False,
) -> None:  # fmt: skip
    """Point the rollout's devices back at what they ran before."""
    for member in members:
        if only_unstarted and member.state != "offered":
            continue
        device = session.get(Device, member.device_pk)
        if device is not None and device.target_release_id == rollout.release_id:
            device.target_release_id = member.previous_release_id
        member.updated_at = now


def pause(session: Session, rollout: Rollout, actor: str, now: datetime) -> Rollout:
    if rollout.state not in ("pending", "running"):
        raise Conflict(f"rollout {rollout.id} is {rollout.state}: only a running one pauses")
    rollout.state, rollout.reason, rollout.updated_at = "paused", f"paused by {actor}", now
    audit.record(session, actor, "rollout.pause", f"rollout:{rollout.id}", rollout.project_id)
    return rollout


def resume(session: Session, rollout: Rollout, actor: str, now: datetime) -> Rollout:
    """Running again; the current stage's dwell starts over."""
    if rollout.state != "paused":
        raise Conflict(f"rollout {rollout.id} is {rollout.state}, not paused")
    rollout.state, rollout.reason, rollout.updated_at = "running", "", now
    if rollout.stage_started_at is not None:
        rollout.stage_started_at = now
    else:
        rollout.state = "pending"
    audit.record(session, actor, "rollout.resume", f"rollout:{rollout.id}", rollout.project_id)
    return rollout


def abort(
    session: Session, rollout: Rollout, actor: str, now: datetime, *, rollback: bool = False
) -> Rollout:
    """Stop the rollout: devices that have not started updating are no longer offered it;
    with `rollback`, every device it reached goes back to its previous release."""
    if rollout.state not in ACTIVE:
        raise Conflict(f"rollout {rollout.id} is already {rollout.state}")
    _roll_back(session, rollout, _members(session, rollout), now, only_unstarted=not rollback)
    rollout.state = "rolled-back" if rollback else "aborted"
    rollout.reason, rollout.updated_at = f"{rollout.state} by {actor}", now
    audit.record(session, actor, f"rollout.{'rollback' if rollback else 'abort'}",
                 f"rollout:{rollout.id}", rollout.project_id)  # fmt: skip
    return rollout


Action = Literal["pause", "resume", "abort", "rollback"]


def steer(session: Session, rollout: Rollout, action: Action, actor: str, now: datetime) -> Rollout:
    """An operator's button: pause, resume, abort (devices not yet updating stay put), or
    rollback (all go back)."""
    if action == "pause":
        return pause(session, rollout, actor, now)
    if action == "resume":
        return resume(session, rollout, actor, now)
    return abort(session, rollout, actor, now, rollback=action == "rollback")


def _active_member(session: Session, device: Device, release_id: int) -> RolloutDevice | None:
    return session.scalar(
        select(RolloutDevice).join(Rollout, Rollout.id == RolloutDevice.rollout_id).where(
            RolloutDevice.device_pk == device.id, Rollout.release_id == release_id,
            Rollout.state.in_(("running", "paused")),
        )
    )  # fmt: skip


def note_status(
    session: Session, device: Device, release_id: int, state: str, detail: str, now: datetime
) -> None:
    """A device's update report, counted by the rollout that offered it the release."""
    member = _active_member(session, device, release_id)
    if member is not None:
        member.state, member.detail, member.updated_at = MEMBER_STATE[state], detail[:500], now


def note_health(session: Session, device: Device, now: datetime) -> None:
    """A device that reports itself failing after an update fails its rollout stage."""
    if device.installed_release_id is None:
        return
    member = _active_member(session, device, device.installed_release_id)
    if member is not None and member.state != "failed":
        member.state, member.detail, member.updated_at = "failed", "health: failing", now


def status(session: Session, rollout: Rollout) -> dict[str, Any]:
    """Where the rollout stands: state, stage, devices by state, failure rate."""
    release = session.get(Release, rollout.release_id)
    assert release is not None
    members = _members(session, rollout)
    counts = Counter(m.state for m in members)
    failed = counts.get("failed", 0)
    total = len(eligible(session, rollout, release)) if rollout.state in ACTIVE else None
    return {
        "id": rollout.id,
        "release": f"{release.device_type}/{release.version}",
        "group": rollout.group,
        "state": rollout.state,
        "stages": rollout.stages,
        "stage": rollout.stage + 1,
        "percent": rollout.stages[rollout.stage] if rollout.state != "pending" else 0,
        "dwell_s": rollout.dwell_s,
        "stage_timeout_s": rollout.stage_timeout_s,
        "max_failure_rate": rollout.max_failure_rate,
        "on_failure": rollout.on_failure,
        "reached": len(members),
        "eligible": total,
        "devices": dict(sorted(counts.items())),
        "failure_rate": failed / len(members) if members else 0.0,
        "reason": rollout.reason,
        "created_at": _aware(rollout.created_at).isoformat(),
        "created_by": rollout.created_by,
        "updated_at": _aware(rollout.updated_at).isoformat(),
    }
