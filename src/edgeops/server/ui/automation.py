"""Automation pages: workflows (spec, versions, triggers), runs with a step timeline and logs,
and approvals — with the REST API's permissions (workflows.read / write / run / approve)."""

import time
from datetime import datetime
from typing import Annotated, Any, Literal

import yaml
from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from edgeops.automation.engine import FINISHED
from edgeops.errors import EdgeopsError
from edgeops.governance.roles import Permission
from edgeops.server.ui.access import Viewer, page
from edgeops.server.ui.render import project_url, redirect, render, templates

router = APIRouter(include_in_schema=False)
Read = Annotated[Viewer, page(Permission.WORKFLOWS_READ)]
Write = Annotated[Viewer, page(Permission.WORKFLOWS_WRITE)]
Run = Annotated[Viewer, page(Permission.WORKFLOWS_RUN)]
Approve = Annotated[Viewer, page(Permission.WORKFLOWS_APPROVE)]
RECENT_RUNS = 50


def _automation(request: Request) -> Any:
    return request.app.state.ws.automation


@router.get("/projects/{project}/automation")
def automation_home(request: Request, project: str, viewer: Read) -> Response:
    automation = _automation(request)
    runs = automation.runs(project=project, limit=RECENT_RUNS)
    context = {
        "workflows": automation.workflows(project=project),
        "runs": runs,
        "waiting": [r for r in runs if r["status"] == "waiting"],
    }
    return render(
        request, viewer, "automation/index.html", context, project=project, section="automation"
    )


@router.post("/projects/{project}/automation/workflows")
def apply_workflow(
    request: Request,
    project: str,
    viewer: Write,
    spec: Annotated[str, Form(max_length=1_000_000)],
    enabled: Annotated[bool, Form()] = False,
) -> Response:
    """Store a workflow from its YAML; a new version only when its content changed."""
    try:
        stored = _automation(request).apply(spec, project=project, enabled=enabled)
    except EdgeopsError as error:
        return redirect(project_url(project, "automation"), error=str(error))
    what = f"version {stored['version'][:12]} stored" if stored["changed"] else "unchanged"
    return redirect(
        project_url(project, "automation", "workflows", stored["name"]),
        notice=f"workflow {stored['name']}: {what}",
    )


@router.get("/projects/{project}/automation/workflows/{name}")
def workflow_page(request: Request, project: str, name: str, viewer: Read) -> Response:
    automation = _automation(request)
    shown = automation.show(name, project=project)
    context = {
        "workflow": shown,
        "spec_yaml": yaml.safe_dump(shown["spec"], sort_keys=False, allow_unicode=True),
        "runs": automation.runs(project=project, workflow=name, limit=20),
    }
    return render(
        request, viewer, "automation/workflow.html", context, project=project,
        section="automation",
    )  # fmt: skip


@router.post("/projects/{project}/automation/workflows/{name}/run")
def start_run(request: Request, project: str, name: str, viewer: Run) -> Response:
    """Start a run by hand; the run records the signed-in user as who asked."""
    try:
        started = _automation(request).run(name, project=project, actor=viewer.actor)
    except EdgeopsError as error:
        return redirect(project_url(project, "automation", "workflows", name), error=str(error))
    if started is None:
        return redirect(
            project_url(project, "automation", "workflows", name),
            error="no run started (the workflow is disabled or a run is already queued)",
        )
    return redirect(
        project_url(project, "automation", "runs", started["id"]),
        notice=f"run {started['id']} of {name} queued",
    )


def _moment(text: str | None) -> float | None:
    return datetime.fromisoformat(text).timestamp() if text else None


def timeline(run: dict[str, Any], now: float) -> list[dict[str, Any]]:
    """Each step's bar as a share (0-100 %) of the run's span: offset and width from its start
    and end (a step still going ends at `now`)."""
    start = _moment(run["started_at"]) or _moment(run["created_at"]) or now
    ends = [_moment(s["finished_at"]) or now for s in run["steps"] if s["started_at"]]
    end = max([_moment(run["finished_at"]) or now, *ends])
    span = max(end - start, 1e-3)
    bars = []
    for step in run["steps"]:
        began, ended = _moment(step["started_at"]), _moment(step["finished_at"])
        bar = {**step, "offset": 0.0, "width": 0.0, "seconds": None}
        if began is not None:
            stop = ended if ended is not None else now
            bar["offset"] = round(100 * (began - start) / span, 2)
            bar["width"] = round(max(0.5, 100 * (stop - began) / span), 2)
            bar["seconds"] = round(stop - began, 2)
        bars.append(bar)
    return bars


def _run_context(request: Request, project: str, run_id: int) -> dict[str, Any]:
    automation = _automation(request)
    run = automation.get_run(run_id, project=project)
    waiting = next((s for s in run["steps"] if s["status"] == "waiting"), None)
    message = ""
    if waiting is not None:  # the approval step's question, from the workflow's spec
        steps: list[dict[str, Any]] = automation.show(run["workflow"], project=project)["spec"][
            "steps"
        ]
        found = next((s for s in steps if s["id"] == waiting["step"]), {})
        message = str((found.get("with") or {}).get("message", ""))
    return {
        "run": run,
        "bars": timeline(run, time.time()),
        "logs": automation.logs(run_id, project=project),
        "waiting": waiting,
        "approval_message": message,
        # Polling stops when the run has finished, or waits for a person (their comment must
        # not be wiped by the next refresh; deciding reloads the page anyway).
        "final": run["status"] in (*FINISHED, "waiting"),
    }


@router.get("/projects/{project}/automation/runs/{run_id}")
def run_page(request: Request, project: str, run_id: int, viewer: Read) -> Response:
    context = _run_context(request, project, run_id)
    return render(
        request, viewer, "automation/run.html", context, project=project, section="automation"
    )


@router.get("/projects/{project}/automation/runs/{run_id}/live")
def run_live(request: Request, project: str, run_id: int, viewer: Read) -> Response:
    """The live part of a run's page (polled by studio.js until the run has finished)."""
    context = _run_context(request, project, run_id)
    return templates.TemplateResponse(
        request, "automation/_live.html",
        {**context, "viewer": viewer, "project": project, "P": Permission},
    )  # fmt: skip


@router.post("/projects/{project}/automation/runs/{run_id}/{decision}")
def decide(
    request: Request,
    project: str,
    run_id: int,
    decision: Literal["approve", "reject"],
    viewer: Approve,
    comment: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """Approve or reject the step the run waits on (a step that names a role takes that role,
    or admin: the engine checks the viewer's role)."""
    here = project_url(project, "automation", "runs", run_id)
    try:
        _automation(request).decide(
            run_id, decision == "approve", project=project, actor=viewer.actor,
            role=viewer.role, comment=comment,
        )  # fmt: skip
    except EdgeopsError as error:
        return redirect(here, error=str(error))
    return redirect(here, notice=f"run {run_id}: {decision}d")


@router.post("/projects/{project}/automation/runs/{run_id}/control/{action}")
def control(
    request: Request,
    project: str,
    run_id: int,
    action: Literal["cancel", "retry"],
    viewer: Run,
) -> Response:
    """Cancel a run, or retry a finished one from its first step that did not succeed."""
    here = project_url(project, "automation", "runs", run_id)
    automation = _automation(request)
    try:
        changed = (automation.cancel if action == "cancel" else automation.retry)(
            run_id, project=project
        )
    except EdgeopsError as error:
        return redirect(here, error=str(error))
    return redirect(here, notice=f"run {run_id} is {changed['status']}")
