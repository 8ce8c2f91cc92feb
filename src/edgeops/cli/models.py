"""`edgeops train`, `edgeops test` and `edgeops models …`: train recipes into the registry, test
models, and manage the registry's versions and aliases. Training's libraries (PyTorch,
scikit-learn) load inside the commands that use them, so every other command starts fast."""

from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from edgeops.cli.context import (
    JsonOpt,
    ProgressBar,
    ProjectOpt,
    console,
    errors,
    print_json,
    workspace,
)
from edgeops.recipes.spec import load_recipe_file
from edgeops.training import registry

app = typer.Typer(help="The model registry: versions, lineage, metrics, aliases.")

ModelArg = Annotated[str, typer.Argument(help="A model: vN, N, latest, production, staging…")]
PlotOpt = Annotated[
    Path | None, typer.Option("--plot", help="Write the confusion matrix here (.png or .svg)")
]


def _percent(value: Any) -> str:
    return f"{value:.1%}" if isinstance(value, int | float) else "-"


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def _print_metrics(metrics: dict[str, Any]) -> None:
    testing = metrics.get("testing", {})
    if "per_class" in testing:
        table = Table("label", "precision", "recall", "F1", "windows", title="testing split")
        for label, row in testing["per_class"].items():
            table.add_row(
                label,
                _percent(row["precision"]),
                _percent(row["recall"]),
                _percent(row["f1"]),
                str(row["support"]),
            )
        console.print(table)
        labels = testing["confusion"]["labels"]
        confusion = Table("true \\ predicted", *labels, title="confusion matrix")
        for label, row in zip(labels, testing["confusion"]["matrix"], strict=True):
            confusion.add_row(label, *[str(v) for v in row])
        console.print(confusion)
        console.print(
            f"accuracy [bold]{_percent(testing['accuracy'])}[/] · macro F1 "
            f"{_percent(testing['macro']['f1'])} · uncertain (top score < "
            f"{testing['uncertain_below']}) {_percent(testing['uncertain_rate'])} · "
            f"calibration error {testing['calibration_error']:.3f}"
        )
    elif "mae" in testing:
        console.print(f"MAE {testing['mae']:.4g} · RMSE {testing['rmse']:.4g} · R² {testing['r2']}")
    if "anomaly" in metrics:
        anomaly = metrics["anomaly"]
        auc = f" · ROC AUC {anomaly['roc_auc']:.3f}" if "roc_auc" in anomaly else ""
        console.print(
            f"anomaly: threshold {anomaly['threshold']:.4g} · flagged "
            f"{_percent(anomaly['flagged_rate'])} of testing windows{auc}"
        )


