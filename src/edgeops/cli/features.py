"""`edgeops features …`: turn a dataset version into features with a recipe (cached)."""

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from edgeops.cli.context import JsonOpt, ProjectOpt, console, errors, print_json, workspace
from edgeops.recipes.extract import extract as extract_features
from edgeops.recipes.spec import load_recipe_file, recipe_hash

app = typer.Typer(help="Features: windows of a dataset version through a recipe's blocks.")


class _progress:
    """A progress bar on stderr, fed by the extractor's callback (total first, then -1 per
    sample)."""

    def __init__(self, quiet: bool) -> None:
        self.bar = Progress(
            TextColumn("extracting"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
            console=errors, transient=True, disable=quiet,
        )  # fmt: skip
        self.task = self.bar.add_task("extract", total=None)

    def __enter__(self) -> "_progress":
        self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.stop()

    def __call__(self, step: int) -> None:
        if step >= 0:
            self.bar.update(self.task, total=step)
        else:
            self.bar.advance(self.task)


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
        with _progress(quiet=as_json) as advance:
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
