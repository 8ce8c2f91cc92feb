"""Governance pages: the audit log (paged, filtered) with a check of its hash chain, data
subjects' erasure requests and their certificates, and fairness reports — with the REST API's
permissions (audit.read, project.admin to erase, models.read for fairness)."""

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from sqlalchemy import select

from edgeops.data import projects
from edgeops.errors import EdgeopsError, InvalidInput, NotFound
from edgeops.governance import audit
from edgeops.governance.fairness import DEFAULT_MAX_GAP, DEVICE_KEY
from edgeops.governance.privacy import ERASE
from edgeops.governance.roles import Permission
from edgeops.server.governance import acting
from edgeops.server.ui.access import Viewer, page
from edgeops.server.ui.charts import bar_chart
from edgeops.server.ui.render import project_url, redirect, render
from edgeops.store.tables import AuditEvent

router = APIRouter(include_in_schema=False)
AuditRead = Annotated[Viewer, page(Permission.AUDIT_READ)]
ProjectAdmin = Annotated[Viewer, page(Permission.PROJECT_ADMIN)]
ModelsRead = Annotated[Viewer, page(Permission.MODELS_READ)]
PAGE_SIZE = 50
MAX_PAGE_SIZE = 500


def _events(
    request: Request, project: str, filters: dict[str, Any], before: int | None
) -> tuple[list[dict[str, Any]], bool]:
    """A page of audit events, newest first, older than event `before`; and whether there are
    older ones."""
    scope, action, actor, size = (filters[k] for k in ("scope", "action", "actor", "size"))
    with request.app.state.ws.session() as session:
        found = projects.get(session, project)
        query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(size + 1)
        if scope == "project":
            query = query.where(AuditEvent.project_id == found.id)
        if before is not None:
            query = query.where(AuditEvent.id < before)
        if action:
            query = query.where(AuditEvent.action == action)
        if actor:
            query = query.where(AuditEvent.actor == actor)
        rows = [audit.event_record(e) for e in session.scalars(query)]
    return rows[:size], len(rows) > size


def _certificates(request: Request, project: str) -> list[dict[str, Any]]:
    with request.app.state.ws.session() as session:
        found = projects.get(session, project)
        return [
            audit.event_record(e) for e in audit.events(session, found.id, PAGE_SIZE, action=ERASE)
        ]


@router.get("/projects/{project}/governance")
def governance_home(
    request: Request,
    project: str,
    viewer: AuditRead,
    scope: str = "project",
    before: int | None = None,
    action: str = "",
    actor: str = "",
    size: int = PAGE_SIZE,
) -> Response:
    if scope not in ("project", "all"):
        raise InvalidInput("scope: project or all")
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise InvalidInput(f"size: 1-{MAX_PAGE_SIZE} events a page")
    filters = {"scope": scope, "action": action[:64], "actor": actor[:128], "size": size}
    events, older = _events(request, project, filters, before)
    context = {
        "events": events,
        "older": events[-1]["id"] if older and events else None,
        "filters": filters,
        "query": urlencode({k: v for k, v in filters.items() if v}),
        "certificates": _certificates(request, project),
    }
    return render(
        request, viewer, "governance/index.html", context, project=project, section="governance"
    )


@router.post("/projects/{project}/governance/audit/verify")
async def verify_chain(request: Request, project: str, viewer: AuditRead) -> Response:
    """Walk the whole hash chain (every project's events: it is one chain)."""
    result = await run_in_threadpool(request.app.state.ws.audit.verify)
    back = project_url(project, "governance")
    if result.ok:
        return redirect(back, notice=f"audit chain intact: {result.checked} events verified")
    return redirect(
        back,
        error=f"audit chain broken ({result.problem}) after {result.checked} good events: "
        f"{result.detail}",
    )


