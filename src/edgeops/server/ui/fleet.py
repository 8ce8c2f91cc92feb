"""Fleet pages: devices with their health and versions, signed releases, and rollouts with
live stage progress and pause / resume / abort (the REST API's fleet.read / fleet.write)."""

from collections import Counter
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session
from tuf.api.exceptions import UnsignedMetadataError

from edgeops.data import projects
from edgeops.errors import EdgeopsError, NotFound
from edgeops.fleet import devices, releases, rollouts, tuf_repo
from edgeops.fleet.reports import CHECKIN_INTERVAL_S
from edgeops.governance.roles import Permission
from edgeops.server.ui.access import Viewer, page
from edgeops.server.ui.render import project_url, redirect, render, templates
from edgeops.store.tables import Device, Project, RolloutDevice, utcnow

router = APIRouter(include_in_schema=False)
Read = Annotated[Viewer, page(Permission.FLEET_READ)]
Write = Annotated[Viewer, page(Permission.FLEET_WRITE)]
# A device that missed this many check-ins in a row is shown offline.
MISSED_CHECKINS = 3
STATUSES = ("online", "degraded", "failing", "offline", "never seen", "revoked")
DEVICE_ROWS = 200  # devices a page
MEMBER_ROWS = 100  # devices of a rollout shown on its page


def ago(moment: str | None, now: datetime) -> str:
    """`5 s ago`, `3 min ago`, `2 h ago`, `4 d ago` for an ISO time; `never` for None."""
    if moment is None:
        return "never"
    seconds = max(0.0, (now - datetime.fromisoformat(moment)).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit} ago"
    return f"{int(seconds)} s ago"


def device_status(record: dict[str, Any], now: datetime) -> str:
    """One word for the device list: revoked, never seen, offline, failing, degraded, online."""
    if record["revoked_at"]:
        return "revoked"
    if record["last_seen_at"] is None:
        return "never seen"
    silent = (now - datetime.fromisoformat(record["last_seen_at"])).total_seconds()
    if silent > MISSED_CHECKINS * CHECKIN_INTERVAL_S:
        return "offline"
    health = (record["health"] or {}).get("status", "ok")
    return "online" if health == "ok" else str(health)


def _signed_paths(session: Session, project: Project) -> dict[str, str]:
    """Target path → SHA-256 in the project's current TUF targets metadata, if its signatures
    verify against the root's targets keys (as a device's TUF client checks); else nothing."""
    try:
        root = tuf_repo.load(session, project, "root")
        targets = tuf_repo.load(session, project, "targets")
        root.signed.verify_delegate("targets", targets.signed_bytes, targets.signatures)
    except (NotFound, UnsignedMetadataError):
        return {}
    return {path: t.hashes.get("sha256", "") for path, t in targets.signed.targets.items()}


def release_rows(session: Session, project: Project) -> list[dict[str, Any]]:
    """Releases newest first, each marked signed when every artifact is in the signed targets
    metadata with the same digest (what a device's TUF client checks before installing)."""
    signed = _signed_paths(session, project)
    rows = []
    for release in reversed(releases.list_releases(session, project)):
        record = releases.described(session, release)
        record["signed"] = bool(record["artifacts"]) and all(
            signed.get(a["path"]) == a["sha256"] for a in record["artifacts"]
        )
        rows.append(record)
    return rows


