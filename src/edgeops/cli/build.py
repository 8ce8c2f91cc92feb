"""`edgeops build`: compile a model version for a target (C library, Arduino library, Linux
shared library, .eim runner, ONNX), optionally verify it on the testing split, and record it."""

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from edgeops.cli.context import JsonOpt, ProjectOpt, console, errors, print_json, workspace

TargetOpt = Annotated[str, typer.Option("--target", "-t", help="c, arduino, linux, eim or onnx")]


def _size(value: Any) -> str:
    return "-" if value is None else f"{value / 1024:.1f} KiB"


def _print(report: dict[str, Any]) -> None:
    console.print(
        f"[bold]{report['model']}[/] → {report['target']} ({report['precision']}) in "
        f"{report['output']} · {len(report['files'])} files · archive {report['archive'][:12]}"
    )
    table = Table("measure", "value", title="build")
    table.add_row("MACs per inference", f"{report['macs']:,}")
    table.add_row("arena", f"{report['arena_bytes']:,} bytes")
    footprint = report["footprint"]
    if footprint:
        where = footprint["measured_on"]
        table.add_row(f"flash ({where}: text + rodata + data)", _size(footprint["flash_bytes"]))
        table.add_row(f"RAM ({where}: data + bss + stack)", _size(footprint["ram_bytes"]))
        table.add_row("stack estimate", f"{footprint['stack_estimate_bytes']:,} bytes")
    console.print(table)
    cycles = Table("profile", "clock", "cycles / inference", "time", title="estimated cost")
    for row in report["cycles"]:
        cycles.add_row(row["profile"], f"{row['clock_mhz']:g} MHz", f"{row['cycles']:,}",
                       f"{row['microseconds']:,} µs")  # fmt: skip
    console.print(cycles)
    console.print("[dim]model only (feature extraction not modelled); see targets/profiles.py[/]")
    verified = report["verify"]
    if verified is None:
        return
    checks = Table("check", "value", "target", "result", title=f"verify on {verified['rows']} "
                   "testing windows")  # fmt: skip
    for check in report["checks"]:
        result = "[green]pass[/]" if check["passed"] else "[red]FAIL[/]"
        checks.add_row(check["name"], str(check["value"]), check["target"], result)
    for key in ("float_accuracy_percent", "compiled_accuracy_percent",
                "end_to_end_max_abs_error", "feature_max_abs_error"):  # fmt: skip
        if verified.get(key) is not None:
            checks.add_row(key.replace("_", " "), f"{verified[key]:.6g}", "", "")
    console.print(checks)


def build(
    ctx: typer.Context,
    model: Annotated[str, typer.Argument(help="A model: vN, N, latest, production, staging…")],
    target: TargetOpt,
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write the build into")],
    int8: Annotated[
        bool | None,
        typer.Option(
            "--int8/--float",
            help="Precision (default: int8 where the model has int8 kernels, else float)",
        ),
    ] = None,
    verify: Annotated[
        bool, typer.Option("--verify", help="Compile and run every testing window, compare")
    ] = False,
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Build a model for a target; with --verify, check it against Python on the testing split.

    Example: edgeops build production --target c --verify -o build/
    """
    from edgeops import targets

    with workspace(ctx) as ws:
        report = targets.build(ws, model, target, out, quantized=int8, verify=verify,
                               project=project).as_dict()  # fmt: skip
    if as_json:
        print_json(report)
    else:
        _print(report)
    if not report["passed"]:
        failed = ", ".join(c["name"] for c in report["checks"] if not c["passed"])
        errors.print(f"[red]verify failed:[/] {failed} (the build is recorded; see above)")
        raise typer.Exit(1)
