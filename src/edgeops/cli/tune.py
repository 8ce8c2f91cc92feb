"""`edgeops tune`: search feature-block and model sizes around a recipe within device budgets,
print the Pareto front, and write the chosen recipe as a new recipe file."""

from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.table import Table

from edgeops.cli.context import JsonOpt, ProjectOpt, console, errors, print_json, workspace


def _table(result: Any) -> Table:
    title = f"trials ({result.held_out_samples} held-out training samples; sizes estimated)"
    table = Table("#", "accuracy", "flash", "RAM", "latency", "changes", "", title=title)
    for index, trial in enumerate(result.trials):
        mark = "[bold green]chosen[/]" if index == result.chosen else ""
        if index in result.front:
            mark = (mark + " front").strip()
        if trial["misses"]:
            mark = (mark + " [red]over: " + ", ".join(trial["misses"]) + "[/]").strip()
        changes = ", ".join(f"{k}={v}" for k, v in trial["changes"].items()) or "(as given)"
        table.add_row(str(index), f"{trial['accuracy']:.3f}",
                      f"{trial['flash_bytes'] / 1024:.1f} KiB",
                      f"{trial['ram_bytes'] / 1024:.1f} KiB", f"{trial['latency_ms']:.3f} ms",
                      changes, mark)  # fmt: skip
    return table


def tune(
    ctx: typer.Context,
    recipe: Annotated[Path, typer.Option("--recipe", "-r", help="The recipe to start from")],
    data: Annotated[str | None, typer.Option(help="Dataset version (default: newest)")] = None,
    budget_ram: Annotated[str | None, typer.Option(help="e.g. 64KB")] = None,
    budget_flash: Annotated[str | None, typer.Option(help="e.g. 256KB")] = None,
    budget_latency: Annotated[str | None, typer.Option(help="e.g. 50ms (model only)")] = None,
    target: Annotated[str, typer.Option(help="Device profile for latency")] = "cortex-m4f",
    trials: Annotated[int, typer.Option(help="Recipes to try (the given one included)")] = 8,
    workers: Annotated[int | None, typer.Option(help="Trials in parallel (local)")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the search and of every fit")] = 0,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="The chosen recipe")] = None,
    plot: Annotated[Path | None, typer.Option(help="Pareto plot (default: OUT with .png)")] = None,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Try up to --trials sizes of the recipe's blocks and model; keep the most accurate that
    fits the budgets (flash, RAM and latency estimated from each model's IR).

    Example: edgeops tune --recipe motion.yaml --budget-flash 32KB --budget-latency 5ms
    """
    from edgeops.automation.pareto import plot as draw
    from edgeops.automation.tuning import Budget, parse_latency, parse_size
    from edgeops.automation.tuning import tune as search
    from edgeops.recipes.executor import executor_for
    from edgeops.recipes.spec import load_recipe_file, recipe_hash

    start = load_recipe_file(recipe)
    budget = Budget(
        parse_size(budget_ram) if budget_ram else None,
        parse_size(budget_flash) if budget_flash else None,
        parse_latency(budget_latency) if budget_latency else None,
        target,
    )
    out = out or recipe.with_name(f"{recipe.name.split('.')[0]}.tuned.yaml")
    plot = plot or out.with_suffix(".png")
    executor = executor_for(workers, trials)
    with workspace(ctx) as ws:
        try:
            result = search(ws, start, data, project=project, budget=budget, trials=trials,
                            seed=seed, executor=executor)  # fmt: skip
        finally:
            close = getattr(executor, "close", None)
            if close is not None:
                close()
    draw(result.trials, result.front, result.chosen, budget.flash_bytes, plot)
    chosen = result.recipe
    if chosen is not None:
        out.write_text(yaml.safe_dump(chosen, sort_keys=False))
    if as_json:
        print_json({**result.as_dict(), "out": str(out) if chosen else None, "plot": str(plot)})
    else:
        console.print(_table(result))
        console.print(f"Pareto plot: {plot}")
        if chosen is not None:
            trial = result.trials[result.chosen or 0]
            console.print(f"chosen: trial {result.chosen} → [bold]{out}[/] (recipe "
                          f"{recipe_hash(start)[:12]} → {trial['recipe_hash'][:12]})")  # fmt: skip
        for note in result.notes:
            console.print(f"[dim]{note}[/]")
    if chosen is None:
        errors.print("[red]no trial fits the budget[/]: raise it or start from a smaller recipe")
        raise typer.Exit(1)
