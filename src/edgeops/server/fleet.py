"""The fleet over HTTP: devices enrol, check in and report update status; they fetch TUF
metadata and targets; operators manage devices, releases and rollouts (docs/fleet-protocol.md)."""

import hashlib
import inspect
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import Field
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile

from edgeops.data import projects
from edgeops.fleet import devices, releases, reports, rollouts, tuf_repo
from edgeops.fleet.checkins import CheckinCache
from edgeops.fleet.liveness import LivenessWriter
from edgeops.governance.keys import Principal
from edgeops.governance.roles import Permission
from edgeops.server.auth import project_for, require
from edgeops.server.security import StrictBody
from edgeops.store.tables import Project, Release, utcnow
from edgeops.workspace import Workspace

router = APIRouter(prefix="/api/v1/projects/{project}", tags=["fleet"])

FleetRead = Annotated[Principal, require(Permission.FLEET_READ)]
FleetWrite = Annotated[Principal, require(Permission.FLEET_WRITE)]
UpdatesRead = Annotated[Principal, require(Permission.UPDATES_READ)]
TelemetryWrite = Annotated[Principal, require(Permission.TELEMETRY_WRITE)]
ENROL_PATH = "/api/v1/projects/{project}/device/enrol"  # authenticated by its token, not a key
_METADATA_HEADERS = {"cache-control": "no-store"}
_TARGET_HEADERS = {"cache-control": "public, max-age=31536000, immutable"}


@contextmanager
def _opened(
    request: Request, principal: Principal, project: str
) -> Iterator[tuple[Session, Project]]:
    ws: Workspace = request.app.state.ws
    with ws.session() as session:
        yield session, project_for(session, principal, project)


def _liveness(request: Request) -> LivenessWriter:
    """The app's writer for routine check-ins (it starts and stops with the app)."""
    writer: LivenessWriter = request.app.state.liveness
    return writer


def _remembered(permission: Permission) -> Any:
    """`require(permission)`, with the keys it admits remembered by the server's check-in
    memory (dropped within about a second of any change anywhere: revoking a key writes an audit
    event), so that a device's frequent check-ins cost no key lookup."""
    check = require(permission).dependency

    async def remembered(request: Request, **credentials: Any) -> Principal:
        checkins = _checkins(request)
        sent = f"{request.headers.get('x-api-key')}\n{request.headers.get('authorization')}"
        digest = hashlib.sha256(sent.encode(errors="replace")).hexdigest()
        known = checkins.principal(permission.value, digest)
        if known is None:
            epoch = checkins.epoch
            admitted: Principal = await check(request, **credentials)
            checkins.keep_principal(permission.value, digest, admitted, epoch)
            return admitted
        wait = request.app.state.limiter.wait_time(known.actor)
        if wait > 0:  # as `require` answers it
            retry = str(max(1, round(wait + 0.5)))
            raise HTTPException(429, f"rate limit reached for this key; retry in {wait:.2f} s",
                                headers={"Retry-After": retry})  # fmt: skip
        return known

    # FastAPI reads the credentials as `require`'s check declares them, and passes them on.
    remembered.__signature__ = inspect.signature(check)  # type: ignore[attr-defined]
    remembered.permission = permission  # type: ignore[attr-defined]  # read by the route audit
    return Depends(remembered)


CheckinKey = Annotated[Principal, _remembered(Permission.UPDATES_READ)]


def _checkins(request: Request) -> CheckinCache:
    """The app's memory of check-in answers (it starts and stops with the app)."""
    checkins: CheckinCache = request.app.state.checkins
    return checkins


async def _device_project(request: Request, principal: Principal, project: str) -> Project:
    """A device key's own project, from the server's project cache (check-ins are frequent)."""
    found: Project = await request.app.state.projects.get_async(principal)
    if found.name != project:
        raise HTTPException(403, f"this key belongs to another project, not {project!r}")
    return found


def _device_id(principal: Principal) -> str:
    if principal.device_id is None:
        raise HTTPException(400, "this route is for devices: call it with a device key")
    return principal.device_id


class EnrolIn(StrictBody):
    token: str = Field(max_length=200)
    device_id: str = Field(max_length=128)
    device_type: str | None = Field(None, max_length=64)
    attributes: dict[str, Any] = Field(default_factory=dict)


