"""Edge Impulse-compatible ingestion (`/api/{category}/data|files`) and the few Studio API
calls its clients make first (`/v1/api/...`), so EI firmware, the data forwarder and the EI
Python SDK can send data to edgeops unchanged."""

import json
import secrets
from pathlib import PurePath
from typing import Annotated, Any
from urllib.parse import unquote

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import PlainTextResponse
from starlette.datastructures import UploadFile

from edgeops.data import projects
from edgeops.data.ingest import Destination, Upload
from edgeops.governance.keys import Principal
from edgeops.governance.roles import Permission
from edgeops.server.auth import project_for, require
from edgeops.server.ingestion import ingest
from edgeops.store.tables import Project

router = APIRouter(tags=["edge-impulse-compatible"])
MAX_FILES = 1000

Ingest = Annotated[Principal, require(Permission.DATA_INGEST)]


class UploadHeaders:
    """The x-* headers of an EI ingestion request."""

    def __init__(self, request: Request) -> None:
        headers = request.headers
        self.label = unquote(headers["x-label"]) if "x-label" in headers else None
        self.no_label = _flag(headers.get("x-no-label"))
        self.disallow_duplicates = _flag(headers.get("x-disallow-duplicates"))
        self.add_date_id = _flag(headers.get("x-add-date-id"))
        self.source = headers.get("x-upload-source", "api")[:64]
        self.metadata = _metadata(headers.get("x-metadata"))

    def upload(self, filename: str, data: bytes) -> Upload:
        name = PurePath(unquote(filename)).name or "upload"
        if self.add_date_id:
            stem, dot, extension = name.rpartition(".")
            name = (
                f"{stem}.{secrets.token_hex(4)}.{extension}"
                if dot
                else f"{name}.{secrets.token_hex(4)}"
            )
        label = None if self.no_label else self.label or name.split(".", 1)[0]
        return Upload(name, data, label=label, metadata=self.metadata)


def _flag(value: str | None) -> bool:
    return value is not None and value.strip().lower() in ("1", "true", "yes")


def _metadata(value: str | None) -> dict[str, str]:
    if value is None:
        return {}
    try:
        metadata = json.loads(value)
    except ValueError as exc:
        raise HTTPException(400, f"x-metadata is not valid JSON ({exc})") from exc
    if not isinstance(metadata, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
    ):
        raise HTTPException(400, "x-metadata must be a JSON object of strings to strings")
    return metadata


def _category(category: str) -> tuple[str, dict[str, str]]:
    """EI's categories; 'anomaly' (EI's anomaly test set) is kept as testing, marked so."""
    if category == "anomaly":
        return "testing", {"ei_category": "anomaly"}
    if category in ("training", "testing", "split"):
        return category, {}
    raise HTTPException(
        404, f"unknown category {category!r}: use training, testing, anomaly or split"
    )


async def _destination(
    request: Request, principal: Principal, category: str, headers: UploadHeaders
) -> tuple[Destination, dict[str, str]]:
    target, extra = _category(category)
    ws = request.app.state.ws
    project = await request.app.state.projects.get_async(principal)
    destination = Destination(
        project_id=project.id,
        actor=principal.actor,
        source=f"http:{headers.source}",
        category=target,  # type: ignore[arg-type]
        hmac_key=project.hmac_key,
        allow_unsigned=project.allow_unsigned,
        device_id=principal.device_id,
        disallow_duplicates=headers.disallow_duplicates,
        max_bytes=ws.settings.max_file_bytes,
    )
    return destination, extra


# x-file-name is read from the request rather than declared as a Header() parameter, whose
# per-request validation costs a tenth of ingesting a sample; it is documented here instead.
_FILE_NAME_HEADER = {
    "name": "x-file-name",
    "in": "header",
    "required": True,
    "description": "The file's name, e.g. idle.01.json (its label unless x-label is sent)",
    "schema": {"type": "string"},
}


INGEST_ONE_PATH = "/api/{category}/data"


