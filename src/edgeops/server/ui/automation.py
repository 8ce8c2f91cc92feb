"""Automation pages: workflows, triggers, runs and approvals (a placeholder until they land)."""

from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import Response

from edgeops.data import projects
from edgeops.governance.roles import Permission
from edgeops.server.ui.access import Viewer, page
from edgeops.server.ui.render import render

router = APIRouter(include_in_schema=False)


@router.get("/projects/{project}/automation")
def automation_home(
    request: Request, project: str, viewer: Annotated[Viewer, page(Permission.WORKFLOWS_READ)]
) -> Response:
    with request.app.state.ws.session() as session:
        projects.get(session, project)
    return render(
        request,
        viewer,
        "placeholder.html",
        {"title": "Automation", "what": "workflows, triggers, runs and approvals"},
        project=project,
        section="automation",
    )
