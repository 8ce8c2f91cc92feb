"""Rendering studio pages: the templates, the navigation, one-time notices after a redirect,
and HTML error pages in place of the API's JSON errors."""

import base64
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from edgeops.data import projects
from edgeops.governance.roles import Permission
from edgeops.server.ui.access import Viewer
from edgeops.server.ui.charts import PALETTE

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
templates.env.globals["palette"] = PALETTE
FLASH = "edgeops_flash"


@dataclass(frozen=True)
class Section:
    """One entry of the top navigation: /projects/{project}/{slug}."""

    slug: str
    title: str
    permission: Permission


NAV = (
    Section("data", "Data", Permission.DATA_READ),
    Section("features", "Features", Permission.DATA_READ),
    Section("models", "Models", Permission.MODELS_READ),
    Section("fleet", "Fleet", Permission.FLEET_READ),
    Section("monitoring", "Monitoring", Permission.MODELS_READ),
    Section("automation", "Automation", Permission.WORKFLOWS_READ),
    Section("governance", "Governance", Permission.AUDIT_READ),
)


def project_url(project: str, *parts: str | int) -> str:
    """/projects/{project}/part/part…, each part quoted."""
    return "/projects/" + "/".join(quote(str(p), safe="") for p in (project, *parts))


templates.env.globals["project_url"] = project_url


def render(
    request: Request,
    viewer: Viewer | None,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    project: str | None = None,
    section: str | None = None,
    status: int = 200,
) -> Response:
    """A page in the studio layout. `project` and `section` select the switcher and nav entry."""
    names: list[str] = []
    if viewer is not None:
        with request.app.state.ws.session() as session:
            names = [p.name for p in projects.list_all(session)]
    flash = _read_flash(request)
    response = templates.TemplateResponse(
        request,
        template,
        {
            "viewer": viewer,
            "project": project,
            "projects": names,
            "section": section,
            "nav": [s for s in NAV if viewer is not None and viewer.can(s.permission)],
            "flash": flash,
            "P": Permission,
            **(context or {}),
        },
        status_code=status,
    )
    if flash is not None:
        response.delete_cookie(FLASH, path="/")
    return response


def redirect(url: str, *, notice: str | None = None, error: str | None = None) -> Response:
    """303 See Other (post-redirect-get), with a notice shown once on the next page."""
    response = RedirectResponse(url, status_code=303)
    if notice is not None or error is not None:
        text = json.dumps({"kind": "error" if error else "ok", "text": (error or notice)[:500]})  # type: ignore[index]
        response.set_cookie(
            FLASH, base64.urlsafe_b64encode(text.encode()).decode(), max_age=60, path="/",
            httponly=True, samesite="strict",
        )  # fmt: skip
    return response


def _read_flash(request: Request) -> dict[str, str] | None:
    raw = request.cookies.get(FLASH)
    if not raw:
        return None
    try:
        found = json.loads(base64.urlsafe_b64decode(raw.encode()))
        return {"kind": str(found["kind"]), "text": str(found["text"])}
    except (ValueError, KeyError, TypeError):
        return None


def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    """An HTML error for a studio request (the API answers JSON for the same errors)."""
    viewer = getattr(request.state, "viewer", None)
    titles = {403: "Not allowed", 404: "Not found", 409: "Conflict", 400: "Cannot do that"}
    response = templates.TemplateResponse(
        request,
        "error.html",
        {
            "viewer": viewer, "project": request.path_params.get("project"), "projects": [],
            "section": None, "flash": None, "P": Permission,
            "nav": [s for s in NAV if viewer is not None and viewer.can(s.permission)],
            "status": status, "title": titles.get(status, "Something went wrong"),
            "message": message,
        },
        status_code=status,
    )  # fmt: skip
    return response