def train(
    ctx: typer.Context,
    recipe: Annotated[Path, typer.Option("--recipe", help="Recipe file (.yaml, .yml or .json)")],
    data: Annotated[
        str | None, typer.Option("--data", help="Dataset version id or prefix (default: newest)")
    ] = None,
    seed: Annotated[int, typer.Option(min=0, help="Random seed: same seed, same model")] = 0,
    parent: Annotated[
        str | None, typer.Option(help="The model this one follows (lineage), e.g. production")
    ] = None,
    project: ProjectOpt = None,
    workers: Annotated[
        int | None, typer.Option(min=1, help="Processes for feature extraction (default: 1)")
    ] = None,
    plot: PlotOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Train a recipe on a dataset version, test it on the testing split, register the model.

    Example: edgeops train --recipe motion.yaml --seed 1 --plot confusion.png
    """
    with workspace(ctx) as ws:
        parsed = load_recipe_file(recipe)
        progress = Progress(
            TextColumn("training"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[status]}"),
            console=errors,
            transient=True,
            disable=as_json,
        )
        task = progress.add_task("epochs", total=None, status="")

        def on_epoch(epoch: int, total: int, metrics: dict[str, float]) -> None:
            status = " · ".join(f"{k} {v:.4f}" for k, v in metrics.items())
            progress.update(task, completed=epoch, total=total, status=status)

        with ProgressBar("extracting", quiet=as_json) as advance:
            features_progress = advance
            with progress:
                model = ws.train(
                    parsed,
                    data,
                    project=project,
                    seed=seed,
                    parent=parent,
                    workers=workers,
                    progress=features_progress,
                    on_epoch=on_epoch,
                )
        if plot is not None:
            from edgeops.training import plots

            plots.confusion(model.metrics, plot, f"{model.name} v{model.number}")
        summary = registry.summary(model.version)
    if as_json:
        print_json(summary)
        return
    console.print(
        f"[bold]model v{summary['number']}[/] · {summary['learner']} on dataset "
        f"{summary['dataset_version'][:12]} · recipe {summary['recipe_hash'][:12]} · "
        f"seed {seed}"
    )
    _print_metrics(summary["metrics"])
    if plot is not None:
        console.print(f"confusion matrix: {plot}")


def test(
    ctx: typer.Context,
    model: ModelArg,
    data: Annotated[
        str | None,
        typer.Option(
            "--data",
            help="Test on this dataset version's testing split (default: "
            "the version the model was trained on)",
        ),
    ] = None,
    project: ProjectOpt = None,
    plot: PlotOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Test a registered model on a dataset version's testing split.

    Example: edgeops test production --data 3f2a --plot confusion.svg
    """
    from edgeops.training import plots
    from edgeops.training.train import evaluate_model

    with workspace(ctx) as ws:
        found = ws.models.get(model, project=project)
        with ProgressBar("extracting", quiet=as_json) as advance:
            report = evaluate_model(ws, found.version, data, project=project, progress=advance)
        if plot is not None:
            plots.confusion(report["metrics"], plot, f"{found.name} v{found.number}")
    if as_json:
        print_json(report)
        return
    console.print(f"[bold]{report['model']}[/] on dataset {report['dataset_version'][:12]}")
    _print_metrics(report["metrics"])


@app.command("list")
def list_(ctx: typer.Context, project: ProjectOpt = None, as_json: JsonOpt = False) -> None:
    """Every model version of the project, oldest first, with aliases and test accuracy."""
    with workspace(ctx) as ws:
        models = ws.models.list(project=project)
    if as_json:
        print_json(
            [{k: v for k, v in m.items() if k not in ("metrics", "training")} for m in models]
        )
        return
    table = Table(
        "model",
        "aliases",
        "learner",
        "dataset",
        "recipe",
        "seed",
        "accuracy",
        "created",
        box=box.SIMPLE_HEAD,
        padding=(0, 1, 0, 0),
    )
    for m in models:
        table.add_row(
            m["model"],
            ", ".join(m["aliases"]),
            m["learner"],
            m["dataset_version"][:8],
            m["recipe_hash"][:8],
            str(m["seed"]),
            _percent(m["accuracy"]),
            m["created_at"][:10],
        )
    console.print(table if models else "no models yet: run `edgeops train --recipe R`")


@app.command()
def show(
    ctx: typer.Context, model: ModelArg, project: ProjectOpt = None, as_json: JsonOpt = False
) -> None:
    """One model: lineage, metrics and artifacts."""
    with workspace(ctx) as ws:
        summary = ws.models.show(model, project=project)
    if as_json:
        print_json(summary)
        return
    lineage = Table.grid(padding=(0, 2))
    for key in (
        "model",
        "aliases",
        "name",
        "task",
        "learner",
        "labels",
        "dataset_version",
        "recipe_hash",
        "parent",
        "blocks",
        "seed",
        "edgeops_version",
        "created_by",
        "created_at",
    ):
        lineage.add_row(f"[bold]{key}", str(summary[key]))
    console.print(lineage)
    _print_metrics(summary["metrics"])


@app.command()
def compare(
    ctx: typer.Context,
    a: ModelArg,
    b: Annotated[str, typer.Argument(help="The model to compare with A (deltas are B - A)")],
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Headline metrics of two models side by side, and what differs in their lineage.

    Example: edgeops models compare production latest
    """
    with workspace(ctx) as ws:
        report = ws.models.compare(a, b, project=project)
    if as_json:
        print_json(report)
        return
    table = Table("metric", report["a"], report["b"], "B - A")
    for row in report["metrics"]:
        delta = "-" if row["delta"] is None else f"{row['delta']:+.4f}"
        if row["b_better"] is not None:
            delta = f"[{'green' if row['b_better'] else 'red'}]{delta}[/]"
        table.add_row(row["metric"], _number(row["a"]), _number(row["b"]), delta)
    console.print(table)
    for field, values in report["lineage_differs"].items():
        console.print(f"{field}: {values['a']} → {values['b']}", highlight=False)


@app.command()
def alias(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="production, staging or candidate")],
    model: ModelArg,
    project: ProjectOpt = None,
) -> None:
    """Point an alias at a model version (audited).

    Example: edgeops models alias production v4
    """
    with workspace(ctx) as ws:
        registry.check_alias(name)
        target = ws.models.get(model, project=project)
        before = ws.models.alias(name, f"v{target.number}", project=project)
    moved = f" (was {before})" if before else ""
    console.print(f"{name} → v{target.number}{moved}", highlight=False)


@app.command("import")
def import_(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="An ONNX file (see compiler/onnx_import.py)")],
    recipe: Annotated[Path, typer.Option("--recipe", help="The recipe whose features it reads")],
    labels: Annotated[
        str | None, typer.Option("--labels", help="Class names, one per output: a,b,c")
    ] = None,
    data: Annotated[
        str | None, typer.Option("--data", help="Dataset version to test on (default: newest)")
    ] = None,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Bring your own model: register an ONNX file behind a recipe's feature blocks.

    Example: edgeops models import net.onnx --labels idle,walk,run --recipe motion.yaml
    """
    from edgeops.targets.byom import import_onnx

    with workspace(ctx) as ws:
        names = [x.strip() for x in labels.split(",")] if labels else None
        model = import_onnx(ws, path, load_recipe_file(recipe), labels=names, data=data,
                            project=project)  # fmt: skip
        summary = registry.summary(model)
    if as_json:
        print_json(summary)
        return
    console.print(f"[bold]model v{summary['number']}[/] · imported {path.name} · "
                  f"accuracy {_percent(summary['accuracy'])}")  # fmt: skip
