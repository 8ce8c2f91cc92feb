"""Workflows and their runs over HTTP (`/api/v1/projects/{project}/workflows…`, `…/runs…`):
the same service and JSON as `edgeops workflow …` and `edgeops runs …`."""

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request
from pydantic import Field

from edgeops.governance.keys import Principal
from edgeops.governance.roles import Permission
from edgeops.server.auth import project_for, require
from edgeops.server.security import StrictBody

router = APIRouter(prefix="/api/v1/projects/{project}", tags=["workflows"])

Read = Annotated[Principal, require(Permission.WORKFLOWS_READ)]
Write = Annotated[Principal, require(Permission.WORKFLOWS_WRITE)]
Run = Annotated[Principal, require(Permission.WORKFLOWS_RUN)]
Approve = Annotated[Principal, require(Permission.WORKFLOWS_APPROVE)]


class WorkflowIn(StrictBody):
    spec: dict[str, Any] = Field(description="the workflow (recipes inline, not file names)")
    enabled: bool = True


class DecisionIn(StrictBody):
    comment: str = Field("", max_length=500)


def _name(request: Request, principal: Principal, project: str) -> str:
    with request.app.state.ws.session() as session:
        return str(project_for(session, principal, project).name)


def _automation(request: Request) -> Any:
    return request.app.state.ws.automation


@router.get("/workflows")
def list_workflows(project: str, request: Request, principal: Read) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = _automation(request).workflows(
        project=_name(request, principal, project)
    )
    return result


@router.post("/workflows", status_code=201)
def apply_workflow(
    project: str, body: WorkflowIn, request: Request, principal: Write
) -> dict[str, Any]:
    """Store a workflow; a new version when its content changed (then code triggers fire)."""
    result: dict[str, Any] = _automation(request).apply(
        body.spec, project=_name(request, principal, project), enabled=body.enabled
    )
    return result


@router.get("/workflows/{name}")
def show_workflow(project: str, name: str, request: Request, principal: Read) -> dict[str, Any]:
    result: dict[str, Any] = _automation(request).show(
        name, project=_name(request, principal, project)
    )
    return result


@router.post("/workflows/{name}/runs", status_code=201)
def start_run(project: str, name: str, request: Request, principal: Run) -> dict[str, Any]:
    """Start a run by hand; the run records the key's actor as who asked."""
    result: dict[str, Any] = _automation(request).run(
        name, project=_name(request, principal, project), actor=principal.actor
    )
    return result


@router.post("/workflows/{name}/webhook/git")
def git_webhook(
    project: str,
    name: str,
    request: Request,
    principal: Run,
    payload: Annotated[dict[str, Any], Body()],
) -> dict[str, Any]:
    """A git push: one `code` run per commit (`after`), repeats are ignored."""
    started = _automation(request).webhook(
        name, payload, project=_name(request, principal, project), actor=principal.actor
    )
    return {"started": started is not None, "run": started}


@router.get("/runs")
def list_runs(
    project: str,
    request: Request,
    principal: Read,
    workflow: str | None = None,
    status: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = _automation(request).runs(
        project=_name(request, principal, project),
        workflow=workflow,
        status=status,
        limit=limit,
    )
    return result


@router.get("/runs/{run_id}")
def show_run(project: str, run_id: int, request: Request, principal: Read) -> dict[str, Any]:
    """A run's steps, outputs and lineage (trigger, data version, recipes, code version)."""
    result: dict[str, Any] = _automation(request).get_run(
        run_id, project=_name(request, principal, project)
    )
    return result


@router.get("/runs/{run_id}/logs")
def run_logs(project: str, run_id: int, request: Request, principal: Read) -> dict[str, str]:
    text = _automation(request).logs(run_id, project=_name(request, principal, project))
    return {"logs": text}


@router.post("/runs/{run_id}/cancel")
def cancel_run(project: str, run_id: int, request: Request, principal: Run) -> dict[str, Any]:
    result: dict[str, Any] = _automation(request).cancel(
        run_id, project=_name(request, principal, project)
    )
    return result


@router.post("/runs/{run_id}/retry")
def retry_run(project: str, run_id: int, request: Request, principal: Run) -> dict[str, Any]:
    result: dict[str, Any] = _automation(request).retry(
        run_id, project=_name(request, principal, project)
    )
    return result


def _decide(
    project: str,
    run_id: int,
    request: Request,
    principal: Principal,
    body: DecisionIn,
    approved: bool,
) -> dict[str, Any]:
    result: dict[str, Any] = _automation(request).decide(
        run_id,
        approved,
        project=_name(request, principal, project),
        actor=principal.actor,
        role=principal.role,
        comment=body.comment,
    )
    return result


@router.post("/runs/{run_id}/approve")
def approve_run(
    project: str, run_id: int, request: Request, principal: Approve, body: DecisionIn
) -> dict[str, Any]:
    """Approve the step the run waits on (a step that names a role takes that role, or admin)."""
    return _decide(project, run_id, request, principal, body, True)


@router.post("/runs/{run_id}/reject")
def reject_run(
    project: str, run_id: int, request: Request, principal: Approve, body: DecisionIn
) -> dict[str, Any]:
    return _decide(project, run_id, request, principal, body, False)