class RegisterIn(StrictBody):
    device_id: str = Field(max_length=128)
    device_type: str = Field(max_length=64)
    attributes: dict[str, Any] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list, max_length=64)
    groups: list[str] = Field(default_factory=list, max_length=64)


class TagIn(StrictBody):
    add_tags: list[str] = Field(default_factory=list, max_length=64)
    remove_tags: list[str] = Field(default_factory=list, max_length=64)
    add_groups: list[str] = Field(default_factory=list, max_length=64)
    remove_groups: list[str] = Field(default_factory=list, max_length=64)
    attributes: dict[str, Any] | None = None


class TokenIn(StrictBody):
    name: str = Field(max_length=128)
    device_type: str | None = Field(None, max_length=64)
    groups: list[str] = Field(default_factory=list, max_length=64)
    uses: int | None = Field(None, ge=1)
    expires_at: datetime | None = None


class RolloutIn(StrictBody):
    release: str = Field(max_length=140, description="TYPE/VERSION, or VERSION")
    group: str | None = Field(None, max_length=64)
    stages: str = Field("1,10,50,100", max_length=100)
    dwell: str = Field("10m", max_length=16)
    stage_timeout: str = Field("24h", max_length=16)
    max_failure_rate: str = Field("2%", max_length=16)
    on_failure: Literal["rollback", "pause"] = "rollback"


# -- device-facing ---------------------------------------------------------------------------


@router.post("/device/enrol", status_code=201)
def enrol(project: str, body: EnrolIn, request: Request) -> dict[str, Any]:
    """Self-registration: an enrolment token buys a device row and a device key (shown once)."""
    ws: Workspace = request.app.state.ws
    with ws.session() as session:
        found = projects.get(session, project)
        try:
            device, key = devices.enrol(session, found, body.token, body.device_id,
                                        body.device_type, body.attributes, utcnow())  # fmt: skip
        except PermissionError as exc:
            raise HTTPException(401, str(exc)) from None
        session.commit()
        return {"device_id": device.device_id, "device_type": device.device_type, "key": key}


@router.post(
    "/device/checkin",
    response_class=Response,
    responses={
        200: {
            "content": {"application/json": {}},
            "description": "device_id, update (or null), next_checkin_s",
        }
    },
)
async def checkin(
    project: str, body: reports.CheckIn, request: Request, principal: CheckinKey
) -> Response:  # fmt: skip
    """A device says it is alive, what it runs and how it is; the answer names its update.
    A routine check-in is answered from the server's memory (fleet/checkins.py) and its
    "last seen" written with others a moment later; anything else is committed first."""
    device_id = _device_id(principal)
    found = await _device_project(request, principal, project)
    known = _checkins(request).get(found.id, device_id)
    if known is not None and reports.routine(body, known.installed):
        health = body.health.recorded() if body.health else None
        _liveness(request).note(known.device_pk, utcnow(), health)
        return Response(known.answer, media_type="application/json")
    return await run_in_threadpool(_checkin_now, request, found, device_id, body, principal)


def _checkin_now(
    request: Request, found: Project, device_id: str, body: reports.CheckIn, principal: Principal
) -> Response:
    checkins = _checkins(request)
    epoch = checkins.epoch
    with request.app.state.ws.session() as session:
        try:
            known = reports.checkin(session, found, device_id, body, utcnow(), principal.actor,
                                    _liveness(request))  # fmt: skip
        except PermissionError as exc:
            raise HTTPException(403, str(exc)) from None
        session.commit()
    checkins.put(found.id, device_id, known, epoch)
    return Response(known.answer, media_type="application/json")


@router.post("/device/status")
def update_status(
    project: str, body: reports.StatusReport, request: Request, principal: TelemetryWrite
) -> dict[str, Any]:
    """A device reports an update step: downloading … healthy, or failed / rolled-back."""
    device_id = _device_id(principal)
    with _opened(request, principal, project) as (session, found):
        try:
            answer = reports.status(session, found, device_id, body, utcnow(), principal.actor)
        except PermissionError as exc:
            raise HTTPException(403, str(exc)) from None
        session.commit()
        return answer


@router.get("/tuf/metadata/{filename}")
def tuf_metadata(project: str, filename: str, request: Request, principal: UpdatesRead) -> Response:
    """TUF metadata as `tuf.ngclient` asks for it: `N.root.json`, `timestamp.json`,
    `N.snapshot.json`, `N.targets.json`."""
    with _opened(request, principal, project) as (session, found):
        data = tuf_repo.served(session, found, filename)
    return Response(data, media_type="application/json", headers=_METADATA_HEADERS)


