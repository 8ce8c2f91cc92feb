"""The REST API under /api/v1: the CLI's commands over HTTP, same names, same JSON fields."""

from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Query, Request
from pydantic import Field

from edgeops.data import projects, samples, versions
from edgeops.data.ingest import Destination, Upload, check_target
from edgeops.governance.keys import Principal
from edgeops.governance.roles import Permission
from edgeops.server.auth import project_for, require
from edgeops.server.ingestion import ingest
from edgeops.server.security import StrictBody

router = APIRouter(prefix="/api/v1", tags=["api"])

ProjectRead = Annotated[Principal, require(Permission.PROJECT_READ)]
ProjectAdmin = Annotated[Principal, require(Permission.PROJECT_ADMIN)]
DataRead = Annotated[Principal, require(Permission.DATA_READ)]
DataWrite = Annotated[Principal, require(Permission.DATA_WRITE)]
DataIngest = Annotated[Principal, require(Permission.DATA_INGEST)]


class ProjectIn(StrictBody):
    name: str = Field(max_length=64)
    description: str = Field("", max_length=1000)


class LabelIn(StrictBody):
    ids: list[int] = Field(min_length=1, max_length=10_000)
    label: str = Field(max_length=128)


class MoveIn(StrictBody):
    ids: list[int] = Field(min_length=1, max_length=10_000)
    category: str


class CommitIn(StrictBody):
    message: str = Field(min_length=1, max_length=10_000)


@router.post("/ping")
async def ping(request: Request, principal: DataIngest) -> dict[str, Any]:
    """Authenticated no-op: reads and drops the body. Devices check their link with it; the
    ingestion benchmark uses it as the baseline."""
    return {"ok": True, "bytes": len(await request.body())}


@router.get("/projects")
def list_projects(request: Request, principal: ProjectRead) -> list[dict[str, Any]]:
    with request.app.state.ws.session() as session:
        found = projects.list_all(session)
    return [projects.record(p) for p in found if principal.project_id in (None, p.id)]


@router.post("/projects", status_code=201)
def create_project(body: ProjectIn, request: Request, principal: ProjectAdmin) -> dict[str, Any]:
    with request.app.state.ws.session() as session:
        project = projects.create(session, body.name, principal.actor, body.description)
        session.commit()
        return projects.record(project)


@router.get("/projects/{project}/samples")
def list_samples(
    project: str,
    request: Request,
    principal: DataRead,
    label: str | None = None,
    category: str | None = None,
    limit: Annotated[int | None, Query(ge=1, le=100_000)] = None,
) -> list[dict[str, Any]]:
    with request.app.state.ws.session() as session:
        found = project_for(session, principal, project)
        rows = samples.list_samples(session, found, label=label, category=category, limit=limit)
        return [samples.record(s) for s in rows]


@router.get("/projects/{project}/samples/{sample_id}")
def show_sample(
    project: str, sample_id: int, request: Request, principal: DataRead
) -> dict[str, Any]:
    with request.app.state.ws.session() as session:
        return samples.record(
            samples.get(session, project_for(session, principal, project), sample_id)
        )


@router.post("/projects/{project}/samples", status_code=201)
async def add_sample(
    project: str,
    request: Request,
    principal: DataIngest,
    x_file_name: Annotated[str, Header(description="File name; its extension picks the format")],
    category: str = "split",
    label: str | None = None,
) -> dict[str, Any]:
    """One file in the body; answers once the sample is durable."""
    ws = request.app.state.ws
    with ws.session() as session:
        found = project_for(session, principal, project)
    destination = Destination(
        project_id=found.id,
        actor=principal.actor,
        source="http:api",
        category=check_target(category),
        hmac_key=found.hmac_key,
        allow_unsigned=found.allow_unsigned,
        device_id=principal.device_id,
        max_bytes=ws.settings.max_file_bytes,
    )
    upload = Upload(x_file_name, await request.body(), label=label)
    [outcome] = await ingest(request, destination, [upload])
    if not outcome.ok:
        raise HTTPException(400, outcome.error)
    return {"id": outcome.sample_id, "filename": outcome.filename}


@router.post("/projects/{project}/samples/label")
def label_samples(
    project: str, body: LabelIn, request: Request, principal: DataWrite
) -> dict[str, Any]:
    with request.app.state.ws.session() as session:
        changed = samples.relabel(
            session, project_for(session, principal, project), body.ids, body.label, principal.actor
        )
        session.commit()
        return {"ids": [s.id for s in changed], "label": body.label}


@router.post("/projects/{project}/samples/move")
def move_samples(
    project: str, body: MoveIn, request: Request, principal: DataWrite
) -> dict[str, Any]:
    with request.app.state.ws.session() as session:
        moved = samples.move(
            session,
            project_for(session, principal, project),
            body.ids,
            body.category,
            principal.actor,
        )
        session.commit()
        return {"ids": [s.id for s in moved], "category": body.category}


@router.delete("/projects/{project}/samples/{sample_id}")
def remove_sample(
    project: str, sample_id: int, request: Request, principal: DataWrite
) -> dict[str, Any]:
    with request.app.state.ws.session() as session:
        samples.remove(
            session, project_for(session, principal, project), [sample_id], principal.actor
        )
        session.commit()
    return {"id": sample_id, "removed": True}


@router.post("/projects/{project}/versions", status_code=201)
def commit_version(
    project: str, body: CommitIn, request: Request, principal: DataWrite
) -> dict[str, Any]:
    ws = request.app.state.ws
    with ws.session() as session:
        found = project_for(session, principal, project)
        return versions.record(
            versions.commit(session, ws.blobs, found, body.message, principal.actor)
        )


@router.get("/projects/{project}/versions")
def list_versions(project: str, request: Request, principal: DataRead) -> list[dict[str, Any]]:
    with request.app.state.ws.session() as session:
        found = project_for(session, principal, project)
        redacted = versions.redactions(session, found.id)
        return [
            versions.record(v, redacted.get(v.id)) for v in versions.list_versions(session, found)
        ]


@router.get("/projects/{project}/versions/{old}/diff/{new}")
def diff_versions(
    project: str, old: str, new: str, request: Request, principal: DataRead
) -> dict[str, Any]:
    ws = request.app.state.ws
    with ws.session() as session:
        found = project_for(session, principal, project)
        change = versions.diff(
            session, ws.blobs, versions.get(session, found, old), versions.get(session, found, new)
        )
    return change.as_dict()
