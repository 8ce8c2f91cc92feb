"""Monitoring pages: a model's drift per feature day by day (server-side SVG), its drift now,
its monitors, and the project's alerts with acknowledge (models.read to look, fleet.write to
acknowledge, as the REST API)."""

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import Response
from markupsafe import Markup

from edgeops.errors import EdgeopsError, InvalidInput, NotFound
from edgeops.governance.roles import Permission
from edgeops.monitoring import detectors, health, telemetry
from edgeops.monitoring.reference import ReferenceProfile
from edgeops.server.ui.access import Viewer, page
from edgeops.server.ui.charts import bar_chart, line_chart
from edgeops.server.ui.render import project_url, redirect, render

router = APIRouter(include_in_schema=False)
Read = Annotated[Viewer, page(Permission.MODELS_READ)]
Acknowledge = Annotated[Viewer, page(Permission.FLEET_WRITE)]
CHARTED_FEATURES = 6  # lines in the drift-over-time chart: the features that drift most
BARRED_FEATURES = 12
ALERT_STATUSES = ("active", "open", "acknowledged", "resolved", "all")
DAY = 86400


def _default_model(models: list[dict[str, Any]]) -> str | None:
    """The production model if there is one, else the newest."""
    for record in models:
        if "production" in record["aliases"]:
            return str(record["model"])
    return str(models[-1]["model"]) if models else None


def daily_drift(
    profile: ReferenceProfile, table: Any, start: datetime, days: int
) -> tuple[list[float], np.ndarray, list[int]]:
    """Per UTC day from `start`: each feature's drift effect (Wasserstein-1 / reference std,
    the monitors' measure; NaN on a day without rows) and the day's row count."""
    sketch = profile.features
    width = len(profile.feature_names)
    matrix, keep = telemetry.feature_matrix(table, width)
    effects = np.full((days, width), np.nan)
    x = [(start + timedelta(days=d)).timestamp() for d in range(days)]
    if len(matrix) == 0:
        return x, effects, [0] * days
    times = table["time"].to_numpy(zero_copy_only=False)[keep].astype("datetime64[s]")
    offsets = (times.astype(np.int64) - int(start.timestamp())) // DAY
    counts = []
    for day in range(days):
        rows = matrix[offsets == day]
        counts.append(len(rows))
        if len(rows):
            drift = detectors.compare_numeric(
                sketch.counts, detectors.histogram(rows, sketch.layout), sketch.layout, sketch.std
            )
            effects[day] = drift.effect
    return x, effects, counts


def _drift_charts(
    profile: ReferenceProfile, table: Any, start: datetime, days: int, title: str
) -> tuple[Markup | None, list[int]]:
    x, effects, counts = daily_drift(profile, table, start, days)
    if not any(counts):
        return None, counts
    strongest = np.argsort(-np.nan_to_num(np.nanmax(effects, axis=0), nan=-1.0))
    series = [(profile.feature_names[j], effects[:, j]) for j in strongest[:CHARTED_FEATURES]]
    threshold = ("min effect", np.full(days, detectors.DEFAULT_MIN_EFFECT))
    chart = line_chart(
        [(value - x[0]) / DAY for value in x], [*series, threshold],
        title=f"{title}: drift per day (the {len(series)} features that moved most)",
        x_label=f"days since {start.date().isoformat()}", y_label="W1 / reference std",
    )  # fmt: skip
    return chart, counts


@router.get("/projects/{project}/monitoring")
def monitoring_home(
    request: Request,
    project: str,
    viewer: Read,
    model: str = "",
    days: int = 7,
    hours: int = 24,
    alerts: str = "active",
) -> Response:
    ws = request.app.state.ws
    if not 1 <= days <= 90 or not 1 <= hours <= 24 * 90:
        raise InvalidInput("show 1-90 days of drift, and drift now over 1-2160 hours")
    if alerts not in ALERT_STATUSES:
        raise InvalidInput(f"alerts: one of {', '.join(ALERT_STATUSES)}")
    models = ws.models.list(project=project)
    chosen = model or _default_model(models)
    context: dict[str, Any] = {
        "models": models, "model": chosen, "days": days, "hours": hours, "problem": None,
        "alert_filter": alerts, "statuses": ALERT_STATUSES,
        "alerts": ws.monitoring.alerts(project=project, status=None if alerts == "all" else alerts),
        "monitors": ws.monitoring.monitors(project=project), "chart": None, "features": [],
        "bars": None, "counts": [], "findings": [], "rows": 0, "reporting": [],
    }  # fmt: skip
    if chosen is not None:
        try:
            context.update(_model_drift(ws, project, chosen, days, hours))
        except (NotFound, InvalidInput) as error:  # e.g. a model trained before monitoring
            context["problem"] = str(error)
    return render(
        request, viewer, "monitoring/index.html", context, project=project, section="monitoring"
    )


def _model_drift(ws: Any, project: str, model: str, days: int, hours: int) -> dict[str, Any]:
    now = datetime.now(UTC)
    shown = ws.models.show(model, project=project)
    profile = ws.monitoring.reference(model, project=project)
    title = f"{shown['name']} {shown['model']}"
    start = datetime.combine(now.date(), datetime.min.time(), UTC) - timedelta(days=days - 1)
    table = ws.monitoring.store.read(project, since=start, until=now, model=shown["number"])
    chart, counts = _drift_charts(profile, table, start, days, title)
    since = now - timedelta(hours=hours)
    analysis = ws.monitoring.analyse(model, since=since, project=project)
    reporting = health.devices(ws.monitoring.store, project, since, now, model=shown["number"])
    features = sorted(analysis.checks.get("features", []), key=lambda r: -r["effect"])
    bars = None
    if features:
        top = features[:BARRED_FEATURES]
        bars = bar_chart(
            [r["feature"] for r in top], [round(r["effect"], 3) for r in top],
            title=f"{title}: drift per feature, last {hours} h", y_label="W1 / reference std",
            width=720,
        )  # fmt: skip
    return {
        "chart": chart, "counts": counts, "features": features, "bars": bars,
        "findings": analysis.findings, "rows": analysis.rows, "model_title": title,
        "skipped": analysis.checks.get("skipped"), "reporting": reporting,
        "day_labels": [(start + timedelta(days=d)).date().isoformat() for d in range(days)],
    }  # fmt: skip


@router.post("/projects/{project}/monitoring/alerts/{alert_id}/ack")
def acknowledge(request: Request, project: str, alert_id: int, viewer: Acknowledge) -> Response:
    """Someone has seen it: no more notifications; it resolves when the finding goes away."""
    back = project_url(project, "monitoring")
    try:
        request.app.state.ws.monitoring.ack(alert_id, project=project, actor=viewer.actor)
    except EdgeopsError as error:
        return redirect(back, error=str(error))
    return redirect(back, notice=f"alert {alert_id} acknowledged")
