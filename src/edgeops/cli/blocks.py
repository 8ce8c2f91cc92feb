"""`edgeops blocks …`: the feature blocks (and later learners) this installation knows."""

import typer
from rich.table import Table

from edgeops.blocks import registry
from edgeops.cli.context import JsonOpt, console, print_json, reporting_errors

app = typer.Typer(help="Blocks: versioned feature extractors (DSP) and learners.")


@app.command("list")
def list_(as_json: JsonOpt = False) -> None:
    """Every registered block: name, version, kind and parameters with their defaults."""
    with reporting_errors():
        described = [block().describe() for block in registry.all_blocks()]
    if as_json:
        print_json(described)
        return
    table = Table("name", "version", "kind", "parameters (defaults)")
    for block in described:
        params = ", ".join(f"{key}={value!r}" for key, value in block["params"].items())
        table.add_row(block["name"], str(block["version"]), block["kind"], params)
    console.print(table)
