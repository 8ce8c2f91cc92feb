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


retention = typer.Typer(help="Retention policies: how long a project keeps raw samples.")
app.add_typer(retention, name="retention")


@retention.command("set")
def retention_set(
    ctx: typer.Context,
    days: Annotated[int, typer.Option("--days", help="Keep raw samples this many days")],
    project: ProjectOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Keep a project's raw samples N days; older ones go when the policy is applied, except
    those a released model's dataset version holds.

    Example: edgeops privacy retention set --days 90 -p pump-vibration
    """
    from edgeops.data import projects
    from edgeops.governance import retention as service

    with workspace(ctx) as ws, ws.session() as session:
        proj = projects.get(session, project)
        found = service.record(proj, service.set_policy(session, proj, days, ws.actor))
    if as_json:
        print_json(found)
        return
    console.print(f"[bold]{found['project']}[/] keeps raw samples {days} days (pinned: longer)")


@retention.command("clear")
def retention_clear(ctx: typer.Context, project: ProjectOpt = None) -> None:
    """Remove a project's retention policy: samples stay until removed."""
    from edgeops.data import projects
    from edgeops.governance import retention as service

    with workspace(ctx) as ws, ws.session() as session:
        proj = projects.get(session, project)
        service.clear_policy(session, proj, ws.actor)
    console.print(f"[bold]{proj.name}[/] has no retention policy now")


@retention.command("show")
def retention_show(
    ctx: typer.Context, project: ProjectOpt = None, as_json: JsonOpt = False
) -> None:
    """Show a project's retention policy."""
    from edgeops.data import projects
    from edgeops.governance import retention as service
    from edgeops.store.tables import RetentionPolicy

    with workspace(ctx) as ws, ws.session() as session:
        proj = projects.get(session, project)
        found = service.record(proj, session.get(RetentionPolicy, proj.id))
    if as_json:
        print_json(found)
    elif found["raw_sample_days"] is None:
        console.print(f"[bold]{proj.name}[/]: no retention policy (samples are kept)")
    else:
        console.print(f"[bold]{proj.name}[/]: raw samples kept {found['raw_sample_days']} days, "
                      f"set by {found['updated_by']} at {found['updated_at']}")  # fmt: skip


@retention.command("apply")
def retention_apply(
    ctx: typer.Context,
    project: Annotated[
        str | None,
        typer.Option(
            "--project", "-p", help="Only this project (default: every project with a policy)"
        ),
    ] = None,
    dry_run: Annotated[bool, typer.Option(help="Only list what would be deleted")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Delete the samples older than the policy allows (audited; pinned ones stay).

    Example: edgeops privacy retention apply --dry-run
    """
    from edgeops.governance.retention import apply

    with workspace(ctx) as ws:
        reports = apply(ws, project=project, dry_run=dry_run)
    if as_json:
        print_json(reports)
        return
    if not reports:
        console.print("no project has a retention policy: nothing to do")
    for report in reports:
        verb = "would delete" if dry_run else "deleted"
        count = len(report["expired"]) if dry_run else report["samples_deleted"]
        redacted = len(report["dataset_versions_redacted"])
        console.print(
            f"[bold]{report['project']}[/]: {verb} {count} samples older than "
            f"{report['raw_sample_days']} days · kept {report['kept_pinned']} pinned by releases"
            + ("" if dry_run else f" · redacted {redacted} dataset versions")
        )


encryption_app = typer.Typer(help="Encryption at rest: sample blobs sealed per data subject.")
app.add_typer(encryption_app, name="encryption")


@encryption_app.command("enable")
def encryption_enable(
    ctx: typer.Context, project: ProjectOpt = None, as_json: JsonOpt = False
) -> None:
    """Encrypt a project's sample blobs from now on (AES-256-GCM, a key per data subject), and
    seal the ones it has. The master key is EDGEOPS_MASTER_KEY_FILE (default
    <home>/secrets/master.key): back it up, without it nothing encrypted can be read.

    Example: edgeops privacy encryption enable -p voice-commands
    """
    from edgeops.data import projects
    from edgeops.governance import encryption

    with workspace(ctx) as ws, ws.session() as session:
        found = encryption.enable(ws, session, projects.get(session, project))
    if as_json:
        print_json(found)
        return
    console.print(f"[bold]{found['project']}[/] is encrypted at rest: "
                  f"{found['blobs_sealed']} stored blobs sealed")  # fmt: skip


@encryption_app.command("status")
def encryption_status(
    ctx: typer.Context, project: ProjectOpt = None, as_json: JsonOpt = False
) -> None:
    """Whether a project is encrypted at rest, and how many subject keys it holds."""
    from edgeops.data import projects
    from edgeops.governance import encryption

    with workspace(ctx) as ws, ws.session() as session:
        found = encryption.status(session, projects.get(session, project))
    if as_json:
        print_json(found)
        return
    state = "encrypted at rest" if found["encrypted"] else "not encrypted"
    console.print(f"[bold]{found['project']}[/]: {state} · {found['subject_keys']} subject keys")
