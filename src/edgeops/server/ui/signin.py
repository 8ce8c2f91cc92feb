"""Signing in and out, the landing page and the project switcher."""

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from sqlalchemy import select

from edgeops.data import projects
from edgeops.errors import EdgeopsError
from edgeops.governance import users
from edgeops.governance.roles import Permission
from edgeops.server.ui import session as cookies
from edgeops.server.ui.access import Viewer, current_viewer, page, secret, signed_in
from edgeops.server.ui.render import NAV, project_url, redirect, render
from edgeops.store.tables import User

router = APIRouter(include_in_schema=False)
LOGIN_NONCE = "edgeops_login"  # double-submit token: a third-party page cannot sign you in


def _safe_next(target: str | None) -> str:
    """Only paths on this server: never an open redirect to another site."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


@router.get("/login")
async def login_form(request: Request, next: str | None = None) -> Response:
    if await current_viewer(request) is not None:
        return redirect(_safe_next(next))
    nonce = secrets.token_urlsafe(24)
    response = render(request, None, "login.html", {"next": _safe_next(next), "nonce": nonce})
    response.set_cookie(LOGIN_NONCE, nonce, max_age=3600, httponly=True, samesite="strict")
    return response


@router.post("/login")
def login(
    request: Request,
    name: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=users.MAX_PASSWORD)],
    nonce: Annotated[str, Form(max_length=64)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    client = request.client.host if request.client else "unknown"
    wait = request.app.state.studio_logins.wait_time(client)
    if wait > 0:
        response = render(
            request, None, "login.html",
            {"next": _safe_next(next), "nonce": nonce, "name": name,
             "error": f"too many sign-in attempts from your address: wait {wait:.0f} s"},
            status=429,
        )  # fmt: skip
        response.headers["Retry-After"] = str(max(1, round(wait + 0.5)))
        return response
    expected = request.cookies.get(LOGIN_NONCE)
    if not expected or not secrets.compare_digest(
        expected.encode(errors="replace"), nonce.encode(errors="replace")
    ):
        return redirect("/login", error="the sign-in form expired: please try again")
    ws = request.app.state.ws
    with ws.session() as session:
        principal = users.authenticate_user(session, name, password)
        password_hash = session.scalar(select(User.password_hash).where(User.name == name))
        session.commit()  # authenticate_user may upgrade an old hash
    if principal is None or password_hash is None:
        response = render(
            request, None, "login.html",
            {"next": _safe_next(next), "nonce": nonce, "error": "wrong user name or password",
             "name": name},
            status=401,
        )  # fmt: skip
        return response
    response = redirect(_safe_next(next))
    response.set_cookie(
        cookies.COOKIE, cookies.encode(secret(request), name, password_hash),
        max_age=cookies.LIFETIME_S, httponly=True, samesite="strict",
        secure=request.url.scheme == "https", path="/",
    )  # fmt: skip
    response.delete_cookie(LOGIN_NONCE)
    return response


@router.post("/logout")
def logout(viewer: Annotated[Viewer, signed_in()]) -> Response:
    response = redirect("/login", notice="signed out")
    response.delete_cookie(cookies.COOKIE, path="/")
    return response


@router.get("/")
async def home(
    request: Request, viewer: Annotated[Viewer, page(Permission.PROJECT_READ)]
) -> Response:
    """The first project's first page this user may see; a project list when there is none."""
    found = await run_in_threadpool(_project_names, request)
    first = next((s for s in NAV if viewer.can(s.permission)), None)
    if found and first is not None:
        return redirect(project_url(found[0], first.slug))
    return render(request, viewer, "projects.html", {"names": found})


def _project_names(request: Request) -> list[str]:
    with request.app.state.ws.session() as session:
        return [p.name for p in projects.list_all(session)]


@router.post("/projects")
def create_project(
    request: Request,
    viewer: Annotated[Viewer, page(Permission.PROJECT_ADMIN)],
    name: Annotated[str, Form(max_length=64)],
    description: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    try:
        with request.app.state.ws.session() as session:
            projects.create(session, name, viewer.actor, description)
            session.commit()
    except EdgeopsError as error:
        return redirect("/", error=str(error))
    return redirect(project_url(name, "data"), notice=f"project {name} created")


@router.get("/switch")
def switch_project(
    request: Request,
    viewer: Annotated[Viewer, page(Permission.PROJECT_READ)],
    project: str,
    section: str = "data",
) -> Response:
    """The project switcher's target: the same section of another project."""
    with request.app.state.ws.session() as session:
        name = projects.get(session, project).name
    slug = section if any(s.slug == section for s in NAV) else "data"
    return redirect(project_url(name, slug))
