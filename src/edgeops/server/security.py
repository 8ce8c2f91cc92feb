"""HTTP hardening: security headers on every response, CORS only for an allow-list, HSTS on TLS.

The API is called by programs and devices with an `x-api-key` header, never by a browser on
another origin, so cross-origin requests are refused unless the operator lists origins
(`edgeops serve --cors-origin https://dashboard.example`). Every response says: do not sniff
the content type, do not frame me, send no referrer; API answers are never cached (they carry
project data); over TLS, browsers are told to use HTTPS only (HSTS)."""

from collections.abc import Sequence

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HSTS = "max-age=31536000; includeSubDomains"
_ALWAYS = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
)
# The studio's pages load their own scripts and styles only; nothing may frame any page.
_STUDIO_CSP = (
    b"default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
    b"frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
_API_CSP = b"default-src 'none'; frame-ancestors 'none'"
_DOCS_CSP = b"frame-ancestors 'none'"  # the OpenAPI pages load their scripts from a CDN
_NOT_CACHED = ("/api/", "/v1/", "/healthz", "/readyz")


class SecurityHeaders:
    """ASGI middleware adding the headers above (a header the route set itself is kept)."""

    def __init__(self, app: ASGIApp, tls: bool = False) -> None:
        self.app = app
        self.tls = tls

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = headers_for(scope, self.tls)

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(name, value) for name, value in extra if name not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


def headers_for(scope: Scope, tls: bool) -> list[tuple[bytes, bytes]]:
    """The security headers of the response to the request in `scope`."""
    path: str = scope.get("path", "")
    api = path.startswith(_NOT_CACHED)
    csp = _API_CSP if api else _DOCS_CSP if path.startswith(("/docs", "/redoc")) else _STUDIO_CSP
    headers = [*_ALWAYS, (b"content-security-policy", csp)]
    if api:
        headers.append((b"cache-control", b"no-store"))
    if tls or scope.get("scheme") == "https":
        headers.append((b"strict-transport-security", HSTS.encode()))
    return headers


def harden(app: FastAPI, *, tls: bool = False, cors_origins: Sequence[str] = ()) -> None:
    """Add the security headers, and CORS for `cors_origins` only (none: no CORS at all)."""
    if cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(cors_origins),
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["x-api-key", "content-type", "x-file-name", "x-label"],
            allow_credentials=False,
            max_age=600,
        )
    app.add_middleware(SecurityHeaders, tls=tls)


class StrictBody(BaseModel):
    """The base of request bodies: a field the API does not know is an error (422), never
    silently dropped or, worse, assigned (mass assignment)."""

    model_config = ConfigDict(extra="forbid")