@router.post("/projects/{project}/governance/erasures")
async def erase_subject(
    request: Request,
    project: str,
    viewer: ProjectAdmin,
    subject: Annotated[str, Form(max_length=128)],
    reason: Annotated[str, Form(max_length=1000)] = "",
    confirm: Annotated[str, Form()] = "",
) -> Response:
    """Erase a subject's samples in this project, as `POST /api/v1/…/privacy/erase` does."""
    from edgeops.governance import privacy

    back = project_url(project, "governance")
    if confirm != "yes":
        return redirect(back, error="tick the box to confirm: an erasure cannot be undone")
    # The workspace as the API's erasure sees it: acting for the caller, so the certificate
    # and the audit events name the signed-in user.
    as_viewer = acting(request.app.state.ws, viewer.actor)
    try:
        certificate = await run_in_threadpool(
            privacy.erase, as_viewer, subject.strip(), project=project, reason=reason
        )
    except EdgeopsError as error:
        return redirect(back, error=str(error))
    if not certificate["projects"]:
        return redirect(back, notice=f"nothing stored for subject {subject!r}: nothing erased")
    part = certificate["projects"][0]
    return redirect(
        project_url(project, "governance", "erasures", certificate["erasure"]),
        notice=f"{part['samples_erased']} samples of the subject erased; certificate "
        f"{certificate['erasure']} recorded in the audit log",
    )


@router.get("/projects/{project}/governance/erasures/{erasure}")
def erasure_certificate(
    request: Request, project: str, erasure: str, viewer: AuditRead
) -> Response:
    """An erasure certificate: the `privacy.erase` audit event (its hash anchors it)."""
    found = next((c for c in _certificates(request, project)
                  if c["details"].get("erasure") == erasure), None)  # fmt: skip
    if found is None:
        raise NotFound(f"no erasure certificate {erasure[:40]!r} in project {project!r}")
    return render(
        request, viewer, "governance/certificate.html", {"event": found}, project=project,
        section="governance",
    )  # fmt: skip


def _group_keys(ws: Any, project: str, model: str) -> list[str]:
    """`device_id` and the metadata keys of the samples the model was trained on."""
    version = ws.models.show(model, project=project)["dataset_version"]
    keys = {k for entry in ws.data.read_version(version, project=project)
            for k in (entry.get("metadata") or {})}  # fmt: skip
    return [DEVICE_KEY, *sorted(keys)]


@router.get("/projects/{project}/governance/fairness")
async def fairness_page(
    request: Request,
    project: str,
    viewer: ModelsRead,
    model: str = "",
    by: str = "",
    threshold: float = DEFAULT_MAX_GAP,
) -> Response:
    """Pick a model and a metadata key: per-group metrics, disparities and data balance."""
    ws = request.app.state.ws
    if not 0 <= threshold <= 1:
        raise InvalidInput("threshold: a disparity between 0 and 1")
    models = [m for m in await run_in_threadpool(ws.models.list, project=project)
              if m["task"] == "classification"]  # fmt: skip
    chosen = model or (models[-1]["model"] if models else "")
    context: dict[str, Any] = {"models": models, "model": chosen, "by": by, "keys": [],
                               "threshold": threshold, "report": None, "charts": []}  # fmt: skip
    if chosen:
        context["keys"] = await run_in_threadpool(_group_keys, ws, project, chosen)
    if chosen and by:
        from edgeops.governance.fairness import fairness_report

        try:
            report = await run_in_threadpool(
                fairness_report, ws, chosen, by, project=project, threshold=threshold
            )
        except InvalidInput as error:
            context["problem"] = str(error)
        else:
            context["report"] = report
            context["charts"] = _fairness_charts(report)
    return render(
        request, viewer, "governance/fairness.html", context, project=project,
        section="governance",
    )  # fmt: skip


def _fairness_charts(report: dict[str, Any]) -> list[Any]:
    groups = report["disparities"]["groups"]
    names = list(groups)
    return [
        bar_chart(names, [groups[n][metric] or 0.0 for n in names],
                  title=f"{report['model']}: {metric} per {report['by']}", y_label=metric)
        for metric in ("accuracy", "recall")
    ]  # fmt: skip
