"""`edgeops serve`: the HTTP server (REST API, Edge Impulse-compatible ingestion, MQTT bridge)."""

import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

import typer

from edgeops.cli.context import console, workspace


def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port (EI clients use 4810)")] = 4810,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Server processes")] = 1,
    mqtt: Annotated[
        str | None, typer.Option(help="Bridge an MQTT broker, e.g. mqtt://user:pw@host:1883")
    ] = None,
    max_body_bytes: Annotated[
        int, typer.Option(min=1024, help="Largest request body in bytes")
    ] = 64 * 1024 * 1024,
    rate_limit: Annotated[
        float, typer.Option(min=0.1, help="Requests a second per API key (bursts of 2x)")
    ] = 5000.0,
    tls_cert: Annotated[
        Path | None, typer.Option(help="Serve HTTPS with this certificate (PEM, with chain)")
    ] = None,
    tls_key: Annotated[
        Path | None, typer.Option(help="The certificate's private key (PEM)")
    ] = None,
    cors_origin: Annotated[
        list[str] | None,
        typer.Option(help="Allow browser calls from this origin (repeat; default: none)"),
    ] = None,
    retention_every: Annotated[
        float, typer.Option(min=0, help="Apply retention policies every N hours (0: never)")
    ] = 24.0,
    monitor_every: Annotated[
        float | None,
        typer.Option(
            min=0,
            help="Check the enabled monitors every N minutes (0: never; default 5, or "
            "EDGEOPS_SERVE_MONITOR_S seconds)",
            show_default=False,
        ),
    ] = None,
    telemetry_keep_days: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Delete device telemetry older than N days, at each monitor check (default: "
            "keep it all, or EDGEOPS_SERVE_TELEMETRY_KEEP_DAYS)",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Run the server until Ctrl-C. OpenAPI docs at /docs; /healthz and /readyz need no key.

    Example: edgeops serve --host 0.0.0.0 --port 4810 --mqtt mqtt://localhost:1883
    Example: edgeops serve --tls-cert server.pem --tls-key server.key
    Example: edgeops serve --monitor-every 1 --telemetry-keep-days 30
    """
    import uvicorn

    from edgeops.server.app import ServerLimits

    if mqtt is not None and workers > 1:
        raise typer.BadParameter("the MQTT bridge runs in one process: use --workers 1")
    if (tls_cert is None) != (tls_key is None):
        raise typer.BadParameter("HTTPS needs both --tls-cert and --tls-key")
    for path in (tls_cert, tls_key):
        if path is not None and not path.is_file():
            raise typer.BadParameter(f"{path} is not a file")
    origins = [validate_origin(origin) for origin in cors_origin or []]
    limits = ServerLimits(
        max_body_bytes=max_body_bytes, rate_per_key=rate_limit, burst_per_key=2 * rate_limit
    )
    with workspace(ctx) as ws:  # checks the workspace and applies migrations once, up front
        home = ws.settings.home.resolve()
    os.environ["EDGEOPS_HOME"] = str(home)
    os.environ["EDGEOPS_SERVE_LIMITS"] = json.dumps(asdict(limits))
    if mqtt is not None:
        os.environ["EDGEOPS_SERVE_MQTT"] = mqtt
    os.environ["EDGEOPS_SERVE_TLS"] = "1" if tls_cert else "0"
    os.environ["EDGEOPS_SERVE_CORS_ORIGINS"] = ",".join(origins)
    os.environ["EDGEOPS_SERVE_RETENTION_S"] = str(retention_every * 3600)
    if monitor_every is not None:
        os.environ["EDGEOPS_SERVE_MONITOR_S"] = str(monitor_every * 60)
    if telemetry_keep_days is not None:
        os.environ["EDGEOPS_SERVE_TELEMETRY_KEEP_DAYS"] = str(telemetry_keep_days)
    scheme = "https" if tls_cert else "http"
    console.print(f"edgeops serving {home} on {scheme}://{host}:{port} (docs: /docs)")
    uvicorn.run(
        "edgeops.server.app:app_from_environment", factory=True, host=host, port=port,
        workers=workers, log_level="warning", access_log=False, timeout_keep_alive=30,
        ssl_certfile=str(tls_cert) if tls_cert else None,
        ssl_keyfile=str(tls_key) if tls_key else None,
    )  # fmt: skip


def validate_origin(origin: str) -> str:
    """An origin as browsers send it: scheme://host[:port], nothing more."""
    parsed = urlsplit(origin)
    if parsed.scheme not in ("http", "https") or not parsed.netloc or parsed.path not in ("", "/"):
        raise typer.BadParameter(f"{origin!r} is not an origin like https://dashboard.example")
    return f"{parsed.scheme}://{parsed.netloc}"
