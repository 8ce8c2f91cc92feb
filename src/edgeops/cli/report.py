"""`edgeops report …`: governance reports on a model version — fairness across groups, the
model card, and a compliance bundle for auditors."""

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from edgeops.cli.context import JsonOpt, ProjectOpt, console, errors, print_json, workspace

app = typer.Typer(help="Governance reports: fairness, model cards, compliance bundles.")

ModelArg = Annotated[str, typer.Argument(help="A model: vN, N, latest, production, staging…")]
ByOpt = Annotated[str, typer.Option("--by", help="Sample metadata key to group by (or device_id)")]
ThresholdOpt = Annotated[
    float,
    typer.Option(help="Largest accuracy gap / equalized odds difference that passes", min=0, max=1),
]


def _value(value: Any) -> str:
    return "-" if value is None else f"{value:.3f}"


@app.command()
def fairness(
    ctx: typer.Context,
    model: ModelArg,
    by: ByOpt,
    threshold: ThresholdOpt = 0.1,
    data: Annotated[
        str | None, typer.Option("--data", help="Dataset version (default: the model's own)")
    ] = None,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Write per-group bars here (.png or .svg)")
    ] = None,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Per-group metrics and disparities on the testing split; exit 1 if a gap exceeds the
    threshold.

    Example: edgeops report fairness production --by site --threshold 0.05 --plot fair.png
    """
    from edgeops.governance.fairness import fairness_report
    from edgeops.governance.fairness import plot as plot_report

    with workspace(ctx) as ws:
        report = fairness_report(ws, model, by, project=project, data=data, threshold=threshold)
        if plot is not None:
            plot_report(report, plot)
    if as_json:
        print_json(report)
    else:
        _print_fairness(report)
    if not report["passed"]:
        raise typer.Exit(1)


def _print_fairness(report: dict[str, Any]) -> None:
    disparities = report["disparities"]
    table = Table(report["by"], "windows", "accuracy", "recall", "samples", "labels",
                  title=f"{report['model']} on {report['dataset_version'][:12]}")  # fmt: skip
    for name, row in disparities["groups"].items():
        balance = report["balance"].get(name, {})
        labels = ", ".join(f"{k} {v}" for k, v in balance.get("labels", {}).items())
        table.add_row(name, str(row["windows"]), _value(row["accuracy"]), _value(row["recall"]),
                      str(balance.get("samples", 0)), labels)  # fmt: skip
    console.print(table)
    console.print(
        f"accuracy gap {_value(disparities['accuracy_gap'])} · equalized odds difference "
        f"{_value(disparities['equalized_odds_difference'])} · demographic parity difference "
        f"{_value(disparities['demographic_parity_difference'])} · threshold "
        f"{report['threshold']:g}"
    )
    if report["passed"]:
        console.print("[green]fairness gate passed[/]")
    for reason in report["reasons"]:
        errors.print(f"[red]gate failed:[/] {reason}", highlight=False)
