"""What devices tell the server (check-ins with health, update status reports) and what the
server answers: the update offer, naming TUF targets the device then fetches and verifies."""

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from edgeops.errors import InvalidInput, NotFound
from edgeops.fleet import rollouts
from edgeops.fleet.checkins import Assignment
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

    def recorded(self) -> dict[str, Any]:
        """As the device row keeps it."""
        return self.model_dump(exclude_none=True)

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


def routine(report: CheckIn, installed: str | None) -> bool:
    """Whether a check-in changes nothing but "last seen" and health: the device runs what the
    server believes (`installed`), is not failing, and sends no attributes."""
    return (
        not report.attributes
        and (report.installed is None or report.installed == installed)
        and (report.health is None or not report.health.failing)
    )


def checkin(
    session: Session, project: Project, device_id: str, report: CheckIn, now: datetime,
    actor: str, liveness: "LivenessWriter | None" = None,
) -> Assignment:  # fmt: skip
    """Note that the device is alive, what it runs and how it feels; answer with its update.
    With `liveness`, a routine check-in leaves its write to that writer (a device's first
    check-in is written at once)."""
    device = _device(session, project, device_id, report.device_type, now, actor)
    installed = _version(session, device.installed_release_id)
    seen_before = device.last_seen_at is not None
    if liveness is not None and seen_before and routine(report, installed):
        liveness.note(device.id, now, report.health.recorded() if report.health else None)
        return assignment(session, device, installed)
    device.last_seen_at = now
    if report.installed is not None and report.installed != installed:
        device.installed_release_id = _release(session, device, report.installed).id
        installed = report.installed
        audit.record(session, actor, "device.installed", f"device:{device_id}", project.id,
                     {"release": report.installed})  # fmt: skip
    if report.health is not None:
        device.health = report.health.recorded()
        if report.health.failing:
            rollouts.note_health(session, device, now)
    if report.attributes:
        device.attributes = {**device.attributes, **report.attributes}
    return assignment(session, device, installed)


def assignment(session: Session, device: Device, installed: str | None) -> Assignment:
    """The check-in answer for `device`, encoded once (a server keeps it for routine check-ins)."""
    answer = {"device_id": device.device_id, "update": offer(session, device),
              "next_checkin_s": CHECKIN_INTERVAL_S}  # fmt: skip
    encoded = json.dumps(answer, separators=(",", ":"), ensure_ascii=False).encode()
    return Assignment(device.id, installed, encoded)


def _version(session: Session, release_id: int | None) -> str | None:
    release = session.get(Release, release_id) if release_id is not None else None
    return release.version if release is not None else None


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
