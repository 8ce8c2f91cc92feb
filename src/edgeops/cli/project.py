"""`edgeops project …`: create and list projects."""

from typing import Annotated

import typer
from rich.table import Table

from edgeops.cli.context import JsonOpt, console, print_json, workspace
from edgeops.data import projects

app = typer.Typer(help="Projects: the products you build (each owns data, models, devices).")


@app.command()
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="e.g. pump-vibration")],
    description: Annotated[str, typer.Option(help="One line about the project")] = "",
) -> None:
    """Create a project."""
    with workspace(ctx) as ws:
        ws.projects.create(name, description)
    console.print(f"project [bold]{name}[/] created")


@app.command("list")
def list_(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """List the projects of the workspace."""
    with workspace(ctx) as ws:
        found = ws.projects.list()
    if as_json:
        print_json([projects.record(p) for p in found])
        return
    table = Table("name", "description", "created")
    for p in found:
        table.add_row(p.name, p.description, f"{p.created_at:%Y-%m-%d %H:%M}")
    console.print(table)
