"""Dataset version pages: the history with per-label counts, committing a new version, and
the difference between two versions."""

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from edgeops.data import projects, versions
from edgeops.errors import EdgeopsError
from edgeops.governance.roles import Permission
from edgeops.server.ui import charts
from edgeops.server.ui.access import Viewer, page
from edgeops.server.ui.render import project_url, redirect, render

router = APIRouter(include_in_schema=False)
Read = Annotated[Viewer, page(Permission.DATA_READ)]
Write = Annotated[Viewer, page(Permission.DATA_WRITE)]


@router.get("/projects/{project}/data/versions")
def version_list(
    request: Request, project: str, viewer: Read, old: str = "", new: str = ""
) -> Response:
    """The versions, newest first; with `old` and `new`, what changed between them."""
    ws = request.app.state.ws
    with ws.session() as session:
        found = projects.get(session, project)
        history = versions.list_versions(session, found)
    change = None
    if old and new:
        change = ws.data.diff(old, new, project=project).as_dict()
    chart = None
    if history:
        labels = history[0].counts.get("labels", {})
        chart = charts.bar_chart(
            list(labels), [sum(by.values()) for by in labels.values()],
            title=f"Samples per label in {history[0].id[:12]}", y_label="samples",
        )  # fmt: skip
    default_old = history[1].id if len(history) > 1 else ""
    default_new = history[0].id if history else ""
    context = {"history": history, "change": change, "chart": chart,
               "old": old or default_old, "new": new or default_new}  # fmt: skip
    return render(request, viewer, "data/versions.html", context, project=project, section="data")


@router.post("/projects/{project}/data/versions")
def commit_version(
    request: Request,
    project: str,
    viewer: Write,
    message: Annotated[str, Form(max_length=10_000)] = "",
) -> Response:
    here = project_url(project, "data", "versions")
    ws = request.app.state.ws
    try:
        with ws.session() as session:
            version = versions.commit(
                session, ws.blobs, projects.get(session, project), message, viewer.actor
            )
            short, count = version.id[:12], version.sample_count
    except EdgeopsError as error:
        return redirect(here, error=str(error))
    return redirect(here, notice=f"committed version {short} · {count} samples")
