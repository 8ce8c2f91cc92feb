"""Device health from telemetry (DuckDB over the Parquet files): last seen, error and update
failure reports, latency against the device's own previous window."""

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from edgeops.monitoring.analysis import Finding
from edgeops.monitoring.telemetry import TelemetryStore
from edgeops.store.tables import Device, Project, Release

DEFAULT_STALE_AFTER_S = 3600.0
DEFAULT_LATENCY_RATIO = 1.5
DEFAULT_ERROR_RATE = 0.05
MIN_LATENCY_ROWS = 20

_QUERY = """
SELECT device,
       max(time) AS last_seen,
       count(*) FILTER (WHERE time >= $start) AS rows,
       count(error) FILTER (WHERE time >= $start) AS errors,
       count(*) FILTER (WHERE time >= $start AND event = 'update_failed') AS update_failures,
       quantile_cont(latency_ms, 0.95) FILTER (WHERE time >= $start) AS p95,
       count(latency_ms) FILTER (WHERE time >= $start) AS timed,
       quantile_cont(latency_ms, 0.95) FILTER (WHERE time < $start) AS baseline_p95,
       count(latency_ms) FILTER (WHERE time < $start) AS baseline_timed
FROM telemetry
WHERE device IS NOT NULL AND time >= $baseline AND time < $end {model}{devices}
GROUP BY device
ORDER BY device
"""


def devices(
    store: TelemetryStore,
    project: str,
    start: datetime,
    end: datetime,
    *,
    model: int | None = None,
    only: list[str] | None = None,
) -> list[dict[str, Any]]:
    """Per device seen in [start - (end - start), end): its health over [start, end) with the
    window before as the latency baseline."""
    baseline = start - (end - start)
    query = _QUERY.format(
        model=f"AND model = {int(model)} " if model is not None else "",
        devices="AND list_contains($only, device)" if only is not None else "",
    )
    params: dict[str, Any] = {"start": start, "end": end, "baseline": baseline}
    if only is not None:
        params["only"] = only
    rows = store.sql(project, query, params, since=baseline)
    return [
        {
            "device": device,
            "last_seen": last_seen.isoformat() if last_seen else None,
            "rows": int(count),
            "errors": int(errors),
            "update_failures": int(failures),
            "latency_p95_ms": None if p95 is None else round(float(p95), 3),
            "latency_rows": int(timed),
            "baseline_latency_p95_ms": None if base is None else round(float(base), 3),
            "baseline_latency_rows": int(base_timed),
        }
        for device, last_seen, count, errors, failures, p95, timed, base, base_timed in rows
    ]


def findings(
    health: list[dict[str, Any]], now: datetime, limits: dict[str, float], model: str
) -> list[Finding]:
    """Stale devices, error reports, failed updates and latency regressions, one finding per
    kind naming the devices."""
    stale_after = timedelta(seconds=limits.get("stale_after_s", DEFAULT_STALE_AFTER_S))
    ratio = limits.get("latency_ratio", DEFAULT_LATENCY_RATIO)
    error_rate = limits.get("error_rate", DEFAULT_ERROR_RATE)
    stale, failing, updates, slow = [], [], [], []
    for row in health:
        seen = datetime.fromisoformat(row["last_seen"]) if row["last_seen"] else None
        if seen is not None and now - seen > stale_after:
            stale.append(row["device"])
        if row["rows"] and row["errors"] / row["rows"] > error_rate:
            failing.append(row["device"])
        if row["update_failures"]:
            updates.append(row["device"])
        if (
            row["latency_rows"] >= MIN_LATENCY_ROWS
            and row["baseline_latency_rows"] >= MIN_LATENCY_ROWS
            and row["baseline_latency_p95_ms"]
            and row["latency_p95_ms"] > ratio * row["baseline_latency_p95_ms"]
        ):
            slow.append(row["device"])
    found = []
    for kind, names, severity, what in (
        ("device_stale", stale, "warning", f"silent for over {stale_after}"),
        ("device_errors", failing, "warning", f"reporting errors in over {error_rate:.0%}"),
        ("update_failed", updates, "critical", "failed to update"),
        ("latency", slow, "warning", f"p95 latency up over {ratio:g}x"),
    ):
        if names:
            found.append(
                Finding(
                    kind,
                    severity,
                    f"{model}: {len(names)} device(s) {what}: {', '.join(names[:5])}",
                    {"devices": names, "health": [r for r in health if r["device"] in names]},
                )
            )
    return found


# A device-health finding fails the rollout stage of the devices it names; so does any
# critical finding (accuracy collapse on feedback labels, severe drift), for the devices it
# names or, naming none, for every device running the model.
GATING_KINDS = frozenset({"device_errors", "update_failed", "latency"})


def fail_rollouts(
    session: Session, project: Project, model_version_id: int, found: list[Finding],
    scope: list[str] | None, now: datetime,
) -> list[str]:  # fmt: skip
    """Tell staged rollouts of `model_version_id` about the devices these findings condemn
    (`fleet.rollouts.note_health`: their stage counts them as failed, so the fleet scheduler
    pauses or rolls back). `scope` is the monitor's devices (None: all). Devices running
    another model are left alone; so are devices in no running rollout (note_health ignores
    them). Returns the ids of the devices running the model that were condemned."""
    from edgeops.fleet import rollouts

    named: set[str] = set()
    everyone = False
    for finding in found:
        if finding.kind not in GATING_KINDS and finding.severity != "critical":
            continue
        devices = finding.details.get("devices") or []
        names = [d["device"] if isinstance(d, dict) else str(d) for d in devices]
        everyone = everyone or not names
        named.update(names)
    if everyone and scope is not None:
        named.update(scope)
        everyone = False
    if not named and not everyone:
        return []
    query = (
        select(Device)
        .join(Release, Release.id == Device.installed_release_id)
        .where(Device.project_id == project.id, Release.model_version_id == model_version_id)
    )
    if not everyone:
        query = query.where(Device.device_id.in_(sorted(named)))
    noted = []
    for device in session.scalars(query.order_by(Device.device_id)):
        rollouts.note_health(session, device, now)
        noted.append(device.device_id)
    return noted
