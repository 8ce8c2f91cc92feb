"""`edgeops features …`: turn a dataset version into features with a recipe (cached)."""

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from edgeops.cli.context import (
    JsonOpt,
    ProgressBar,
    ProjectOpt,
    console,
    print_json,
    workspace,
)
from edgeops.errors import InvalidInput
from edgeops.recipes.explore import explore as explore_features
from edgeops.recipes.extract import extract as extract_features
from edgeops.recipes.spec import load_recipe_file, recipe_hash

app = typer.Typer(help="Features: windows of a dataset version through a recipe's blocks.")


@app.command()
def extract(
    ctx: typer.Context,
    recipe: Annotated[Path, typer.Option("--recipe", help="Recipe file (.yaml, .yml or .json)")],
    version: Annotated[str, typer.Option("--version", help="Dataset version id or prefix")],
    project: ProjectOpt = None,
    workers: Annotated[
        int | None, typer.Option(min=1, help="Processes to compute with (default: 1)")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Compute (or read from the cache) the features of every window of a dataset version.

    Example: edgeops features extract --recipe motion.yaml --version 3f2a
    """
    with workspace(ctx) as ws:
        parsed = load_recipe_file(recipe)
        with ProgressBar("extracting", quiet=as_json) as advance:
            features = extract_features(
                ws, parsed, version, project=project, workers=workers, progress=advance
            )
    summary = {"recipe": recipe_hash(parsed), **features.summary()}
    if as_json:
        print_json(summary)
        return
    console.print(
        f"{summary['windows']} windows · {summary['features']} features per window · "
        f"cache {summary['cache_hits']} hits, {summary['cache_misses']} misses · "
        f"{summary['seconds']:.2f} s",
        highlight=False,
    )


@app.command()
def explore(
    ctx: typer.Context,
    recipe: Annotated[Path, typer.Option("--recipe", help="Recipe file (.yaml, .yml or .json)")],
    version: Annotated[str, typer.Option("--version", help="Dataset version id or prefix")],
    out: Annotated[Path, typer.Option("--out", help="Plot to write (.png or .svg)")] = Path(
        "features.png"
    ),
    method: Annotated[
        str, typer.Option("--method", help="2-D projection: pca, or umap (needs umap-learn)")
    ] = "pca",
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Plot a dataset version's features in 2-D by label and score how separable the labels are.

    Example: edgeops features explore --recipe motion.yaml --version 3f2a --out motion.png
    """
    with workspace(ctx) as ws:
        if method not in ("pca", "umap"):
            raise InvalidInput(f"unknown --method {method!r}: use pca or umap")
        parsed = load_recipe_file(recipe)
        with ProgressBar("extracting", quiet=as_json) as advance:
            features = extract_features(ws, parsed, version, project=project, progress=advance)
        result = explore_features(
            features, out, method="umap" if method == "umap" else "pca", recipe=parsed.name,
            version=version,
        )  # fmt: skip
    if as_json:
        print_json(result.to_dict())
        return
    console.print(f"plot: {result.path} ({result.windows} windows, {result.method})",
                  highlight=False)  # fmt: skip
    if result.silhouette is None:
        console.print(f"silhouette: n/a ({result.silhouette_reason})", highlight=False)
        return
    table = Table("label", "silhouette", box=None)
    for label, score in result.per_label.items():
        table.add_row(label, f"{score:.3f}")
    table.add_row("[bold]overall[/]", f"[bold]{result.silhouette:.3f}[/]")
    console.print(table)
