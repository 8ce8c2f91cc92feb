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


IntendedUseOpt = Annotated[
    str | None,
    typer.Option("--intended-use", help="What the model is for (default: from its recipe)"),
]


@app.command("model-card")
def model_card(
    ctx: typer.Context,
    model: ModelArg,
    out: Annotated[
        Path | None, typer.Option("-o", "--out", help="Write the Markdown here (default: stdout)")
    ] = None,
    as_html: Annotated[
        bool, typer.Option("--html", help="Also write HTML (next to -o, or instead on stdout)")
    ] = False,
    intended_use: IntendedUseOpt = None,
    by: Annotated[
        str | None, typer.Option("--by", help="Also report fairness by this metadata key")
    ] = None,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The model card: intended use, lineage, data, metrics, footprint, limitations, releases.

    Example: edgeops report model-card production -o card.md --html --by site
    """
    from edgeops.governance import modelcard
    from edgeops.governance.fairness import fairness_report

    with workspace(ctx) as ws:
        fairness = fairness_report(ws, model, by, project=project) if by else None
        card = modelcard.model_card(
            ws, model, project=project, intended_use=intended_use, fairness=fairness
        )
    if as_json:
        print_json(card["facts"])
        return
    if out is None:
        typer.echo(modelcard.to_html(card) if as_html else modelcard.to_markdown(card))
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(modelcard.to_markdown(card), encoding="utf-8")
    written = [out]
    if as_html:
        written.append(out.with_suffix(".html"))
        written[-1].write_text(modelcard.to_html(card), encoding="utf-8")
    console.print("wrote " + ", ".join(str(path) for path in written))


@app.command()
def compliance(
    ctx: typer.Context,
    model: ModelArg,
    out: Annotated[Path, typer.Option("-o", "--out", help="The bundle to write (.zip)")],
    by: Annotated[
        str | None, typer.Option("--by", help="Include a fairness report by this metadata key")
    ] = None,
    threshold: ThresholdOpt = 0.1,
    intended_use: IntendedUseOpt = None,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """A zip for auditors: model card, data lineage, audit excerpt (verified), fairness, risks.

    Example: edgeops report compliance production -o v3-compliance.zip --by site
    """
    from edgeops.governance.compliance import compliance_bundle

    with workspace(ctx) as ws:
        manifest = compliance_bundle(ws, model, out, project=project, by=by,
                                     threshold=threshold, intended_use=intended_use)  # fmt: skip
    if as_json:
        print_json(manifest)
        return
    console.print(f"wrote [bold]{out}[/]: {', '.join(manifest['files'])}")
    if not manifest["audit_ok"]:
        errors.print("[red]the audit log does not verify[/]: see audit.json and risk-notes.md")
