"""The studio: server-rendered pages for every role's daily work, at `/` of `edgeops serve`."""

import inspect
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.routing import APIRouter
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from edgeops.errors import EdgeopsError
from edgeops.server.limits import RateLimiter
from edgeops.server.ui import (
    automation,
    data,
    datasets,
    features,
    fleet,
    governance,
    models,
    monitoring,
    signin,
)
from edgeops.server.ui.access import LoginRequired
from edgeops.server.ui.render import HERE, error_page, redirect
from edgeops.server.ui.session import load_secret

# One router per page module; add a new module's router here.
ROUTERS: tuple[APIRouter, ...] = tuple(
    module.router
    for module in (
        signin,
        data,
        datasets,
        features,
        models,
        fleet,
        monitoring,
        automation,
        governance,
    )
)

LOGIN_RATE, LOGIN_BURST = 1 / 3, 20  # sign-in attempts a second per client address; burst


def mount(app: FastAPI) -> None:
    """Add the studio to `app`: its pages, its static files, and HTML errors for its requests
    (API requests keep their JSON errors)."""
    app.state.studio_secret = load_secret(app.state.ws.settings.home)
    # Password guessing: each attempt costs an argon2 hash already; this caps them per address.
    app.state.studio_logins = RateLimiter(LOGIN_RATE, LOGIN_BURST)
    for router in ROUTERS:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    handlers = app.exception_handlers
    api_edgeops, api_http, api_validation = (
        handlers[EdgeopsError], handlers[HTTPException], handlers[RequestValidationError],
    )  # fmt: skip

    async def login_required(request: Request, _exc: Exception) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if request.method != "GET":
            target = "/"
        return redirect(f"/login?next={quote(target, safe='/')}")

    async def edgeops_error(request: Request, exc: Exception) -> Response:
        if not _studio(request):
            return await _answer(api_edgeops, request, exc)
        assert isinstance(exc, EdgeopsError)
        return error_page(request, exc.http_status, str(exc))

    async def http_error(request: Request, exc: Exception) -> Response:
        if not _studio(request):
            return await _answer(api_http, request, exc)
        assert isinstance(exc, HTTPException)
        return error_page(request, exc.status_code, str(exc.detail))

    async def validation_error(request: Request, exc: Exception) -> Response:
        if not _studio(request):
            return await _answer(api_validation, request, exc)
        assert isinstance(exc, RequestValidationError)
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}" for e in exc.errors()
        )
        return error_page(request, 400, problems or "the form is incomplete")

    app.add_exception_handler(LoginRequired, login_required)
    app.add_exception_handler(EdgeopsError, edgeops_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)


async def _answer(handler: Any, request: Request, exc: Exception) -> Response:
    """The API's own answer to `exc` (its handlers may be sync or async)."""
    answer = handler(request, exc)
    if inspect.isawaitable(answer):
        answer = await answer
    assert isinstance(answer, Response)
    return answer


def _studio(request: Request) -> bool:
    """Whether the request reached a studio page (its permission check marks it so)."""
    return bool(getattr(request.state, "studio", False))
