"""What devices tell the server (check-ins with health, update status reports) and what the
server answers: the update offer, naming TUF targets the device then fetches and verifies."""

from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from edgeops.errors import InvalidInput, NotFound
from edgeops.fleet import rollouts
from edgeops.fleet.devices import _new_device, get
from edgeops.governance import audit
from edgeops.store.tables import Device, Project, Release

if TYPE_CHECKING:
    from edgeops.fleet.liveness import LivenessWriter

CHECKIN_INTERVAL_S = 60
# A device reporting more errors than this (share of its inferences/requests since its last
# check-in) is failing, whatever status it claims.
MAX_DEVICE_ERROR_RATE = 0.05
UpdateState = Literal["downloading", "installing", "installed", "healthy", "failed", "rolled-back"]


class Health(BaseModel):
    status: Literal["ok", "degraded", "failing"] = "ok"
    error_rate: float | None = Field(None, ge=0, le=1)
    uptime_s: float | None = Field(None, ge=0)
    boot_count: int | None = Field(None, ge=0)
    detail: str = Field("", max_length=500)

    @property
    def failing(self) -> bool:
        too_many = self.error_rate is not None and self.error_rate > MAX_DEVICE_ERROR_RATE
        return self.status == "failing" or too_many


class CheckIn(BaseModel):
    device_type: str | None = Field(None, max_length=64)
    installed: str | None = Field(None, max_length=64, description="installed release version")
    health: Health | None = None
    attributes: dict[str, Any] | None = None


class StatusReport(BaseModel):
    release: str = Field(max_length=64)
    state: UpdateState
    detail: str = Field("", max_length=500)


def _device(
    session: Session, project: Project, device_id: str, device_type: str | None, now: datetime,
    actor: str,
) -> Device:  # fmt: skip
    try:
        device = get(session, project, device_id)
    except NotFound:
        # A device key made with `edgeops keys create --role device` registers on first contact.
        if device_type is None:
            raise InvalidInput(
                "this device is not registered yet: send its device_type in the check-in"
            ) from None
        device = _new_device(
            session, project, device_id, device_type, attributes={}, tags=[], groups=[],
            actor=actor, now=now, api_key_id=None,
        )  # fmt: skip
        audit.record(session, actor, "device.register", f"device:{device_id}", project.id,
                     {"device_type": device_type, "on": "first check-in"})  # fmt: skip
    if device.revoked_at is not None:
        raise PermissionError(f"device {device_id!r} has been revoked")
    return device


def _release(session: Session, device: Device, version: str) -> Release:
    release = session.scalar(
        select(Release).where(
            Release.project_id == device.project_id, Release.device_type == device.device_type,
            Release.version == version,
        )
    )  # fmt: skip
    if release is None:
        raise InvalidInput(f"no release {version} for device type {device.device_type!r}")
    return release


def checkin(
    session: Session, project: Project, device_id: str, report: CheckIn, now: datetime,
    actor: str, liveness: "LivenessWriter | None" = None,
) -> dict[str, Any]:  # fmt: skip
    """Note that the device is alive, what it runs and how it feels; answer with its update.
    With `liveness`, a check-in that changes nothing else leaves its write to that writer."""
    device = _device(session, project, device_id, report.device_type, now, actor)
    health = report.health.model_dump(exclude_none=True) if report.health else device.health
    routine = (
        liveness is not None and device.id is not None and not report.attributes
        and (report.installed is None or _same_release(session, device, report.installed))
        and (report.health is None or not report.health.failing)
        and device not in session.new
    )  # fmt: skip
    if routine:
        assert liveness is not None
        liveness.note(device.id, now, health)
        return {"device_id": device.device_id, "update": offer(session, device),
                "next_checkin_s": CHECKIN_INTERVAL_S}  # fmt: skip
    device.last_seen_at = now
    installed = device.installed_release_id
    if report.installed is not None:
        current = session.get(Release, installed) if installed is not None else None
        if current is None or current.version != report.installed:
            installed = _release(session, device, report.installed).id
    if installed != device.installed_release_id:
        device.installed_release_id = installed
        audit.record(session, actor, "device.installed", f"device:{device_id}", project.id,
                     {"release": report.installed})  # fmt: skip
    if report.health is not None:
        device.health = report.health.model_dump(exclude_none=True)
        if report.health.failing:
            rollouts.note_health(session, device, now)
    if report.attributes:
        device.attributes = {**device.attributes, **report.attributes}
    return {
        "device_id": device.device_id,
        "update": offer(session, device),
        "next_checkin_s": CHECKIN_INTERVAL_S,
    }


def _same_release(session: Session, device: Device, version: str) -> bool:
    if device.installed_release_id is None:
        return False
    current = session.get(Release, device.installed_release_id)
    return current is not None and current.version == version


def offer(session: Session, device: Device) -> dict[str, Any] | None:
    """The update the device should install, or None. Every path is a TUF target: the device
    trusts only what its TUF client verifies, never this answer's hashes alone."""
    target = device.target_release_id
    if target is None or target == device.installed_release_id:
        return None
    release = session.get(Release, target)
    if release is None:
        return None
    installed = (
        session.get(Release, device.installed_release_id)
        if device.installed_release_id is not None else None
    )  # fmt: skip
    from_version = installed.version if installed is not None else None
    artifacts = []
    for artifact in release.artifacts:
        delta = next(
            (d for d in release.deltas
             if d["name"] == artifact["name"] and d["from_version"] == from_version),
            None,
        )  # fmt: skip
        artifacts.append({
            "name": artifact["name"], "kind": artifact["kind"], "target": artifact["path"],
            "length": artifact["length"], "sha256": artifact["sha256"],
            "delta": None if delta is None else {
                "target": delta["path"], "length": delta["length"],
                "from_version": delta["from_version"], "from_sha256": delta["from_sha256"],
                "format": delta["format"],
            },
        })  # fmt: skip
    rollback = installed is not None and _newer(installed.version, release.version)
    return {"release": release.version, "device_type": release.device_type,
            "changelog": release.changelog, "rollback": rollback,
            "artifacts": artifacts}  # fmt: skip


def _newer(a: str, b: str) -> bool:
    from edgeops.fleet.releases import version_key

    return version_key(a) > version_key(b)


def status(
    session: Session, project: Project, device_id: str, report: StatusReport, now: datetime,
    actor: str,
) -> dict[str, Any]:  # fmt: skip
    """An update step's outcome. `healthy` means installed, booted and passing its own health
    check: the device now runs the release."""
    device = _device(session, project, device_id, None, now, actor)
    release = _release(session, device, report.release)
    device.last_seen_at = now
    device.update_state, device.update_detail = report.state, report.detail
    if report.state == "healthy":
        device.installed_release_id = release.id
    elif report.state in ("failed", "rolled-back") and device.target_release_id == release.id:
        device.target_release_id = None  # no retry loop: it stays on what it runs until told
    rollouts.note_status(session, device, release.id, report.state, report.detail, now)
    audit.record(session, actor, f"device.update.{report.state}", f"device:{device_id}",
                 project.id, {"release": report.release, "detail": report.detail})  # fmt: skip
    return {"ok": True}
