"""Single-file uploads (`POST /api/{category}/data`) served straight from ASGI.

Devices send every sample there. Through FastAPI's application, Starlette's middleware stack
and router, a request cost about 0.3 ms of the server's CPU before its route ran (measured with
wrk: a bare ASGI app under uvicorn answers in 0.05 ms, the authenticated no-op `/api/v1/ping`
in 0.33 ms), as much as the upload's own work. This middleware, the outermost one, serves those
uploads itself with what the stack would have applied: the body's size and time limits, the
key, role and rate checks, the errors as JSON and the security headers. A request from a browser
(it has an Origin header) goes through the stack, for CORS; the FastAPI route behind
(`ei.ingest_one`) documents the endpoint in the OpenAPI and serves such requests.
"""

import re

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from edgeops.errors import EdgeopsError
from edgeops.governance.roles import Permission
from edgeops.server import ei, limits, security
from edgeops.server.auth import require

_PATH = re.compile(r"/api/(?P<category>[^/]+)/data")
_may_ingest = require(Permission.DATA_INGEST).dependency


class FastUpload:
    """ASGI middleware: serves single-file uploads, passes everything else on to `app`."""

    def __init__(self, app: ASGIApp, max_bytes: int, timeout_s: float, tls: bool) -> None:
        self.app, self.max_bytes, self.timeout_s, self.tls = app, max_bytes, timeout_s, tls

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or (match := _PATH.fullmatch(scope["path"])) is None
            or any(name == b"origin" for name, _ in scope["headers"])
        ):
            await self.app(scope, receive, send)
            return
        headers = security.headers_for(scope, self.tls)
        if limits.declared_too_large(scope, self.max_bytes):
            await limits.error(send, 413, limits.too_large(self.max_bytes), headers)
            return
        request = Request(scope, limits.guarded(receive, self.max_bytes, self.timeout_s))
        try:
            principal = await _may_ingest(request)
            response = await ei.ingest_one(match["category"], request, principal)
        except limits.Refused as refused:
            await limits.error(send, refused.status, refused.message, headers)
            return
        except HTTPException as exc:
            extra = [(k.lower().encode(), v.encode()) for k, v in (exc.headers or {}).items()]
            await limits.error(send, exc.status_code, exc.detail, [*headers, *extra])
            return
        except EdgeopsError as exc:
            await limits.error(send, exc.http_status, str(exc), headers)
            return
        response.raw_headers.extend(headers)
        await response(scope, receive, send)
