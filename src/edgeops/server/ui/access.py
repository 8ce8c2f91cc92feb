"""Who is using the studio and may they: the session cookie names a user, the user's role
grants permissions from the server's one table, and every page and form declares the permission
it needs (the same check as the REST API's, so a forged form post gets the same 403)."""

import hmac
from dataclasses import dataclass
from typing import Any

from fastapi import Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select

from edgeops.governance.keys import Principal
from edgeops.governance.roles import Permission, allowed
from edgeops.server.ui import session as cookies
from edgeops.store.tables import User


class LoginRequired(Exception):
    """No valid session: the studio answers with a redirect to the sign-in page."""


@dataclass(frozen=True)
class Viewer:
    """The signed-in user of one request."""

    user: str
    role: str
    csrf: str

    @property
    def principal(self) -> Principal:
        """The user as services and the audit log know them."""
        return Principal(
            actor=f"user:{self.user}", role=self.role, project_id=None, device_id=None, key_id=None
        )

    @property
    def actor(self) -> str:
        return f"user:{self.user}"

    def can(self, permission: Permission | str) -> bool:
        """Templates ask this to show or hide buttons; the server checks again on submit."""
        return allowed(self.role, permission)


def secret(request: Request) -> bytes:
    found: bytes = request.app.state.studio_secret
    return found


def _load_viewer(request: Request) -> Viewer | None:
    data = cookies.decode(secret(request), request.cookies.get(cookies.COOKIE))
    if data is None:
        return None
    with request.app.state.ws.session() as session:
        user = session.scalar(select(User).where(User.name == data.user))
        # A disabled user, or one whose password changed since signing in, is signed out.
        if (
            user is None
            or user.disabled
            or cookies.password_tag(user.password_hash) != data.password
        ):
            return None
        return Viewer(user.name, user.role, cookies.csrf_token(secret(request), data))


async def current_viewer(request: Request) -> Viewer | None:
    """The signed-in user, or None."""
    cached = getattr(request.state, "viewer", None)
    if cached is None:
        cached = await run_in_threadpool(_load_viewer, request)
        request.state.viewer = cached
    return cached


async def _check_form(request: Request, viewer: Viewer) -> None:
    """A POST must carry this session's CSRF token (`csrf` form field or X-CSRF-Token header)."""
    if request.method in ("GET", "HEAD"):
        return
    token = request.headers.get("x-csrf-token")
    if token is None:
        form = await request.form()
        field = form.get("csrf")
        token = field if isinstance(field, str) else None
    expected = viewer.csrf.encode()
    if token is None or not hmac.compare_digest(expected, token.encode(errors="replace")):
        raise HTTPException(
            403, "this form's security token is missing or out of date: reload the page and retry"
        )


def page(permission: Permission) -> Any:
    """A route dependency for a studio page or form: the signed-in Viewer, if their role
    grants `permission` (403 otherwise; a redirect to sign in without a session)."""

    async def check(request: Request) -> Viewer:
        request.state.studio = True
        viewer = await current_viewer(request)
        if viewer is None:
            raise LoginRequired()
        if not viewer.can(permission):
            raise HTTPException(
                403, f"your role ({viewer.role}) does not allow this ({permission.value})"
            )
        await _check_form(request, viewer)
        return viewer

    check.permission = permission  # type: ignore[attr-defined]  # read by the route audit test
    return Depends(check)


def signed_in() -> Any:
    """A route dependency for what any signed-in user may do (sign out): no permission."""

    async def check(request: Request) -> Viewer:
        request.state.studio = True
        viewer = await current_viewer(request)
        if viewer is None:
            raise LoginRequired()
        await _check_form(request, viewer)
        return viewer

    return Depends(check)
