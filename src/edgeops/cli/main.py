"""The root `edgeops` command and `edgeops init`."""

from pathlib import Path
from typing import Annotated

import typer

from edgeops import __version__
from edgeops.cli import (
    agent,
    audit,
    blocks,
    build,
    data,
    devices,
    features,
    forward,
    keys,
    models,
    monitor,
    privacy,
    project,
    recipe,
    release,
    report,
    rollout,
    runs,
    serve,
    simulate,
    tune,
    users,
    worker,
    workflow,
)
from edgeops.cli.context import console, workspace
from edgeops.data import projects

app = typer.Typer(
    name="edgeops",
    help="Self-hosted edge MLOps: collect sensor data, version it, train, compile, ship, watch.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
app.add_typer(project.app, name="project")
app.add_typer(data.app, name="data")
app.add_typer(users.app, name="user")
app.add_typer(keys.app, name="keys")
app.add_typer(audit.app, name="audit")
app.add_typer(blocks.app, name="blocks")
app.add_typer(recipe.app, name="recipe")
app.add_typer(features.app, name="features")
app.add_typer(models.app, name="models")
app.add_typer(workflow.app, name="workflow")
app.add_typer(runs.app, name="runs")
app.add_typer(devices.app, name="devices")
app.add_typer(release.app, name="release")
app.add_typer(rollout.app, name="rollout")
app.add_typer(monitor.app, name="monitor")
app.add_typer(monitor.alerts_app, name="alerts")
app.add_typer(agent.app, name="agent")
app.add_typer(simulate.app, name="simulate")
app.add_typer(report.app, name="report")
app.add_typer(privacy.app, name="privacy")
app.command()(models.train)
app.command()(models.test)
app.command()(build.build)
app.command()(serve.serve)
app.command()(worker.worker)
app.command()(forward.forward)
app.command()(tune.tune)


@app.callback(invoke_without_command=True)
def root(
    ctx: typer.Context,
    home: Annotated[
        Path | None,
        typer.Option(
            "--home",
            envvar="EDGEOPS_HOME",
            help="Workspace folder (default ./.edgeops); holds the SQLite database and blobs.",
        ),
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", is_eager=True, help="Print the version and exit")
    ] = False,
) -> None:
    if version:
        console.print(f"edgeops {__version__}")
        raise typer.Exit()
    if ctx.invoked_subcommand is None:
        console.print(ctx.get_help())
        raise typer.Exit(2)
    ctx.obj = {"home": home}


@app.command()
def init(
    ctx: typer.Context,
    project_name: Annotated[
        str | None, typer.Option("--project", "-p", help="Also create this project")
    ] = None,
) -> None:
    """Create a workspace here (or at --home / EDGEOPS_HOME); safe to run again."""
    with workspace(ctx, create=True) as ws:
        if project_name is not None:
            with ws.session() as session:
                projects.create(session, project_name, ws.actor)
                session.commit()
        console.print(f"workspace ready at [bold]{ws.settings.home.resolve()}[/]")
        console.print(f"  database  {ws.engine.url.render_as_string(hide_password=True)}")
        console.print(f"  blobs     {ws.blobs.url}")
        if project_name:
            console.print(f"  project   {project_name}")


@app.command()
def demo(
    home: Annotated[
        Path, typer.Option("--home", help="Folder for the demo's data and workspace")
    ] = Path(".demo"),
    serve: Annotated[
        bool,
        typer.Option("--serve/--no-serve", help="Leave the server running at the end (Ctrl-C)"),
    ] = True,
    devices: Annotated[
        int, typer.Option("--devices", min=4, max=1000, help="Simulated watches in the fleet")
    ] = 50,
) -> None:
    """The closed loop on real data (BasicMotions), step by step with the real commands: train,
    build, release, roll out to simulated watches, detect a drift, collect, retrain, clear it."""
    from edgeops import demo as demo_module

    command = typer.main.get_command(app)

    def invoke(args: list[str]) -> int:
        result = command.main(args=args, prog_name="edgeops", standalone_mode=False)
        return result if isinstance(result, int) else 0

    demo_module.run(home, console, invoke, serve=serve, devices=devices)
