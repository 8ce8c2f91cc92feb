"""`edgeops monitor ...` and `edgeops alerts ...`: watch deployed models (drift, accuracy,
device health) and handle the alerts they raise."""

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from edgeops.cli.context import JsonOpt, ProjectOpt, console, print_json, workspace
from edgeops.errors import InvalidInput

app = typer.Typer(help="Monitors over telemetry: drift, accuracy, device health.")
alerts_app = typer.Typer(help="Alerts raised by monitors: list and acknowledge.")
queue_app = typer.Typer(help="The to-label queue: raw windows collected on drift.")
app.add_typer(queue_app, name="queue")

ModelArg = Annotated[str, typer.Argument(help="A model: vN, N, latest, production...")]


def _thresholds(values: list[str]) -> dict[str, float]:
    found = {}
    for item in values:
        name, _, value = item.partition("=")
        try:
            found[name.strip()] = float(value)
        except ValueError:
            raise InvalidInput(
                f"--threshold {item!r}: expected NAME=NUMBER, e.g. alpha=0.01"
            ) from None
    return found


@app.command("add")
def add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="A name for the monitor")],
    model: Annotated[str, typer.Option(help="The model to watch (an alias follows moves)")] = (
        "production"
    ),
    window: Annotated[str, typer.Option(help="24h, 7d... or a number of rows")] = "24h",
    device: Annotated[
        list[str] | None, typer.Option("--device", help="Watch only these devices")
    ] = None,
    group: Annotated[
        str | None, typer.Option("--group", help="Watch a fleet device group (its members)")
    ] = None,
    threshold: Annotated[
        list[str] | None, typer.Option("--threshold", help="NAME=VALUE, e.g. min_effect=0.2")
    ] = None,
    cooldown: Annotated[str, typer.Option(help="Quiet time between notifications")] = "1h",
    webhook: Annotated[str | None, typer.Option(help="POST alerts here as JSON")] = None,
    collect: Annotated[
        bool, typer.Option("--collect", help="On drift, ask the devices for raw windows")
    ] = False,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Watch a model deployment. Example: edgeops monitor add fleet --window 24h --collect"""
    with workspace(ctx) as ws:
        made = ws.monitoring.add_monitor(
            name, model=model, window=window, devices=device or None, group=group,
            thresholds=_thresholds(threshold or []), cooldown=cooldown, webhook=webhook,
            collect=collect, project=project,
        )  # fmt: skip
    if as_json:
        print_json(made)
        return
    console.print(f"monitor [bold]{made['name']}[/] watches {made['model']} · window {window}")


@app.command("status")
def status(ctx: typer.Context, project: ProjectOpt = None, as_json: JsonOpt = False) -> None:
    """Monitors, open alerts, device health over the last day, telemetry kept."""
    with workspace(ctx) as ws:
        found = ws.monitoring.status(project=project)
    if as_json:
        print_json(found)
        return
    monitors = Table("monitor", "model", "window", "last run", "open alerts", title="monitors")
    for m in found["monitors"]:
        window = m["window"].get("count") or f"{m['window'].get('seconds', 0) / 3600:g}h"
        monitors.add_row(m["name"], m["model"], str(window), m["last_run_at"] or "never",
                         str(len(m["alerts"])))  # fmt: skip
    console.print(monitors)
    _print_alerts(found["alerts"])
    devices = Table("device", "last seen", "rows", "errors", "p95 latency ms", title="devices")
    for d in found["devices"]:
        devices.add_row(d["device"], d["last_seen"], str(d["rows"]), str(d["errors"]),
                        str(d["latency_p95_ms"] or "-"))  # fmt: skip
    console.print(devices)
    kept = found["telemetry"]
    console.print(
        f"telemetry: {kept['days']} day(s) kept ({kept['first_day']} to {kept['last_day']}), "
        f"{kept['rows_last_day']} rows in the last day"
    )


@app.command("check")
def check(
    ctx: typer.Context,
    monitor: Annotated[str | None, typer.Option(help="Run only this monitor")] = None,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Run the monitors now: raise, update and resolve alerts, notify."""
    with workspace(ctx) as ws:
        results = ws.monitoring.check(project=project, monitor=monitor)
    if as_json:
        print_json(results)
        return
    for result in results:
        findings = result["analysis"]["findings"]
        console.print(
            f"[bold]{result['monitor']}[/] ({result['model']}): {result['analysis']['rows']} rows,"
            f" {len(findings)} finding(s)"
        )
        for finding in findings:
            console.print(f"  {finding['severity']}: {finding['title']}", highlight=False)


