"""Telemetry and monitoring over HTTP: devices post inference records and read their commands;
people read monitors, alerts and the to-label queue (`monitoring.telemetry` has the payload
contract)."""

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import Field

from edgeops.governance.keys import Principal
from edgeops.governance.roles import Permission
from edgeops.monitoring import telemetry
from edgeops.server.auth import project_for, require
from edgeops.server.security import StrictBody
from edgeops.workspace import Workspace

router = APIRouter(prefix="/api/v1/projects/{project}", tags=["monitoring"])

TelemetryWrite = Annotated[Principal, require(Permission.TELEMETRY_WRITE)]
UpdatesRead = Annotated[Principal, require(Permission.UPDATES_READ)]
ModelsRead = Annotated[Principal, require(Permission.MODELS_READ)]
ModelsWrite = Annotated[Principal, require(Permission.MODELS_WRITE)]
FleetWrite = Annotated[Principal, require(Permission.FLEET_WRITE)]
DataRead = Annotated[Principal, require(Permission.DATA_READ)]
DataWrite = Annotated[Principal, require(Permission.DATA_WRITE)]


class MonitorIn(StrictBody):
    name: str = Field(max_length=100)
    model: str = Field("production", max_length=64)
    window: str = Field("24h", max_length=32, description="24h, 7d… or a row count")
    devices: list[str] | None = Field(None, max_length=10_000)
    group: str | None = Field(None, max_length=64, description="watch this fleet group")
    thresholds: dict[str, float] | None = None
    cooldown: str = Field("1h", max_length=32)
    webhook: str | None = Field(None, max_length=1000)
    collect: bool = False


class QueueItemsIn(StrictBody):
    ids: list[int] = Field(min_length=1, max_length=10_000)


class QueueLabelIn(QueueItemsIn):
    label: str = Field(max_length=128)
    category: str = Field("training", description="training, testing or split (1 in 5 testing)")


def _project(ws: Workspace, principal: Principal, project: str) -> str:
    with ws.session() as session:
        return project_for(session, principal, project).name


@router.post("/telemetry", status_code=202)
async def post_telemetry(
    project: str, request: Request, principal: TelemetryWrite
) -> dict[str, int]:
    """One record, a list, or {"records": [...]}, as JSON or CBOR (`content-type:
    application/cbor`). A device key's device id is the records' device."""
    ws: Workspace = request.app.state.ws
    body = await request.body()

    def store() -> dict[str, int]:
        name = _project(ws, principal, project)
        return telemetry.ingest(
            ws,
            name,
            body,
            device=principal.device_id,
            content_type=request.headers.get("content-type"),
        )

    return await run_in_threadpool(store)


@router.get("/telemetry/commands")
def device_commands(project: str, request: Request, principal: TelemetryWrite) -> dict[str, Any]:
    """What the calling device is asked to do (collect raw windows after a drift alert)."""
    ws: Workspace = request.app.state.ws
    name = _project(ws, principal, project)
    return {"commands": ws.monitoring.commands(principal.device_id, project=name)}


@router.get("/models/{model}/reference")
def model_reference(
    project: str, model: str, request: Request, principal: UpdatesRead
) -> dict[str, Any]:
    """A model's reference summary: feature names and, per feature, the nine values that cut
    the reference into ten equal-mass bins (what a microcontroller counts its `summary` in:
    bin k holds edge[k-1] <= value < edge[k])."""
    ws: Workspace = request.app.state.ws
    profile = ws.monitoring.reference(model, project=_project(ws, principal, project))
    return {
        "features": profile.feature_names,
        "summary_edges": profile.features.summary_edges().round(6).tolist(),
        "labels": profile.labels,
        "accuracy": profile.accuracy,
    }


@router.get("/monitoring/status")
def monitoring_status(project: str, request: Request, principal: ModelsRead) -> dict[str, Any]:
    ws: Workspace = request.app.state.ws
    return ws.monitoring.status(project=_project(ws, principal, project))


@router.get("/monitors")
def list_monitors(project: str, request: Request, principal: ModelsRead) -> list[dict[str, Any]]:
    ws: Workspace = request.app.state.ws
    return ws.monitoring.monitors(project=_project(ws, principal, project))


@router.post("/monitors", status_code=201)
def add_monitor(
    project: str, body: MonitorIn, request: Request, principal: ModelsWrite
) -> dict[str, Any]:
    ws: Workspace = request.app.state.ws
    name = _project(ws, principal, project)
    return ws.monitoring.add_monitor(
        body.name,
        model=body.model,
        window=body.window,
        devices=body.devices,
        group=body.group,
        thresholds=body.thresholds,
        cooldown=body.cooldown,
        webhook=body.webhook,
        collect=body.collect,
        project=name,
        actor=principal.actor,
    )


@router.post("/monitors/check")
def run_monitors(
    project: str, request: Request, principal: ModelsWrite, monitor: str | None = None
) -> list[dict[str, Any]]:
    """Run the enabled monitors now (or the one named): raise, update and resolve alerts."""
    ws: Workspace = request.app.state.ws
    name = _project(ws, principal, project)
    return ws.monitoring.check(project=name, monitor=monitor, actor=principal.actor)


@router.get("/alerts")
def list_alerts(
    project: str,
    request: Request,
    principal: ModelsRead,
    status: str | None = "active",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    ws: Workspace = request.app.state.ws
    return ws.monitoring.alerts(
        project=_project(ws, principal, project),
        status=None if status == "all" else status,
        limit=limit,
    )


@router.post("/alerts/{alert_id}/ack")
def ack_alert(
    project: str, alert_id: int, request: Request, principal: FleetWrite
) -> dict[str, Any]:
    ws: Workspace = request.app.state.ws
    name = _project(ws, principal, project)
    return ws.monitoring.ack(alert_id, project=name, actor=principal.actor)


@router.get("/label-queue")
def label_queue(
    project: str,
    request: Request,
    principal: DataRead,
    status: str = "to-label",
    device: str | None = None,
    alert: int | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> list[dict[str, Any]]:
    """Raw windows collected from the field (status to-label, labelled, discarded or all)."""
    ws: Workspace = request.app.state.ws
    return ws.monitoring.label_queue(
        project=_project(ws, principal, project),
        status=None if status == "all" else status,
        device=device,
        alert=alert,
        limit=limit,
    )


@router.post("/label-queue/label")
def label_windows(
    project: str, body: QueueLabelIn, request: Request, principal: DataWrite
) -> list[dict[str, Any]]:
    """Make queued windows samples with this label (all or none; 409 if one was handled)."""
    ws: Workspace = request.app.state.ws
    name = _project(ws, principal, project)
    return ws.monitoring.label_windows(
        body.ids, body.label, category=body.category, project=name, actor=principal.actor
    )


@router.post("/label-queue/discard")
def discard_windows(
    project: str, body: QueueItemsIn, request: Request, principal: DataWrite
) -> list[dict[str, Any]]:
    """Take queued windows out of the queue without making samples of them."""
    ws: Workspace = request.app.state.ws
    name = _project(ws, principal, project)
    return ws.monitoring.discard_windows(body.ids, project=name, actor=principal.actor)
