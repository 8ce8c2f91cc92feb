"""`edgeops data …`: import, inspect, label, split and version samples."""

from pathlib import Path
from typing import Annotated

import numpy as np
import typer
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
from edgeops.data import importing, samples, versions
from edgeops.data.importing import LabelFrom

app = typer.Typer(help="Samples and dataset versions: import, label, split, commit, diff.")

IdsArg = Annotated[list[int], typer.Argument(help="Sample ids (see `edgeops data list`)")]


@app.command("import")
def import_(
    ctx: typer.Context,
    paths: Annotated[list[Path], typer.Argument(help="Files or folders (searched recursively)")],
    project: ProjectOpt = None,
    label: Annotated[str | None, typer.Option(help="Label every file with this")] = None,
    label_from: Annotated[
        str, typer.Option(help="Without --label: 'name' (label.xxx.json), 'folder' or 'none'")
    ] = "name",
    category: Annotated[
        str | None,
        typer.Option(help="'training' or 'testing'; default: stratified 80/20 split"),
    ] = None,
    hmac_key: Annotated[
        str | None,
        typer.Option(
            envvar="EDGEOPS_HMAC_KEY",
            help="Verify Edge Impulse signatures with this key (the variable keeps it "
            "out of shell history and process lists)",
        ),
    ] = None,
    interval_ms: Annotated[
        float | None, typer.Option(min=0.0001, help="Sampling interval of CSV files without time")
    ] = None,
    subject: Annotated[
        str | None, typer.Option(help="Who was recorded (for privacy requests later)")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Import .json/.cbor (Edge Impulse), .csv, .wav, .png and .jpg files.

    Example: edgeops data import recordings/ --label-from folder
    """
    if label_from not in ("name", "folder", "none"):
        raise typer.BadParameter("use 'name', 'folder' or 'none'", param_hint="--label-from")
    mode: LabelFrom = label_from  # type: ignore[assignment]
    with workspace(ctx) as ws, ProgressBar("importing", quiet=as_json) as advance:
        report = ws.data.import_files(
            paths, project=project, label=label, label_from=mode, category=category,
            hmac_key=hmac_key, interval_ms=interval_ms, subject_id=subject,
            progress=advance,
        )  # fmt: skip
    if as_json:
        print_json(report.as_dict())
    else:
        for path, message in report.failures:
            errors.print(f"[red]failed[/] {path}: {message}", highlight=False, soft_wrap=True)
        for path, sample_id in report.duplicates:
            errors.print(f"[yellow]duplicate[/] {path} (same data as sample {sample_id})")
        console.print(" · ".join(importing.summary(report)))
    if report.failures:
        raise typer.Exit(2)


@app.command("list")
def list_(
    ctx: typer.Context,
    project: ProjectOpt = None,
    label: Annotated[str | None, typer.Option(help="Only this label")] = None,
    category: Annotated[str | None, typer.Option(help="Only 'training' or 'testing'")] = None,
    version: Annotated[
        str | None, typer.Option(help="List a dataset version's samples as committed")
    ] = None,
    limit: Annotated[int | None, typer.Option(min=1)] = None,
    as_json: JsonOpt = False,
) -> None:
    """List samples (now, or as they were in a dataset version)."""
    with workspace(ctx) as ws:
        if version is not None:
            entries = sorted(ws.data.read_version(version, project=project), key=lambda e: e["id"])
            rows = [
                entry for entry in entries
                if (label is None or entry["label"] == label)
                and (category is None or entry["category"] == category)
            ][:limit]  # fmt: skip
        else:
            found = ws.data.samples(project=project, label=label, category=category, limit=limit)
            rows = [samples.record(sample) for sample in found]
        redacted = ws.data.redactions(project=project) if version is not None else {}
    if as_json:
        print_json(rows)
        return
    table = Table("id", "label", "category", "kind", "shape", "file")
    for row in rows:
        shape = "x".join(str(n) for n in row["shape"])
        table.add_row(str(row["id"]), row["label"] or "-", row["category"], row["kind"], shape,
                      row["filename"])  # fmt: skip
    console.print(table)
    console.print(_samples(len(rows)))
    erased = [r for v, r in redacted.items() if version is not None and v.startswith(version)]
    if erased:
        note = f"{erased[0]['erased']} sample(s) of this version were erased by privacy requests"
        console.print(f"[yellow]redacted:[/] {note} and are left out (see `edgeops audit`)")


@app.command()
def show(
    ctx: typer.Context,
    sample_id: Annotated[int, typer.Argument(help="Sample id")],
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show one sample: its fields and per-axis statistics of its values."""
    with workspace(ctx) as ws:
        sample = ws.data.get(sample_id, project=project)
        array = ws.data.values(sample)
    record = samples.record(sample)
    axes = array.reshape(array.shape[0], -1).astype(np.float64)
    names = [s["name"] for s in sample.sensors] if sample.kind != "image" else ["pixel"]
    stats = [
        {"axis": names[i] if i < len(names) else str(i), "min": float(axes[:, i].min()),
         "max": float(axes[:, i].max()), "mean": float(axes[:, i].mean())}
        for i in range(min(axes.shape[1], len(names)))
    ]  # fmt: skip
    if as_json:
        print_json({**record, "stats": stats})
        return
    for key, value in record.items():
        console.print(f"[bold]{key:>14}[/]  {value}", highlight=False)
    table = Table("axis", "min", "max", "mean")
    for row in stats:
        table.add_row(
            str(row["axis"]), f"{row['min']:.4g}", f"{row['max']:.4g}", f"{row['mean']:.4g}"
        )
    console.print(table)


@app.command()
def label(
    ctx: typer.Context,
    ids: IdsArg,
    to: Annotated[str, typer.Option("--label", help="The new label")],
    project: ProjectOpt = None,
) -> None:
    """Relabel samples (committed versions keep their old labels)."""
    with workspace(ctx) as ws:
        changed = ws.data.label(ids, to, project=project)
    console.print(f"{_samples(len(changed))} labelled [bold]{to}[/]")


@app.command()
def move(
    ctx: typer.Context,
    ids: IdsArg,
    category: Annotated[str, typer.Option(help="'training' or 'testing'")],
    project: ProjectOpt = None,
) -> None:
    """Move samples between the training and testing sets."""
    with workspace(ctx) as ws:
        moved = ws.data.move(ids, category, project=project)
    console.print(f"{_samples(len(moved))} moved to [bold]{category}[/]")


@app.command()
def rm(ctx: typer.Context, ids: IdsArg, project: ProjectOpt = None) -> None:
    """Remove samples (committed versions still hold them)."""
    with workspace(ctx) as ws:
        removed = ws.data.remove(ids, project=project)
    console.print(f"{_samples(len(removed))} removed")


@app.command()
def commit(
    ctx: typer.Context,
    message: Annotated[str, typer.Option("--message", "-m", help="What changed")],
    project: ProjectOpt = None,
    author: Annotated[str | None, typer.Option(help="Default: EDGEOPS_USER or your login")] = None,
) -> None:
    """Snapshot the current samples as a new dataset version."""
    with workspace(ctx) as ws:
        version = ws.data.commit(message, project=project, author=author)
    console.print(
        f"dataset version [bold]{version.id[:12]}[/] · {version.sample_count} samples",
        highlight=False,
    )


@app.command("versions")
def versions_(ctx: typer.Context, project: ProjectOpt = None, as_json: JsonOpt = False) -> None:
    """List dataset versions, newest first."""
    with workspace(ctx) as ws:
        found = ws.data.versions(project=project)
        redacted = ws.data.redactions(project=project)
    if as_json:
        print_json([versions.record(v, redacted.get(v.id)) for v in found])
        return
    table = Table("version", "created", "author", "samples", "train/test", "message")
    for v in found:
        split = v.counts["categories"]
        train_test = f"{split.get('training', 0)}/{split.get('testing', 0)}"
        created = f"{v.created_at:%Y-%m-%d %H:%M}"
        count, message = str(v.sample_count), v.message
        if v.id in redacted:  # counts are as committed; the erased samples are gone
            count += f" (-{redacted[v.id]['erased']} erased)"
            message += " (redacted by a privacy erasure)"
        table.add_row(v.id[:12], created, v.author, count, train_test, message)
    console.print(table)


@app.command()
def diff(
    ctx: typer.Context,
    old: Annotated[str, typer.Argument(help="Older version id (or prefix)")],
    new: Annotated[str, typer.Argument(help="Newer version id (or prefix)")],
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show samples added, removed, relabelled and moved between two versions."""
    with workspace(ctx) as ws:
        change = ws.data.diff(old, new, project=project)
    if as_json:
        print_json(change.as_dict())
        return
    for sign, style, entries in (("+", "green", change.added), ("-", "red", change.removed)):
        for e in entries:
            where = f"{e['label']} ({e['category']}) {e['filename']}"
            console.print(f"[{style}]{sign} {e['id']:>6}[/] {where}")
    for entry in change.relabelled:
        console.print(f"[yellow]~ {entry['id']:>6}[/] label {entry['from']} → {entry['to']}")
    for entry in change.moved:
        console.print(f"[cyan]> {entry['id']:>6}[/] {entry['from']} → {entry['to']}")
    console.print(
        f"{len(change.added)} added · {len(change.removed)} removed · "
        f"{len(change.relabelled)} relabelled · {len(change.moved)} moved"
    )


def _samples(count: int) -> str:
    return f"{count} sample" if count == 1 else f"{count} samples"
