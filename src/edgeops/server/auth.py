"""Who is calling and may they: API keys in `x-api-key` (Edge Impulse style) or
`Authorization: Bearer`, one permission per route, a rate limit per key."""

import hashlib
import threading
import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session, sessionmaker

from edgeops.data import projects
from edgeops.governance.keys import Principal, authenticate_key
from edgeops.governance.roles import Permission, allowed
from edgeops.store.tables import Project

K = TypeVar("K")
V = TypeVar("V")


class _Expiring(Generic[K, V]):
    """Values kept for `ttl_s` seconds, at most `limit` of them (guessing keys must not grow
    memory without end)."""

    def __init__(self, ttl_s: float, limit: int = 10_000) -> None:
        self.ttl_s, self.limit = ttl_s, limit
        self._entries: dict[K, tuple[float, V]] = {}
        self._lock = threading.Lock()

    def get(self, key: K, load: Callable[[], V]) -> V:
        cached = self.cached(key)
        if cached is not None:
            return cached[0]
        now = time.monotonic()
        value = load()
        with self._lock:
            if len(self._entries) >= self.limit:
                self._entries.clear()
            self._entries[key] = (now + self.ttl_s, value)
        return value

    def cached(self, key: K) -> tuple[V] | None:
        """The value, if one is kept and still fresh (a 1-tuple: the value itself may be None)."""
        with self._lock:
            cached = self._entries.get(key)
        if cached is not None and cached[0] > time.monotonic():
            return (cached[1],)
        return None


class KeyCache:
    """Key lookups cached briefly, so a busy device costs one query every `ttl_s` seconds
    rather than one per request; a revoked key stops working within `ttl_s`."""

    def __init__(self, sessions: sessionmaker[Session], ttl_s: float = 5.0) -> None:
        self.sessions = sessions
        self._cache: _Expiring[str, Principal | None] = _Expiring(ttl_s)

    def principal(self, secret: str) -> Principal | None:
        return self._cache.get(_digest(secret), lambda: self._load(secret))

    async def principal_async(self, secret: str) -> Principal | None:
        """`principal` for the event loop: a cached key costs no thread, a lookup runs in one."""
        cached = self._cache.cached(_digest(secret))
        if cached is not None:
            return cached[0]
        return await run_in_threadpool(self.principal, secret)

    def _load(self, secret: str) -> Principal | None:
        with self.sessions() as session:
            found = authenticate_key(session, secret)
            session.commit()  # authenticate_key may note the key's last use
        return found


class ProjectCache:
    """The project of a project-scoped key, cached like keys: ingestion reads a project's
    HMAC key and upload rules on every request, and they rarely change."""

    def __init__(self, sessions: sessionmaker[Session], ttl_s: float = 5.0) -> None:
        self.sessions = sessions
        self._cache: _Expiring[int, Project] = _Expiring(ttl_s)

    def get(self, principal: Principal) -> Project:
        """The key's own project (400 for a key tied to none)."""
        if principal.project_id is None:
            raise HTTPException(400, "this key is not tied to a project; use a project's key")
        return self._cache.get(principal.project_id, lambda: self._load(principal))

    async def get_async(self, principal: Principal) -> Project:
        """`get` for the event loop: a cached project costs no thread, a lookup runs in one."""
        if principal.project_id is not None:
            cached = self._cache.cached(principal.project_id)
            if cached is not None:
                return cached[0]
        return await run_in_threadpool(self.get, principal)

    def _load(self, principal: Principal) -> Project:
        with self.sessions() as session:
            return project_for(session, principal, None)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode(errors="replace")).hexdigest()


# How callers authenticate, for the OpenAPI document (and its Authorize button). The routes do
# not declare these as FastAPI security dependencies: solving those on every request cost a
# quarter of the event loop's time for an uploaded sample; `check` reads the headers itself.
SECURITY_SCHEMES = {
    "APIKeyHeader": {
        "type": "apiKey",
        "in": "header",
        "name": "x-api-key",
        "description": "An API key (`edgeops keys create`)",
    },
    "HTTPBearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "The same API key as a bearer token",
    },
}


def document_security(app: FastAPI, open_paths: set[str]) -> None:
    """Show in `app`'s OpenAPI that every operation but those of `open_paths` takes a key."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            schema.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES
            for path, operations in schema.get("paths", {}).items():
                for operation in operations.values():
                    if path not in open_paths:
                        operation["security"] = [{"APIKeyHeader": []}, {"HTTPBearer": []}]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def presented_key(request: Request) -> str | None:
    """The API key in `x-api-key` or `Authorization: Bearer …`."""
    headers = request.headers
    secret = headers.get("x-api-key")
    if secret is not None:
        return secret
    scheme, _, credentials = headers.get("authorization", "").partition(" ")
    return credentials.strip() if scheme.lower() == "bearer" else None


def require(permission: Permission) -> Any:
    """A route dependency: the caller's principal, if its role grants `permission`."""

    # Async, so that a request with a cached key is checked on the event loop without a trip
    # through the thread pool; the rare key lookup still runs in a thread.
    async def check(request: Request) -> Principal:
        state = request.app.state
        secret = presented_key(request)
        if not secret:
            raise HTTPException(
                401,
                "missing API key: send it in the x-api-key header "
                "(create one with `edgeops keys create`)",
            )
        principal: Principal | None = await state.keys.principal_async(secret)
        if principal is None:
            raise HTTPException(401, "invalid or revoked API key")
        if not allowed(principal.role, permission):
            raise HTTPException(403, f"role {principal.role!r} does not allow {permission.value}")
        wait = state.limiter.wait_time(principal.actor)
        if wait > 0:
            raise HTTPException(
                429,
                f"rate limit reached for this key; retry in {wait:.2f} s",
                headers={"Retry-After": str(max(1, round(wait + 0.5)))},
            )
        return principal

    check.permission = permission  # type: ignore[attr-defined]  # read by the route audit test
    return Depends(check)


def permission_of(endpoint_dependencies: list[Any]) -> Permission | None:
    """The permission a route requires (None for open routes such as /healthz)."""
    for dependency in endpoint_dependencies:
        permission = getattr(dependency.call, "permission", None)
        if permission is not None:
            return permission  # type: ignore[no-any-return]
    return None


def project_for(session: Session, principal: Principal, name: str | None) -> Project:
    """The project a request acts on: named, or the key's own. A project-scoped key reaches
    only its project."""
    if name is None:
        if principal.project_id is None:
            raise HTTPException(400, "this key is not tied to a project; use a project's key")
        project = session.get(Project, principal.project_id)
        if project is None:
            raise HTTPException(404, "the key's project no longer exists")
        return project
    project = projects.get(session, name)
    if principal.project_id is not None and principal.project_id != project.id:
        raise HTTPException(403, f"this key belongs to another project, not {name!r}")
    return project
