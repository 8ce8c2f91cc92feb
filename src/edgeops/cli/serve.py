"""`edgeops serve`: the HTTP server (REST API, Edge Impulse-compatible ingestion, MQTT bridge)."""

import json
import os
from dataclasses import asdict
from typing import Annotated

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
) -> None:
    """Run the server until Ctrl-C. OpenAPI docs at /docs; /healthz and /readyz need no key.

    Example: edgeops serve --host 0.0.0.0 --port 4810 --mqtt mqtt://localhost:1883
    """
    import uvicorn

    from edgeops.server.app import ServerLimits

    if mqtt is not None and workers > 1:
        raise typer.BadParameter("the MQTT bridge runs in one process: use --workers 1")
    limits = ServerLimits(
        max_body_bytes=max_body_bytes, rate_per_key=rate_limit, burst_per_key=2 * rate_limit
    )
    with workspace(ctx) as ws:  # checks the workspace and applies migrations once, up front
        home = ws.settings.home.resolve()
    os.environ["EDGEOPS_HOME"] = str(home)
    os.environ["EDGEOPS_SERVE_LIMITS"] = json.dumps(asdict(limits))
    if mqtt is not None:
        os.environ["EDGEOPS_SERVE_MQTT"] = mqtt
    console.print(f"edgeops serving {home} on http://{host}:{port} (docs: /docs)")
    uvicorn.run(
        "edgeops.server.app:app_from_environment", factory=True, host=host, port=port,
        workers=workers, log_level="warning", timeout_keep_alive=30,
    )  # fmt: skip
