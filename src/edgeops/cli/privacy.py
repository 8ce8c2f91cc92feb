"""`edgeops privacy …`: a data subject's requests — erasure and access (export)."""

from pathlib import Path
from typing import Annotated

import typer

from edgeops.cli.context import JsonOpt, ProjectOpt, console, print_json, workspace

app = typer.Typer(help="Data subjects' requests: erase their samples, export what is stored.")

SubjectOpt = Annotated[str, typer.Option("--subject", "-s", help="The subject id of the samples")]


@app.command()
def erase(
    ctx: typer.Context,
    subject: SubjectOpt,
    project: ProjectOpt = None,
    reason: Annotated[str, typer.Option(help="Why, for the certificate (e.g. a ticket)")] = "",
    purge_feature_cache: Annotated[
        bool, typer.Option(help="Also clear the whole feature cache (rebuilt on demand)")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Erase a subject's samples (blobs, rows, cached features), redact the dataset versions
    that held them, flag models trained on them; the certificate goes to the audit log.

    Example: edgeops privacy erase --subject participant-17 --reason "GDPR request #42"
    """
    from edgeops.governance.privacy import erase as erase_subject

    if not yes and not typer.confirm(f"Erase every sample of subject {subject!r}? It is final"):
        raise typer.Exit(1)
    with workspace(ctx) as ws:
        certificate = erase_subject(ws, subject, project=project, reason=reason,
                                    purge_feature_cache=purge_feature_cache)  # fmt: skip
    if as_json:
        print_json(certificate)
        return
    if not certificate["projects"]:
        console.print(f"nothing stored for subject {subject!r}: nothing erased")
        return
    for part in certificate["projects"]:
        versions = ", ".join(v["id"][:12] for v in part["dataset_versions_redacted"]) or "none"
        models = ", ".join(part["models_retrain_required"]) or "none"
        console.print(
            f"[bold]{part['project']}[/]: {part['samples_erased']} samples, "
            f"{part['blobs_deleted']} blobs, {part['feature_cache_entries_deleted']} cached "
            f"feature entries erased · redacted versions: {versions} · retrain required: {models}"
        )
    console.print(f"erasure certificate {certificate['erasure']} recorded in the audit log")


@app.command("export")
def export_subject(
    ctx: typer.Context,
    subject: SubjectOpt,
    out: Annotated[Path, typer.Option("-o", "--out", help="The zip to write")],
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Everything stored about a subject (an access request): records and original files.

    Example: edgeops privacy export --subject participant-17 -o participant-17.zip
    """
    from edgeops.governance.privacy import export

    with workspace(ctx) as ws:
        summary = export(ws, subject, out, project=project)
    if as_json:
        print_json(summary)
        return
    count = sum(len(part["samples"]) for part in summary["projects"])
    console.print(f"wrote [bold]{out}[/]: {count} samples of subject {subject!r}")
