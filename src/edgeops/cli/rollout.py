"""`edgeops rollout …`: staged rollouts of a release to a group, with health gates."""

from typing import Annotated, Any

import typer
from rich.table import Table

from edgeops.cli.context import JsonOpt, ProjectOpt, console, print_json, workspace

app = typer.Typer(help="Rollouts: a release going to a group in stages, with automatic rollback.")

RolloutArg = Annotated[int, typer.Argument(help="The rollout's number")]


def _show(status: dict[str, Any]) -> None:
    devices = ", ".join(f"{n} {state}" for state, n in status["devices"].items()) or "none yet"
    console.print(
        f"rollout [bold]{status['id']}[/] · {status['release']} → {status['group'] or 'all'} · "
        f"[bold]{status['state']}[/] · stage {status['stage']}/{len(status['stages'])} "
        f"({status['percent']}%) · reached {status['reached']} · {devices}",
        highlight=False,
    )
    if status["reason"]:
        console.print(f"  {status['reason']}", highlight=False)


@app.command()
def create(
    ctx: typer.Context,
    release: Annotated[str, typer.Argument(help="TYPE/VERSION, or VERSION")],
    group: Annotated[str | None, typer.Option(help="Device group (default: all)")] = None,
    stages: Annotated[str, typer.Option(help="Cumulative percentages")] = "1,10,50,100",
    dwell: Annotated[str, typer.Option(help="Healthy time before the next stage")] = "10m",
    stage_timeout: Annotated[
        str, typer.Option(help="Devices silent this long count as failed")
    ] = "24h",
    max_failure_rate: Annotated[str, typer.Option(help="e.g. 2%")] = "2%",
    on_failure: Annotated[str, typer.Option(help="rollback or pause")] = "rollback",
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Start rolling a release out; the server's scheduler moves it stage by stage."""
    with workspace(ctx) as ws:
        status = ws.fleet.create_rollout(
            release, project=project, group=group, stages=stages, dwell=dwell,
            stage_timeout=stage_timeout, max_failure_rate=max_failure_rate, on_failure=on_failure,
        )  # fmt: skip
    print_json(status) if as_json else _show(status)


@app.command("list")
def list_(ctx: typer.Context, project: ProjectOpt = None, as_json: JsonOpt = False) -> None:
    """Every rollout, oldest first."""
    with workspace(ctx) as ws:
        found = ws.fleet.rollouts(project=project)
    if as_json:
        print_json(found)
        return
    table = Table("id", "release", "group", "state", "stage", "reached", "failure rate")
    for r in found:
        table.add_row(
            str(r["id"]), r["release"], r["group"] or "(all)", r["state"],
            f"{r['stage']}/{len(r['stages'])} ({r['percent']}%)", str(r["reached"]),
            f"{r['failure_rate']:.1%}",
        )  # fmt: skip
    console.print(table)


@app.command()
def status(
    ctx: typer.Context, rollout: RolloutArg, project: ProjectOpt = None, as_json: JsonOpt = False
) -> None:
    """Where a rollout stands."""
    with workspace(ctx) as ws:
        found = ws.fleet.rollout(rollout, project=project)
    print_json(found) if as_json else _show(found)


@app.command()
def pause(ctx: typer.Context, rollout: RolloutArg, project: ProjectOpt = None) -> None:
    """Hold the rollout at its stage."""
    with workspace(ctx) as ws:
        _show(ws.fleet.pause(rollout, project=project))


@app.command()
def resume(ctx: typer.Context, rollout: RolloutArg, project: ProjectOpt = None) -> None:
    """Continue a paused rollout (its stage's dwell starts over)."""
    with workspace(ctx) as ws:
        _show(ws.fleet.resume(rollout, project=project))


@app.command()
def abort(
    ctx: typer.Context,
    rollout: RolloutArg,
    rollback: Annotated[
        bool, typer.Option("--rollback", help="Also send updated devices back")
    ] = False,
    project: ProjectOpt = None,
) -> None:
    """Stop the rollout; with --rollback every device it reached returns to its release."""
    with workspace(ctx) as ws:
        _show(ws.fleet.abort(rollout, project=project, rollback=rollback))


@app.command()
def advance(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Run one scheduler step now (what `edgeops serve` does every 15 s): move rollouts on,
    re-sign expiring online metadata. For setups without a running server, e.g. from cron."""
    with workspace(ctx) as ws:
        changes = ws.fleet.advance()
    if as_json:
        print_json(changes)
        return
    for change in changes:
        console.print(" · ".join(f"{k} {v}" for k, v in change.items()), highlight=False)
    if not changes:
        console.print("nothing to do")
