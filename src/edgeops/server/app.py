"""The FastAPI application: routers, limits, and errors as JSON."""

import asyncio
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import text
from starlette.exceptions import HTTPException

from edgeops import __version__
from edgeops.data.commit_process import CommitProcess
from edgeops.errors import EdgeopsError
from edgeops.fleet.checkins import CheckinCache
from edgeops.fleet.liveness import LivenessWriter
from edgeops.server import api, ei, models, security, telemetry, ui
from edgeops.server import fleet as fleet_routes
from edgeops.server import governance as governance_routes
from edgeops.server import workflows as workflow_routes
from edgeops.server.auth import KeyCache, ProjectCache, document_security
from edgeops.server.fast_upload import FastUpload
from edgeops.server.limits import BodyLimit, RateLimiter
from edgeops.workspace import Workspace


@dataclass(frozen=True)
class ServerLimits:
    max_body_bytes: int = 64 * 1024 * 1024
    body_timeout_s: float = 60.0
    rate_per_key: float = 5000.0  # requests a second, on average
    burst_per_key: float = 10000.0
    key_cache_s: float = 5.0


def create_app(
    ws: Workspace,
    limits: ServerLimits | None = None,
    mqtt_url: str | None = None,
    schedule_every_s: float | None = None,
    automation_workers: int = 0,
    monitor_every_s: float | None = None,
    telemetry_keep_days: int | None = None,
    tls: bool = False,
    cors_origins: tuple[str, ...] = (),
    retention_every_s: float | None = None,
) -> FastAPI:
    """The server for `ws`. The app owns a committer process (and, with `mqtt_url`, an MQTT
    bridge; with `schedule_every_s`, the fleet scheduler; with `automation_workers`, that many
    workflow worker threads, the first also firing triggers; with `monitor_every_s`, the
    monitor scheduler, pruning telemetry older than `telemetry_keep_days`; with
    `retention_every_s`, the retention policies' enforcer); they start and stop with the app.
    Responses carry security headers (HSTS with `tls`); CORS only for `cors_origins`."""
    limits = limits or ServerLimits()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.ingestor.start()
        bridge = None
        if mqtt_url is not None:
            from edgeops.server.mqtt import MqttBridge

            bridge = MqttBridge(ws, app.state.ingestor, mqtt_url)
            bridge.start()
        scheduler = None
        if schedule_every_s is not None:
            from edgeops.fleet.scheduler import run_periodically

            scheduler = asyncio.create_task(run_periodically(ws, schedule_every_s))
        workers = None
        if automation_workers > 0:
            from edgeops.automation.worker import start_threads

            workers = start_threads(ws, automation_workers)
        monitors = None
        if monitor_every_s is not None:
            from edgeops.monitoring import schedule

            monitors = asyncio.create_task(
                schedule.run_periodically(ws, monitor_every_s, telemetry_keep_days)
            )
        retention = None
        if retention_every_s is not None:
            from edgeops.governance.retention import run_periodically

            retention = asyncio.create_task(run_periodically(ws, retention_every_s))
        yield
        if retention is not None:
            retention.cancel()
        if monitors is not None:
            monitors.cancel()
        if workers is not None:
            workers[0].set()
        if scheduler is not None:
            scheduler.cancel()
        if bridge is not None:
            bridge.stop()
        app.state.ingestor.close()
        app.state.liveness.close()
        app.state.checkins.close()

    app = FastAPI(
        title="edgeops",
        version=__version__,
        description="Self-hosted edge MLOps. Authenticate with an API key in `x-api-key`.",
        lifespan=lifespan,
    )
    app.state.ws = ws
    app.state.ingestor = CommitProcess(ws.settings)
    app.state.liveness = LivenessWriter(ws._sessions)
    app.state.checkins = CheckinCache(ws._sessions)
    app.state.keys = KeyCache(ws._sessions, limits.key_cache_s)
    app.state.projects = ProjectCache(ws._sessions, limits.key_cache_s)
    app.state.limiter = RateLimiter(limits.rate_per_key, limits.burst_per_key)
    app.add_middleware(BodyLimit, max_bytes=limits.max_body_bytes, timeout_s=limits.body_timeout_s)
    security.harden(app, tls=tls, cors_origins=cors_origins)
    # Added last, so outermost: device uploads skip the stack (see server.fast_upload).
    app.add_middleware(
        FastUpload, max_bytes=limits.max_body_bytes, timeout_s=limits.body_timeout_s, tls=tls
    )
    # Routes are matched in order: the busiest come first (uploads from devices and tools,
    # then device check-ins); matching costs a regular expression per route passed.
    app.include_router(ei.router)
    app.include_router(fleet_routes.router)
    app.include_router(api.router)
    app.include_router(models.router)
    app.include_router(telemetry.router)
    app.include_router(workflow_routes.router)
    app.include_router(governance_routes.router)
    _add_health(app)
    # Health checks need no key, enrolment takes its one-time token instead.
    document_security(app, {"/healthz", "/readyz", fleet_routes.ENROL_PATH})
    _add_error_handlers(app)
    ui.mount(app)  # the studio at /, after the API's error handlers (it wraps them)
    return app


def app_from_environment() -> FastAPI:
    """The app `edgeops serve` runs in each worker process: the workspace comes from the usual
    EDGEOPS_* variables, the limits and the MQTT URL from EDGEOPS_SERVE_* ones."""
    limits = ServerLimits(**json.loads(os.environ.get("EDGEOPS_SERVE_LIMITS", "{}")))
    every = float(os.environ.get("EDGEOPS_SERVE_SCHEDULE_S", "15"))
    automation = int(os.environ.get("EDGEOPS_SERVE_AUTOMATION_WORKERS", "2"))
    monitor_every = float(os.environ.get("EDGEOPS_SERVE_MONITOR_S", "300"))
    keep_days = os.environ.get("EDGEOPS_SERVE_TELEMETRY_KEEP_DAYS")
    retention_every = float(os.environ.get("EDGEOPS_SERVE_RETENTION_S", "0"))
    origins = os.environ.get("EDGEOPS_SERVE_CORS_ORIGINS", "")
    return create_app(
        Workspace(create=False),
        limits,
        os.environ.get("EDGEOPS_SERVE_MQTT"),
        every or None,
        automation,
        monitor_every or None,
        int(keep_days) if keep_days else None,
        tls=os.environ.get("EDGEOPS_SERVE_TLS") == "1",
        cors_origins=tuple(o for o in origins.split(",") if o),
        retention_every_s=retention_every or None,
    )


def _add_health(app: FastAPI) -> None:
    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        """Alive: the process answers."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"])
    def readyz(request: Request) -> JSONResponse:
        """Ready: the database answers."""
        try:
            with request.app.state.ws.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception as exc:
            return JSONResponse({"status": "unavailable", "error": str(exc)[:200]}, 503)
        return JSONResponse({"status": "ready"})


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(EdgeopsError)
    async def edgeops_error(_request: Request, exc: EdgeopsError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, exc.http_status)

    @app.exception_handler(HTTPException)
    async def http_error(_request: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse({"error": exc.detail}, exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        details: list[dict[str, Any]] = [
            {"where": ".".join(str(part) for part in error["loc"]), "problem": error["msg"]}
            for error in exc.errors()
        ]
        first = details[0] if details else {"where": "request", "problem": "invalid"}
        return JSONResponse(
            {"error": f"{first['where']}: {first['problem']}", "details": details}, 422
        )
