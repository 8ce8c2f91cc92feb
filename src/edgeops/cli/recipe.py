"""`edgeops recipe …`: start a recipe from a template, validate it, show its normalised form."""

from pathlib import Path
from typing import Annotated

import typer
import yaml

from edgeops.cli.context import JsonOpt, console, print_json, reporting_errors
from edgeops.errors import InvalidInput
from edgeops.recipes.spec import canonical_data, load_recipe_file, recipe_hash, validate
from edgeops.recipes.templates import TEMPLATES

app = typer.Typer(help="Recipes: window settings, feature blocks and a learner, versioned by hash.")

RecipeFile = Annotated[Path, typer.Argument(help="Recipe file (.yaml, .yml or .json)")]


@app.command()
def new(
    template: Annotated[
        str, typer.Option("--template", "-t", help=f"One of: {', '.join(TEMPLATES)}")
    ] = "motion",
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write here (default: print to stdout)")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file")] = False,
) -> None:
    """Start a recipe from a commented template."""
    with reporting_errors():
        if template not in TEMPLATES:
            raise InvalidInput(
                f"unknown template {template!r}; choose one of: {', '.join(TEMPLATES)}"
            )
        text = TEMPLATES[template]
        if out is None:
            typer.echo(text, nl=False)
            return
        if out.exists() and not force:
            raise InvalidInput(f"{out} already exists; pass --force to overwrite it")
        try:
            out.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise InvalidInput(f"{out}: cannot write the recipe ({exc.strerror})") from None
    console.print(f"wrote the {template} recipe to [bold]{out}[/]")


@app.command("validate")
def validate_(file: RecipeFile, as_json: JsonOpt = False) -> None:
    """Check a recipe: its fields, its blocks' params, and each block against the signal."""
    with reporting_errors():
        recipe = validate(load_recipe_file(file))
        digest = recipe_hash(recipe)
    if as_json:
        print_json({"valid": True, "name": recipe.name, "hash": digest})
        return
    console.print(f"[green]valid[/] · hash {digest[:12]}…", highlight=False)


@app.command()
def show(file: RecipeFile, as_json: JsonOpt = False) -> None:
    """The recipe as edgeops reads it: block versions pinned, defaults filled in, its hash."""
    with reporting_errors():
        recipe = validate(load_recipe_file(file))
        data, digest = canonical_data(recipe), recipe_hash(recipe)
    if as_json:
        print_json({"hash": digest, "recipe": data})
        return
    typer.echo(f"# hash {digest}")
    typer.echo(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), nl=False)
