"""`edgeops runs …`: workflow runs, their steps, logs and lineage; cancel, retry, approve."""

from typing import Annotated, Any

import typer
from rich.table import Table

from edgeops.cli.context import JsonOpt, ProjectOpt, console, print_json, workspace

app = typer.Typer(help="Workflow runs: history, logs, lineage, cancel, retry, approvals.")

RunArg = Annotated[int, typer.Argument(help="Run id", min=1)]


def _print_run(run: dict[str, Any]) -> None:
    console.print(
        f"run [bold]{run['id']}[/] · {run['workflow']} · [bold]{run['status']}[/]"
        + (f" · {run['reason']}" if run["reason"] else "")
    )
    console.print(f"  trigger {run['trigger']} · by {run['created_by']}")
    for step in run.get("steps", []):
        extra = " (reused)" if step["cached"] else ""
        error = f" · {step['error']}" if step["error"] else ""
        console.print(
            f"  {step['step']:<12} {step['status']:<9} tries {step['attempts']}{extra}{error}"
        )
    lineage = run.get("lineage")
    if lineage:
        data = lineage["dataset_version"] or "-"
        console.print(
            f"  lineage: workflow {str(lineage['workflow_version'])[:12]} · data "
            f"{data[:12]} · recipes { {k: v[:12] for k, v in lineage['recipes'].items()} }"
            f" · edgeops {lineage['edgeops']}"
        )


@app.command("list")
def list_runs(
    ctx: typer.Context,
    project: ProjectOpt = None,
    workflow: Annotated[str | None, typer.Option(help="Only this workflow's runs")] = None,
    status: Annotated[str | None, typer.Option(help="Only runs in this state")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    json: JsonOpt = False,
) -> None:
    """The newest runs first."""
    with workspace(ctx) as ws:
        found = ws.automation.runs(project=project, workflow=workflow, status=status, limit=limit)
    if json:
        print_json(found)
        return
    table = Table("run", "workflow", "status", "trigger", "by", "created")
    for run in found:
        table.add_row(
            str(run["id"]),
            run["workflow"],
            run["status"],
            run["trigger"]["kind"],
            run["created_by"],
            run["created_at"][:19],
        )
    console.print(table)


@app.command()
def show(
    ctx: typer.Context, run: RunArg, project: ProjectOpt = None, json: JsonOpt = False
) -> None:
    """A run's steps, outputs and lineage (trigger, data, recipes, code version)."""
    with workspace(ctx) as ws:
        found = ws.automation.get_run(run, project=project)
    print_json(found) if json else _print_run(found)


@app.command()
def logs(ctx: typer.Context, run: RunArg, project: ProjectOpt = None) -> None:
    """What each step of a run said."""
    with workspace(ctx) as ws:
        typer.echo(ws.automation.logs(run, project=project), nl=False)


@app.command()
def cancel(ctx: typer.Context, run: RunArg, project: ProjectOpt = None) -> None:
    """Stop a run: queued and waiting steps are dropped; a running step's result is ignored."""
    with workspace(ctx) as ws:
        _print_run(ws.automation.cancel(run, project=project))


@app.command()
def retry(ctx: typer.Context, run: RunArg, project: ProjectOpt = None) -> None:
    """Resume a failed, stopped or cancelled run from the steps that did not finish."""
    with workspace(ctx) as ws:
        _print_run(ws.automation.retry(run, project=project))


@app.command()
def approve(
    ctx: typer.Context,
    run: RunArg,
    project: ProjectOpt = None,
    comment: Annotated[str, typer.Option("--comment", "-m")] = "",
) -> None:
    """Approve the step the run waits on (you act as the workspace admin here)."""
    with workspace(ctx) as ws:
        _print_run(ws.automation.decide(run, True, project=project, comment=comment))


@app.command()
def reject(
    ctx: typer.Context,
    run: RunArg,
    project: ProjectOpt = None,
    comment: Annotated[str, typer.Option("--comment", "-m")] = "",
) -> None:
    """Refuse the step the run waits on: the run stops."""
    with workspace(ctx) as ws:
        _print_run(ws.automation.decide(run, False, project=project, comment=comment))