@app.command("report")
def report(
    ctx: typer.Context,
    model: ModelArg,
    since: Annotated[str, typer.Option(help="How far back: 24h, 7d, 4w")] = "7d",
    out: Annotated[Path, typer.Option(help="Folder for index.html and the plots")] = Path(
        "monitor-report"
    ),
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Write an HTML report with plots: per-feature reference vs live, drift per day."""
    from edgeops.monitoring.service import parse_duration

    with workspace(ctx) as ws:
        written = ws.monitoring.report(
            model, out, since=parse_duration(since, "--since"), project=project
        )
    if as_json:
        print_json(written)
        return
    console.print(f"report [bold]{written['html']}[/] · {written['rows']} telemetry rows")
    for title in written["findings"]:
        console.print(f"  {title}", highlight=False)


@app.command("ingest")
def ingest(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="A telemetry message: .json or .cbor")],
    device: Annotated[str | None, typer.Option(help="The device that sent it")] = None,
    project: ProjectOpt = None,
) -> None:
    """Store a telemetry message from a file (replays, tests, devices without a network)."""
    kind = "application/cbor" if file.suffix == ".cbor" else "application/json"
    with workspace(ctx) as ws:
        if not file.is_file():
            raise InvalidInput(f"{file}: no such file")
        stored = ws.monitoring.ingest(
            file.read_bytes(), project=project, device=device, content_type=kind
        )
    console.print(f"{stored['accepted']} record(s) stored, {stored['windows']} window(s) queued")


@app.command("prune")
def prune(
    ctx: typer.Context,
    keep_days: Annotated[int, typer.Option("--keep-days", min=1, help="Days of telemetry kept")],
    project: ProjectOpt = None,
) -> None:
    """Retention: delete telemetry older than --keep-days."""
    with workspace(ctx) as ws:
        removed = ws.monitoring.prune(keep_days, project=project)
    console.print(f"removed {len(removed)} day(s) of telemetry")


def _print_alerts(found: list[dict[str, Any]]) -> None:
    table = Table("id", "severity", "status", "model", "title", "seen", "last seen", title="alerts")
    for a in found:
        table.add_row(str(a["id"]), a["severity"], a["status"], a["model"] or "-", a["title"],
                      f"{a['count']}x", a["last_seen"][:19])  # fmt: skip
    console.print(table)


@alerts_app.command("list")
def list_alerts(
    ctx: typer.Context,
    status: Annotated[
        str, typer.Option(help="active (open or acknowledged), open, acknowledged, resolved, all")
    ] = "active",
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 100,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Alerts, newest first."""
    with workspace(ctx) as ws:
        found = ws.monitoring.alerts(
            project=project, status=None if status == "all" else status, limit=limit
        )
    if as_json:
        print_json(found)
        return
    _print_alerts(found)


@alerts_app.command("ack")
def ack(
    ctx: typer.Context,
    alert_id: Annotated[int, typer.Argument(help="The alert's id (see `edgeops alerts list`)")],
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Acknowledge an alert: no more notifications; it resolves when the finding goes away."""
    with workspace(ctx) as ws:
        acked = ws.monitoring.ack(alert_id, project=project)
    if as_json:
        print_json(acked)
        return
    console.print(f"alert {acked['id']} acknowledged by {acked['acknowledged_by']}")


IdsArg = Annotated[
    list[int], typer.Argument(help="Queue item ids (see `edgeops monitor queue list`)")
]


def _print_queue(found: list[dict[str, Any]]) -> None:
    table = Table("id", "status", "device", "model", "alert", "recorded", "sample", "label",
                  title="to-label queue")  # fmt: skip
    for q in found:
        table.add_row(str(q["id"]), q["status"], q["device"] or "-", q["model"],
                      str(q["alert"] or "-"), q["recorded_at"][:16].replace("T", " "),
                      str(q["sample"] or "-"), q["label"] or "-")  # fmt: skip
    console.print(table)


@queue_app.command("list")
def queue_list(
    ctx: typer.Context,
    status: Annotated[str, typer.Option(help="to-label, labelled, discarded or all")] = (
        "to-label"
    ),
    device: Annotated[str | None, typer.Option(help="Only windows from this device")] = None,
    alert: Annotated[int | None, typer.Option(help="Only windows collected for this alert")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10000)] = 100,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Collected windows, newest first."""
    with workspace(ctx) as ws:
        found = ws.monitoring.label_queue(
            project=project, status=None if status == "all" else status, device=device,
            alert=alert, limit=limit,
        )  # fmt: skip
    if as_json:
        print_json(found)
        return
    _print_queue(found)


@queue_app.command("label")
def queue_label(
    ctx: typer.Context,
    ids: IdsArg,
    label: Annotated[str, typer.Option("--label", help="The label every window gets")],
    category: Annotated[str, typer.Option(help="training, testing or split (1 in 5 testing)")] = (
        "training"
    ),
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Make windows samples (all or none). Example: edgeops monitor queue label 4 5 --label idle"""
    with workspace(ctx) as ws:
        made = ws.monitoring.label_windows(ids, label, category=category, project=project)
    if as_json:
        print_json(made)
        return
    for q in made:
        console.print(f"window {q['id']} → sample {q['sample']} ({q['label']}, {q['category']})")


@queue_app.command("discard")
def queue_discard(
    ctx: typer.Context, ids: IdsArg, project: ProjectOpt = None, as_json: JsonOpt = False
) -> None:
    """Take windows out of the queue without making samples of them."""
    with workspace(ctx) as ws:
        dropped = ws.monitoring.discard_windows(ids, project=project)
    if as_json:
        print_json(dropped)
        return
    console.print(f"{len(dropped)} window(s) discarded")
