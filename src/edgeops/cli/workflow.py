"""`edgeops workflow …`: write, check, store and start workflows."""

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from edgeops.cli.context import (
    JsonOpt,
    ProjectOpt,
    console,
    print_json,
    reporting_errors,
    workspace,
)

app = typer.Typer(help="Workflows: the lifecycle as steps, started by triggers.")

NameArg = Annotated[str, typer.Argument(help="Workflow name")]


@app.command()
def new(
    out: Annotated[Path, typer.Argument(help="File to write")] = Path("retrain.yaml"),
    template: Annotated[str, typer.Option("--template", help="Template: retrain")] = "retrain",
    recipe: Annotated[str, typer.Option("--recipe", help="Recipe file the train step uses")] = (
        "recipe.yaml"
    ),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file")] = False,
) -> None:
    """Write a starting workflow to edit, then `edgeops workflow apply` it."""
    from edgeops.automation.templates import TEMPLATES

    with reporting_errors():
        if template not in TEMPLATES:
            raise typer.BadParameter(f"unknown template {template!r}: use {', '.join(TEMPLATES)}")
        if out.exists() and not force:
            raise typer.BadParameter(f"{out} exists: pass --force to overwrite it")
        out.write_text(TEMPLATES[template].replace("RECIPE_FILE", recipe))
    console.print(
        f"wrote [bold]{out}[/] (template {template}); check it: edgeops workflow validate {out}"
    )


@app.command()
def validate(file: Annotated[Path, typer.Argument(help="Workflow YAML")]) -> None:
    """Check a workflow file: steps, wiring, triggers, recipes."""
    from edgeops.automation import spec

    with reporting_errors():
        parsed = spec.load_file(file)
    console.print(
        f"[green]ok[/] {parsed.name} · {len(parsed.steps)} steps · version "
        f"{spec.version_of(parsed)[:12]}"
    )


@app.command()
def apply(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="Workflow YAML")],
    project: ProjectOpt = None,
    disable: Annotated[bool, typer.Option("--disable", help="Store it switched off")] = False,
) -> None:
    """Store a workflow (a new version when it changed); its triggers are live from now on."""
    with workspace(ctx) as ws:
        stored = ws.automation.apply(file, project=project, enabled=not disable)
    state = "new version" if stored["changed"] else "unchanged"
    console.print(f"workflow [bold]{stored['name']}[/] {stored['version'][:12]} ({state})")


@app.command("list")
def list_workflows(ctx: typer.Context, project: ProjectOpt = None, json: JsonOpt = False) -> None:
    """The project's workflows (newest versions)."""
    with workspace(ctx) as ws:
        found = ws.automation.workflows(project=project)
    if json:
        print_json(found)
        return
    table = Table("name", "version", "enabled", "triggers", "steps")
    for item in found:
        table.add_row(
            item["name"],
            item["version"][:12],
            "yes" if item["enabled"] else "no",
            ", ".join(t["type"] for t in item["triggers"]),
            " → ".join(s["id"] for s in item["steps"]),
        )
    console.print(table)


@app.command()
def show(
    ctx: typer.Context, name: NameArg, project: ProjectOpt = None, json: JsonOpt = False
) -> None:
    """A workflow's steps, triggers (with the next scheduled time) and versions."""
    with workspace(ctx) as ws:
        found = ws.automation.show(name, project=project)
    if json:
        print_json(found)
        return
    console.print(f"[bold]{found['name']}[/] {found['version'][:12]} · {found['description']}")
    for trigger in found["triggers"]:
        console.print(f"  on {trigger}")
    for step in found["steps"]:
        needs = f" after {', '.join(step['needs'])}" if step["needs"] else ""
        when = f" when {step['when']}" if step["when"] else ""
        console.print(f"  {step['id']} ({step['type']}){needs}{when}")
    console.print(f"  {len(found['versions'])} version(s)")


@app.command()
def run(
    ctx: typer.Context,
    name: NameArg,
    project: ProjectOpt = None,
    wait: Annotated[bool, typer.Option("--wait", help="Run it here until idle")] = False,
    json: JsonOpt = False,
) -> None:
    """Start a run by hand (recorded as yours). With --wait this process runs its steps."""
    with workspace(ctx) as ws:
        started = ws.automation.run(name, project=project)
        assert started is not None
        if wait:
            ws.automation.run_until_idle()
            started = ws.automation.get_run(started["id"], project=project)
    if json:
        print_json(started)
        return
    console.print(
        f"run [bold]{started['id']}[/] of {name}: {started['status']}"
        + (f" · {started['reason']}" if started["reason"] else "")
    )
