"""`edgeops user …`: people who sign in to the server and the studio."""

import sys
from typing import Annotated

import typer
from rich.table import Table

from edgeops.cli.context import JsonOpt, console, print_json, workspace
from edgeops.governance import users
from edgeops.governance.roles import ROLES

app = typer.Typer(help="Users: people who sign in with a password, each with a role.")


@app.command()
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="e.g. alice")],
    role: Annotated[str, typer.Option(help=f"One of: {', '.join(ROLES)}")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input")
    ] = False,
) -> None:
    """Create a user; asks for the password (at least 12 characters) unless --password-stdin."""
    if password_stdin:
        password = sys.stdin.read().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    with workspace(ctx) as ws:
        ws.users.create(name, password, role)
    console.print(f"user [bold]{name}[/] created with role {role}", highlight=False)


@app.command("list")
def list_(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """List the users of the workspace."""
    with workspace(ctx) as ws:
        found = ws.users.list()
    if as_json:
        print_json([users.record(u) for u in found])
        return
    table = Table("name", "role", "disabled", "created")
    for u in found:
        table.add_row(u.name, u.role, "yes" if u.disabled else "", f"{u.created_at:%Y-%m-%d %H:%M}")
    console.print(table)