@router.post(
    INGEST_ONE_PATH,
    response_class=PlainTextResponse,
    openapi_extra={"parameters": [_FILE_NAME_HEADER]},
)
async def ingest_one(category: str, request: Request, principal: Ingest) -> PlainTextResponse:
    """One file in the body (acquisition JSON/CBOR, CSV, WAV, PNG/JPEG); answers with the
    stored file name once the sample is durable."""
    x_file_name = request.headers.get("x-file-name")
    if not x_file_name:
        raise HTTPException(400, "missing x-file-name header: name the file (e.g. idle.01.json)")
    headers = UploadHeaders(request)
    destination, extra = await _destination(request, principal, category, headers)
    upload = headers.upload(x_file_name, await request.body())
    upload.metadata.update(extra)
    [outcome] = await ingest(request, destination, [upload])
    if not outcome.ok:
        raise HTTPException(400, outcome.error)
    return PlainTextResponse(upload.filename)


@router.post("/api/{category}/files")
async def ingest_many(category: str, request: Request, principal: Ingest) -> dict[str, Any]:
    """Multipart upload, one or more `data` parts; a result per file."""
    headers = UploadHeaders(request)
    destination, extra = await _destination(request, principal, category, headers)
    try:
        form = await request.form(max_files=MAX_FILES, max_fields=MAX_FILES)
    except Exception as exc:  # python-multipart and Starlette raise several types
        raise HTTPException(
            400, f"malformed multipart body ({exc}); send files as 'data' parts"
        ) from exc
    parts = [part for part in form.getlist("data") if isinstance(part, UploadFile)]
    if not parts:
        raise HTTPException(400, "no files: send each file as a multipart part named 'data'")
    uploads = []
    for part in parts:
        upload = headers.upload(part.filename or "upload", await part.read())
        upload.metadata.update(extra)
        uploads.append(upload)
    outcomes = await ingest(request, destination, uploads)
    files = [
        {"success": True, "sampleId": o.sample_id, "fileName": o.filename}
        if o.ok
        else {"success": False, "fileName": o.filename, "error": o.error}
        for o in outcomes
    ]
    failed = [o for o in outcomes if not o.ok]
    result: dict[str, Any] = {"success": not failed, "files": files}
    if failed:
        result["error"] = f"{len(failed)} of {len(outcomes)} files failed: {failed[0].error}"
    return result


@router.get("/v1/api/projects")
def studio_projects(request: Request, principal: Ingest) -> dict[str, Any]:
    """The projects this key reaches, as EI's Studio API lists them (for uploaders, so the
    permission is the one to upload)."""
    with request.app.state.ws.session() as session:
        if principal.project_id is None:
            found = projects.list_all(session)
        else:
            found = [project_for(session, principal, None)]
    return {"success": True, "projects": [_studio_project(p) for p in found]}


@router.get("/v1/api/{project_id}")
def studio_project(project_id: int, request: Request, principal: Ingest) -> dict[str, Any]:
    return {"success": True, "project": _studio_project(_own(request, principal, project_id))}


@router.get("/v1/api/{project_id}/devkeys")
@router.get("/v1/api/{project_id}/devkeys/hmac")
def studio_devkeys(project_id: int, request: Request, principal: Ingest) -> dict[str, Any]:
    """The project's HMAC key, which devices sign acquisition files with."""
    project = _own(request, principal, project_id)
    return {"success": True, "apiKey": None, "hmacKey": project.hmac_key}


def _own(request: Request, principal: Principal, project_id: int) -> Project:
    with request.app.state.ws.session() as session:
        project: Project | None = session.get(Project, project_id)
        if project is None or principal.project_id not in (None, project.id):
            raise HTTPException(404, f"no project {project_id} for this key")
        return project


def _studio_project(project: Project) -> dict[str, Any]:
    return {
        "id": project.id,
        "name": project.name,
        "description": project.description,
        "created": project.created_at.isoformat(),
    }