@router.get("/tuf/targets/{device_type}/{version}/{filename}")
def tuf_target(
    project: str, device_type: str, version: str, filename: str, request: Request,
    principal: UpdatesRead,
) -> Response:  # fmt: skip
    """A target's bytes at `TYPE/VERSION/SHA256.NAME` (consistent-snapshot naming)."""
    digest, _, name = filename.partition(".")
    missing = HTTPException(404, f"no update target {device_type}/{version}/{filename[:140]}")
    if len(digest) != 64 or not name:
        raise missing
    ws: Workspace = request.app.state.ws
    with _opened(request, principal, project) as (session, found):
        release = session.scalar(
            select(Release).where(
                Release.project_id == found.id, Release.device_type == device_type,
                Release.version == version,
            )
        )  # fmt: skip
        published = [] if release is None else [*release.artifacts, *release.deltas]
        path = f"{device_type}/{version}/{name}"
        if not any(t["path"] == path and t["sha256"] == digest for t in published):
            raise missing
    return Response(ws.blobs.get(digest), media_type="application/octet-stream",
                    headers=_TARGET_HEADERS)  # fmt: skip


# -- operators -------------------------------------------------------------------------------


@router.get("/devices")
def list_devices(
    project: str, request: Request, principal: FleetRead, device_type: str | None = None,
    group: str | None = None, tag: str | None = None,
) -> list[dict[str, Any]]:  # fmt: skip
    with _opened(request, principal, project) as (session, found):
        versions = devices.release_versions(session, found)
        listed = devices.list_devices(session, found, device_type=device_type, group=group,
                                      tag=tag)  # fmt: skip
        return [devices.record(d, versions) for d in listed]


@router.post("/devices", status_code=201)
def register_device(
    project: str, body: RegisterIn, request: Request, principal: FleetWrite
) -> dict[str, Any]:
    """Register a device; the answer holds its device key, shown this once."""
    with _opened(request, principal, project) as (session, found):
        device, key = devices.register(
            session, found, body.device_id, body.device_type, attributes=body.attributes,
            tags=body.tags, groups=body.groups, actor=principal.actor, now=utcnow(),
        )  # fmt: skip
        session.commit()
        return {**devices.record(device, {}), "key": key}


@router.get("/devices/{device_id}")
def show_device(
    project: str, device_id: str, request: Request, principal: FleetRead
) -> dict[str, Any]:
    with _opened(request, principal, project) as (session, found):
        device = devices.get(session, found, device_id)
        return devices.record(device, devices.release_versions(session, found))


@router.patch("/devices/{device_id}")
def tag_device(
    project: str, device_id: str, body: TagIn, request: Request, principal: FleetWrite
) -> dict[str, Any]:
    """Add or remove tags and groups; merge attributes (null removes one)."""
    with _opened(request, principal, project) as (session, found):
        device = devices.tag(
            session, devices.get(session, found, device_id), add_tags=body.add_tags,
            remove_tags=body.remove_tags, add_groups=body.add_groups,
            remove_groups=body.remove_groups, attributes=body.attributes, actor=principal.actor,
        )  # fmt: skip
        session.commit()
        return devices.record(device, devices.release_versions(session, found))


@router.post("/devices/{device_id}/revoke")
def revoke_device(
    project: str, device_id: str, request: Request, principal: FleetWrite
) -> dict[str, Any]:
    with _opened(request, principal, project) as (session, found):
        device = devices.revoke(session, devices.get(session, found, device_id),
                                principal.actor, utcnow())  # fmt: skip
        session.commit()
        return devices.record(device, devices.release_versions(session, found))


@router.post("/enrolment-tokens", status_code=201)
def create_enrolment_token(
    project: str, body: TokenIn, request: Request, principal: FleetWrite
) -> dict[str, Any]:
    """A token for self-registration (`POST /device/enrol`); its secret is shown this once."""
    with _opened(request, principal, project) as (session, found):
        token, secret = devices.create_token(
            session, found, name=body.name, device_type=body.device_type, groups=body.groups,
            uses=body.uses, expires_at=body.expires_at, actor=principal.actor,
        )  # fmt: skip
        session.commit()
        return {**devices.token_record(token), "token": secret}


