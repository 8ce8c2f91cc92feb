"""REST API for governance: model cards, fairness reports, compliance bundles, data subjects'
requests (erasure, export), retention policies and encryption at rest — the CLI's
`edgeops report` and `edgeops privacy` over HTTP, for the project a key may reach."""

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, cast

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, PlainTextResponse, Response
from pydantic import Field

from edgeops.governance import encryption, privacy, retention
from edgeops.governance.compliance import compliance_bundle
from edgeops.governance.fairness import fairness_report
from edgeops.governance.keys import Principal
from edgeops.governance.modelcard import model_card, to_html, to_markdown
from edgeops.governance.roles import Permission
from edgeops.server.auth import project_for, require
from edgeops.server.security import StrictBody
from edgeops.store.tables import RetentionPolicy

if TYPE_CHECKING:
    from edgeops.workspace import Workspace

router = APIRouter(prefix="/api/v1/projects/{project}", tags=["governance"])
ModelsRead = Annotated[Principal, require(Permission.MODELS_READ)]
ProjectRead = Annotated[Principal, require(Permission.PROJECT_READ)]
AuditRead = Annotated[Principal, require(Permission.AUDIT_READ)]
ProjectAdmin = Annotated[Principal, require(Permission.PROJECT_ADMIN)]
ByKey = Annotated[str, Query(max_length=128, description="Metadata key to group by")]
Threshold = Annotated[float, Query(ge=0, le=1, description="Largest disparity that passes")]


class SubjectIn(StrictBody):
    subject: str = Field(max_length=128)
    reason: str = Field("", max_length=1000)


class RetentionIn(StrictBody):
    raw_sample_days: int = Field(ge=1, le=retention.MAX_DAYS)


class ApplyIn(StrictBody):
    dry_run: bool = False


def _zip(data: bytes, filename: str) -> Response:
    disposition = f'attachment; filename="{filename}"'
    return Response(
        data, media_type="application/zip", headers={"content-disposition": disposition}
    )


def _name(request: Request, principal: Principal, project: str) -> str:
    with request.app.state.ws.session() as session:
        return project_for(session, principal, project).name


@router.get("/reports/model-card/{model}")
async def get_model_card(
    project: str,
    model: str,
    request: Request,
    principal: ModelsRead,
    format: Literal["json", "markdown", "html"] = "json",
) -> Any:
    """The model card of a model version: JSON, Markdown or HTML."""
    ws = request.app.state.ws
    name = await run_in_threadpool(_name, request, principal, project)
    card = await run_in_threadpool(model_card, ws, model, project=name)
    if format == "markdown":
        return PlainTextResponse(to_markdown(card), media_type="text/markdown")
    if format == "html":
        return HTMLResponse(to_html(card))
    return card


@router.get("/reports/fairness/{model}")
async def get_fairness(
    project: str,
    model: str,
    request: Request,
    principal: ModelsRead,
    by: ByKey,
    threshold: Threshold = 0.1,
) -> dict[str, Any]:
    """Per-group metrics, disparities and data balance of a classifier across a metadata key."""
    name = await run_in_threadpool(_name, request, principal, project)
    report: dict[str, Any] = await run_in_threadpool(
        fairness_report, request.app.state.ws, model, by, project=name, threshold=threshold
    )
    return report


def _bundle(ws: Any, model: str, name: str, by: str | None) -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "bundle.zip"
        compliance_bundle(ws, model, out, project=name, by=by)
        return out.read_bytes()


@router.get("/reports/compliance/{model}")
async def get_compliance(
    project: str,
    model: str,
    request: Request,
    principal: AuditRead,
    by: Annotated[str | None, Query(max_length=128)] = None,
) -> Response:
    """The compliance bundle (zip: model card, lineage, audit excerpt, fairness, risk notes)."""
    name = await run_in_threadpool(_name, request, principal, project)
    data = await run_in_threadpool(_bundle, request.app.state.ws, model, name, by)
    return _zip(data, f"{name}-{model}-compliance.zip")


@router.post("/privacy/erase")
async def erase(
    project: str, body: SubjectIn, request: Request, principal: ProjectAdmin
) -> dict[str, Any]:
    """Erase a subject's samples in this project; returns the erasure certificate."""
    name = await run_in_threadpool(_name, request, principal, project)
    ws = request.app.state.ws
    certificate: dict[str, Any] = await run_in_threadpool(
        privacy.erase, acting(ws, principal.actor), body.subject, project=name,
        reason=body.reason,
    )  # fmt: skip
    return certificate


def _export(ws: Any, subject: str, name: str) -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "subject.zip"
        privacy.export(ws, subject, out, project=name)
        return out.read_bytes()


@router.post("/privacy/export")
async def export(
    project: str, body: SubjectIn, request: Request, principal: ProjectAdmin
) -> Response:
    """Everything this project stores about a subject, as a zip (an access request)."""
    name = await run_in_threadpool(_name, request, principal, project)
    data = await run_in_threadpool(
        _export, acting(request.app.state.ws, principal.actor), body.subject, name
    )
    return _zip(data, "subject.zip")


@router.get("/privacy/retention")
def get_retention(project: str, request: Request, principal: ProjectRead) -> dict[str, Any]:
    """The project's retention policy (`raw_sample_days` null: samples are kept)."""
    with request.app.state.ws.session() as session:
        found = project_for(session, principal, project)
        return retention.record(found, session.get(RetentionPolicy, found.id))


@router.put("/privacy/retention")
def put_retention(
    project: str, body: RetentionIn, request: Request, principal: ProjectAdmin
) -> dict[str, Any]:
    """Keep raw samples `raw_sample_days` days (those a release pins stay longer)."""
    with request.app.state.ws.session() as session:
        found = project_for(session, principal, project)
        policy = retention.set_policy(session, found, body.raw_sample_days, principal.actor)
        return retention.record(found, policy)


@router.post("/privacy/retention/apply")
async def apply_retention(
    project: str, body: ApplyIn, request: Request, principal: ProjectAdmin
) -> dict[str, Any]:
    """Delete the samples older than the policy allows (or, with dry_run, list them)."""
    name = await run_in_threadpool(_name, request, principal, project)
    (report,) = await run_in_threadpool(
        retention.apply, acting(request.app.state.ws, principal.actor), project=name,
        dry_run=body.dry_run,
    )  # fmt: skip
    return report


@router.get("/privacy/encryption")
def get_encryption(project: str, request: Request, principal: ProjectRead) -> dict[str, Any]:
    """Whether the project's sample blobs are encrypted at rest."""
    with request.app.state.ws.session() as session:
        return encryption.status(session, project_for(session, principal, project))


@router.post("/privacy/encryption/enable")
def enable_encryption(project: str, request: Request, principal: ProjectAdmin) -> dict[str, Any]:
    """Encrypt the project's sample blobs from now on, and seal the stored ones."""
    ws = request.app.state.ws
    with ws.session() as session:
        found = project_for(session, principal, project)
        return encryption.enable(acting(ws, principal.actor), session, found)


class _Acting:
    """The workspace as seen by a service acting for the caller: the same database and blob
    store, with the caller as the actor that the audit log records."""

    def __init__(self, ws: Any, actor: str) -> None:
        self._ws = ws
        self.actor = actor

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ws, name)


def acting(ws: "Workspace", actor: str) -> "Workspace":
    """`ws` for a service that audits what it does as `ws.actor`, acting for `actor` (the
    caller of a REST route or a studio action)."""
    return cast("Workspace", _Acting(ws, actor))
