"""`edgeops audit …`: read and verify the hash-chained audit log."""

from typing import Annotated

import typer
from rich.table import Table

from edgeops.cli.context import JsonOpt, console, errors, print_json, workspace
from edgeops.governance import audit

app = typer.Typer(help="The audit log: who changed what, chained so tampering shows.")


@app.command()
def log(
    ctx: typer.Context,
    project: Annotated[
        str | None, typer.Option("--project", "-p", help="Only this project")
    ] = None,
    action: Annotated[str | None, typer.Option(help="Only this action, e.g. key.create")] = None,
    actor: Annotated[
        str | None, typer.Option(help="Only this actor, e.g. key:ab12cd34ef56")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many, newest first")] = 100,
    as_json: JsonOpt = False,
) -> None:
    """Show the newest events."""
    with workspace(ctx) as ws:
        found = ws.audit.events(project=project, action=action, actor=actor, limit=limit)
        names = {p.id: p.name for p in ws.projects.list()}
    rows = [{**audit.event_record(e), "project": names.get(e.project_id or -1)} for e in found]
    if as_json:
        print_json(rows)
        return
    table = Table("id", "at (UTC)", "actor", "action", "project", "target")
    for row in rows:
        table.add_row(str(row["id"]), row["at"][:19].replace("T", " "), row["actor"],
                      row["action"], row["project"] or "", row["target"])  # fmt: skip
    console.print(table)


@app.command()
def verify(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Check the hash chain: exit 0 if the log is intact, 1 naming the first bad event."""
    with workspace(ctx) as ws:
        result = ws.audit.verify()
    if as_json:
        print_json(result.as_dict())
    elif result.ok:
        console.print(f"audit log intact: {result.checked} events checked")
    else:
        errors.print(f"audit log broken ({result.problem}): {result.detail}", highlight=False)
    if not result.ok:
        raise typer.Exit(1)
