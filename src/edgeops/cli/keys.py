"""`edgeops keys …`: API keys for programs and devices."""

from typing import Annotated, Any

import typer
from rich.table import Table

from edgeops.cli.context import JsonOpt, ProjectOpt, console, errors, print_json, workspace
from edgeops.cli.release import signing_app
from edgeops.governance import keys
from edgeops.governance.roles import ROLES
from edgeops.store.tables import ApiKey
from edgeops.workspace import Workspace

app = typer.Typer(help="API keys: how programs and devices authenticate to the server.")
app.add_typer(signing_app, name="signing")


@app.command()
def create(
    ctx: typer.Context,
    role: Annotated[str, typer.Option(help=f"One of: {', '.join(ROLES)}")],
    project: ProjectOpt = None,
    all_projects: Annotated[
        bool, typer.Option("--all-projects", help="An admin key that reaches every project")
    ] = False,
    name: Annotated[str | None, typer.Option(help="What the key is for")] = None,
    device: Annotated[
        str | None, typer.Option(help="Device id, required for (and only for) --role device")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a key and print its secret, which is shown this once only.

    Example: edgeops keys create --role device --device pump-7
    """
    with workspace(ctx) as ws:
        key, secret = ws.keys.create(
            role, project=project, all_projects=all_projects, name=name, device_id=device
        )
        shown = _record(ws, key)
    if as_json:
        print_json({**shown, "secret": secret})
    else:
        scope = shown["project"] or "all projects"
        console.print(f"key [bold]{key.prefix}[/] · {key.role} · {scope}", highlight=False)
        typer.echo(secret)
    errors.print("[yellow]warning:[/] the secret is not shown again: store it now")


@app.command("list")
def list_(ctx: typer.Context, project: ProjectOpt = None, as_json: JsonOpt = False) -> None:
    """List the keys (all, or a project's), revoked ones included."""
    with workspace(ctx) as ws:
        found = [_record(ws, key) for key in ws.keys.list(project)]
    if as_json:
        print_json(found)
        return
    table = Table("prefix", "name", "role", "project", "device", "created", "last used", "revoked")
    for k in found:
        table.add_row(
            k["prefix"], k["name"], k["role"], k["project"] or "(all)", k["device_id"] or "",
            k["created_at"][:16], (k["last_used_at"] or "")[:16], (k["revoked_at"] or "")[:16],
        )  # fmt: skip
    console.print(table)


@app.command()
def revoke(
    ctx: typer.Context,
    prefix: Annotated[str, typer.Argument(help="The key's prefix (see `edgeops keys list`)")],
) -> None:
    """Revoke a key: it stops working at once."""
    with workspace(ctx) as ws:
        key = ws.keys.revoke(prefix)
    console.print(f"key [bold]{key.prefix}[/] ({key.name}) revoked", highlight=False)


def _record(ws: Workspace, key: ApiKey) -> dict[str, Any]:
    names = {p.id: p.name for p in ws.projects.list()}
    return {**keys.record(key), "project": names.get(key.project_id or -1)}