@router.get("/releases")
def list_releases(
    project: str, request: Request, principal: FleetRead, device_type: str | None = None
) -> list[dict[str, Any]]:
    with _opened(request, principal, project) as (session, found):
        return [
            releases.described(session, r)
            for r in releases.list_releases(session, found, device_type)
        ]


@router.post("/releases", status_code=201)
async def create_release(project: str, request: Request, principal: FleetWrite) -> dict[str, Any]:
    """A release from a multipart form: `device_type`, `version`, optional `changelog` and
    `model`, and one `file` part per artifact (its file name is the artifact's name). Needs the
    targets key on the server (`edgeops keys signing init --online-targets`)."""
    ws: Workspace = request.app.state.ws
    async with request.form(max_files=releases.MAX_ARTIFACTS, max_fields=10) as form:
        fields = {name: form.get(name) for name in ("device_type", "version", "changelog",
                                                    "model")}  # fmt: skip
        if not all(isinstance(fields[name], str) for name in ("device_type", "version")):
            raise HTTPException(400, "give the form fields device_type and version")
        files = {}
        for part in form.getlist("file"):
            if not isinstance(part, UploadFile) or not part.filename:
                raise HTTPException(400, "each `file` part needs a file name")
            files[part.filename] = await part.read()

    def create() -> dict[str, Any]:
        from edgeops.training import registry

        with ws.session() as session:
            found = project_for(session, principal, project)
            model_ref = fields["model"] if isinstance(fields["model"], str) else None
            model = registry.get(session, found, model_ref) if model_ref else None
            changelog = fields["changelog"] if isinstance(fields["changelog"], str) else ""
            release = releases.create(
                session, ws.blobs, found, device_type=str(fields["device_type"]),
                version=str(fields["version"]), artifacts=files, changelog=changelog,
                model=model, folder=None, now=utcnow(), actor=principal.actor,
            )  # fmt: skip
            session.commit()
            return releases.record(release, model.number if model else None)

    return await run_in_threadpool(create)


@router.get("/releases/{device_type}/{version}")
def show_release(
    project: str, device_type: str, version: str, request: Request, principal: FleetRead
) -> dict[str, Any]:
    with _opened(request, principal, project) as (session, found):
        return releases.described(session, releases.get(session, found, device_type, version))


@router.get("/rollouts")
def list_rollouts(project: str, request: Request, principal: FleetRead) -> list[dict[str, Any]]:
    with _opened(request, principal, project) as (session, found):
        return [rollouts.status(session, r) for r in rollouts.list_rollouts(session, found)]


@router.post("/rollouts", status_code=201)
def create_rollout(
    project: str, body: RolloutIn, request: Request, principal: FleetWrite
) -> dict[str, Any]:
    """A staged rollout of a release to a group; the server's scheduler advances it."""
    with _opened(request, principal, project) as (session, found):
        rollout = rollouts.create(
            session, found, releases.find(session, found, body.release), group=body.group,
            stages=rollouts.parse_stages(body.stages),
            dwell_s=rollouts.parse_duration(body.dwell),
            stage_timeout_s=rollouts.parse_duration(body.stage_timeout),
            max_failure_rate=rollouts.parse_rate(body.max_failure_rate),
            on_failure=body.on_failure, actor=principal.actor, now=utcnow(),
        )  # fmt: skip
        session.commit()
        return rollouts.status(session, rollout)


@router.get("/rollouts/{rollout_id}")
def rollout_status(
    project: str, rollout_id: int, request: Request, principal: FleetRead
) -> dict[str, Any]:
    with _opened(request, principal, project) as (session, found):
        return rollouts.status(session, rollouts.get(session, found, rollout_id))


@router.post("/rollouts/{rollout_id}/{action}")
def change_rollout(
    project: str, rollout_id: int, action: rollouts.Action, request: Request,
    principal: FleetWrite,
) -> dict[str, Any]:  # fmt: skip
    """pause, resume, abort (devices not yet updating stay put), or rollback (all go back)."""
    with _opened(request, principal, project) as (session, found):
        rollout = rollouts.get(session, found, rollout_id)
        rollouts.steer(session, rollout, action, principal.actor, utcnow())
        session.commit()
        return rollouts.status(session, rollout)