@router.get("/projects/{project}/fleet")
def fleet_home(
    request: Request,
    project: str,
    viewer: Read,
    device_type: str = "",
    group: str = "",
    tag: str = "",
    status: str = "",
    page_number: Annotated[int, Query(alias="page", ge=1)] = 1,
) -> Response:
    now = datetime.now(UTC)
    with request.app.state.ws.session() as session:
        found = projects.get(session, project)
        versions = devices.release_versions(session, found)
        every = [devices.record(d, versions) for d in devices.list_devices(session, found)]
        release_list = release_rows(session, found)
        rollout_list = [rollouts.status(session, r) for r in rollouts.list_rollouts(session, found)]
    for record in every:
        record["status"] = device_status(record, now)
        record["seen"] = ago(record["last_seen_at"], now)
    filters = {"device_type": device_type, "group": group, "tag": tag, "status": status}
    listed = [
        d for d in every
        if (not device_type or d["device_type"] == device_type)
        and (not status or d["status"] == status)
        and (not group or group in d["groups"]) and (not tag or tag in d["tags"])
    ]  # fmt: skip
    start = (page_number - 1) * DEVICE_ROWS
    context = {
        "devices": listed[start : start + DEVICE_ROWS],
        "matching": len(listed),
        "page_number": page_number,
        "pages": max(1, -(-len(listed) // DEVICE_ROWS)),
        "health": Counter(d["status"] for d in every),
        "filters": filters,
        "query": urlencode({k: v for k, v in filters.items() if v}),
        "choices": {
            "device_type": sorted({d["device_type"] for d in every}),
            "group": sorted({g for d in every for g in d["groups"]}),
            "tag": sorted({t for d in every for t in d["tags"]}),
            "status": STATUSES,
        },
        "releases": release_list,
        "rollouts": list(reversed(rollout_list)),
        "groups": sorted({g for d in every for g in d["groups"]}),
    }
    return render(request, viewer, "fleet/index.html", context, project=project, section="fleet")


@router.post("/projects/{project}/fleet/rollouts")
def start_rollout(
    request: Request,
    project: str,
    viewer: Write,
    release: Annotated[str, Form(max_length=140)],
    group: Annotated[str, Form(max_length=64)] = "",
    stages: Annotated[str, Form(max_length=100)] = "1,10,50,100",
    dwell: Annotated[str, Form(max_length=16)] = "10m",
    stage_timeout: Annotated[str, Form(max_length=16)] = "24h",
    max_failure_rate: Annotated[str, Form(max_length=16)] = "2%",
    on_failure: Annotated[Literal["rollback", "pause"], Form()] = "rollback",
) -> Response:
    """The same checks and audit event as `POST /api/v1/projects/{p}/rollouts`."""
    try:
        with request.app.state.ws.session() as session:
            found = projects.get(session, project)
            rollout = rollouts.create(
                session, found, releases.find(session, found, release), group=group or None,
                stages=rollouts.parse_stages(stages), dwell_s=rollouts.parse_duration(dwell),
                stage_timeout_s=rollouts.parse_duration(stage_timeout),
                max_failure_rate=rollouts.parse_rate(max_failure_rate), on_failure=on_failure,
                actor=viewer.actor, now=utcnow(),
            )  # fmt: skip
            session.commit()
            rollout_id = rollout.id
    except EdgeopsError as error:
        return redirect(project_url(project, "fleet"), error=str(error))
    return redirect(
        project_url(project, "fleet", "rollouts", rollout_id),
        notice=f"rollout {rollout_id} of {release} created: the scheduler starts it shortly",
    )


def _rollout(request: Request, project: str, rollout_id: int) -> dict[str, Any]:
    """The rollout's status, with the devices it has reached (latest changes first)."""
    with request.app.state.ws.session() as session:
        found = projects.get(session, project)
        status = rollouts.status(session, rollouts.get(session, found, rollout_id))
        rows = session.execute(
            select(Device.device_id, RolloutDevice.stage, RolloutDevice.state,
                   RolloutDevice.detail, RolloutDevice.updated_at)
            .join(Device, Device.id == RolloutDevice.device_pk)
            .where(RolloutDevice.rollout_id == rollout_id)
            .order_by(RolloutDevice.updated_at.desc(), Device.device_id)
            .limit(MEMBER_ROWS)
        )  # fmt: skip
        status["members"] = [row._asdict() for row in rows]
        return status


def _progress_context(status: dict[str, Any]) -> dict[str, Any]:
    """Stage bars: done stages full, the current one at its devices' completion."""
    members = max(1, status["reached"])
    finished = sum(status["devices"].get(s, 0) for s in rollouts.FINAL_MEMBER)
    stages = []
    for index, percent in enumerate(status["stages"], start=1):
        if status["state"] == "pending" or index > status["stage"]:
            state, filled = "waiting", 0
        elif index < status["stage"] or status["state"] == "completed":
            state, filled = "done", 100
        else:
            state, filled = status["state"], round(100 * finished / members)
        stages.append({"number": index, "percent": percent, "state": state, "filled": filled})
    return {"rollout": status, "stages": stages, "final": status["state"] not in rollouts.ACTIVE}


@router.get("/projects/{project}/fleet/rollouts/{rollout_id}")
def rollout_page(request: Request, project: str, rollout_id: int, viewer: Read) -> Response:
    context = _progress_context(_rollout(request, project, rollout_id))
    return render(request, viewer, "fleet/rollout.html", context, project=project, section="fleet")


@router.get("/projects/{project}/fleet/rollouts/{rollout_id}/progress")
def rollout_progress(request: Request, project: str, rollout_id: int, viewer: Read) -> Response:
    """The live part of the rollout page (polled by studio.js until the rollout is final)."""
    context = _progress_context(_rollout(request, project, rollout_id))
    return templates.TemplateResponse(
        request,
        "fleet/_progress.html",
        {**context, "viewer": viewer, "project": project, "P": Permission},
    )


@router.post("/projects/{project}/fleet/rollouts/{rollout_id}/{action}")
def change_rollout(
    request: Request,
    project: str,
    rollout_id: int,
    action: rollouts.Action,
    viewer: Write,
) -> Response:
    """pause, resume, abort (devices not yet updating stay put), or rollback (all go back)."""
    here = project_url(project, "fleet", "rollouts", rollout_id)
    try:
        with request.app.state.ws.session() as session:
            found = projects.get(session, project)
            rollout = rollouts.get(session, found, rollout_id)
            rollouts.steer(session, rollout, action, viewer.actor, utcnow())
            session.commit()
            state = rollout.state
    except EdgeopsError as error:
        return redirect(here, error=str(error))
    return redirect(here, notice=f"rollout {rollout_id} is {state}")
