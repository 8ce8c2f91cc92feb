"""Data pages: the sample list with filters, one sample's plot, sound or picture, relabel /
move / delete, and upload through the server's ingestion (the same path devices use)."""

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from edgeops.data import projects, samples
from edgeops.data.importing import label_for
from edgeops.data.ingest import Destination, Upload, check_target
from edgeops.errors import EdgeopsError, InvalidInput, NotFound
from edgeops.governance.roles import Permission
from edgeops.server.ingestion import ingest
from edgeops.server.ui import charts, sample_media
from edgeops.server.ui.access import Viewer, page
from edgeops.server.ui.render import project_url, redirect, render
from edgeops.store import staging
from edgeops.store.tables import Project, Sample

router = APIRouter(include_in_schema=False)
Read = Annotated[Viewer, page(Permission.DATA_READ)]
Write = Annotated[Viewer, page(Permission.DATA_WRITE)]
PAGE_SIZE = 50


def _day(text: str | None) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise InvalidInput(f"{text!r} is not a date: use YYYY-MM-DD") from exc


def _filtered(project: Project, filters: dict[str, Any]) -> Any:
    """The sample query for the list's filters (label, category, device, created from/to)."""
    query = select(Sample).where(Sample.project_id == project.id)
    if filters["label"]:
        query = query.where(Sample.label == filters["label"])
    if filters["category"]:
        query = query.where(Sample.category == samples.validate_category(filters["category"]))
    if filters["device"]:
        query = query.where(Sample.device_id == filters["device"])
    since, until = _day(filters["since"]), _day(filters["until"])
    if since is not None:
        query = query.where(Sample.created_at >= datetime.combine(since, time(), UTC))
    if until is not None:
        end = datetime.combine(until + timedelta(days=1), time(), UTC)
        query = query.where(Sample.created_at < end)
    return query


MAX_LENGTHS = 50_000  # samples whose length the list's histogram covers


def _lengths(session: Session, query: Any) -> list[float]:
    """Seconds per time series or audio sample of the filtered list (truncated or overlong
    recordings stand out); images have no length."""
    rows = session.execute(
        query.with_only_columns(Sample.shape, Sample.interval_ms, Sample.sample_rate)
        .where(Sample.kind != "image")
        .limit(MAX_LENGTHS)
    )
    seconds = []
    for shape, interval_ms, rate in rows:
        if interval_ms:
            seconds.append(shape[0] * interval_ms / 1000)
        elif rate:
            seconds.append(shape[0] / rate)
    return seconds


def _distinct(session: Session, project: Project, column: Any) -> list[str]:
    rows = session.scalars(
        select(column).where(Sample.project_id == project.id, column.is_not(None)).distinct()
    )
    return sorted(rows)


@router.get("/projects/{project}/data")
def sample_list(
    request: Request,
    project: str,
    viewer: Read,
    label: str = "",
    category: str = "",
    device: str = "",
    since: str = "",
    until: str = "",
    page_number: Annotated[int, Query(alias="page", ge=1, le=1_000_000)] = 1,
) -> Response:
    filters = {"label": label, "category": category, "device": device, "since": since,
               "until": until}  # fmt: skip
    with request.app.state.ws.session() as session:
        found = projects.get(session, project)
        query = _filtered(found, filters)
        total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = list(
            session.scalars(
                query.order_by(Sample.id.desc())
                .offset((page_number - 1) * PAGE_SIZE)
                .limit(PAGE_SIZE)
            )
        )
        lengths = _lengths(session, query)
        context = {
            "rows": rows,
            "lengths": charts.histogram(lengths, title="Recording lengths (s)", bins=20)
            if len(lengths) > 1
            else None,
            "total": total,
            "page_number": page_number,
            "pages": max(1, -(-total // PAGE_SIZE)),
            "filters": filters,
            "labels": _distinct(session, found, Sample.label),
            "devices": _distinct(session, found, Sample.device_id),
            "query": urlencode({k: v for k, v in filters.items() if v}),
        }
    return render(request, viewer, "data/index.html", context, project=project, section="data")


@router.post("/projects/{project}/data/upload")
async def upload(
    request: Request,
    project: str,
    viewer: Write,
    files: Annotated[list[UploadFile], File()],
    label: Annotated[str, Form(max_length=128)] = "",
    category: Annotated[str, Form()] = "split",
) -> Response:
    """Files go through the server's group-committing Ingestor, as device uploads do; the label
    is the form's, or Edge Impulse's `label.anything.ext` file-name convention."""
    ws = request.app.state.ws
    back = project_url(project, "data")
    found = await run_in_threadpool(_project, request, project)
    try:
        destination = Destination(
            project_id=found.id, actor=viewer.actor, source="studio:upload",
            category=check_target(category), hmac_key=found.hmac_key,
            allow_unsigned=found.allow_unsigned, max_bytes=ws.settings.max_file_bytes,
        )  # fmt: skip
        uploads = []
        for file in files:
            name = Path(file.filename or "upload").name
            uploads.append(
                Upload(name, await file.read(), label=label_for(Path(name), label or None, "name"))
            )
    except EdgeopsError as error:
        return redirect(back, error=str(error))
    if not uploads:
        return redirect(back, error="choose at least one file to upload")
    outcomes = await ingest(request, destination, uploads)
    stored = [o for o in outcomes if o.ok]
    failed = [f"{o.filename}: {o.error}" for o in outcomes if not o.ok]
    if failed:
        return redirect(back, error=f"{len(stored)} stored; refused " + "; ".join(failed)[:400])
    if len(stored) == 1:
        return redirect(
            project_url(project, "data", "samples", stored[0].sample_id or 0),
            notice=f"{stored[0].filename} uploaded",
        )
    return redirect(back, notice=f"{len(stored)} samples uploaded")


def _project(request: Request, name: str) -> Project:
    with request.app.state.ws.session() as session:
        return projects.get(session, name)


@router.get("/projects/{project}/data/samples/{sample_id}")
def sample_view(request: Request, project: str, sample_id: int, viewer: Read) -> Response:
    ws = request.app.state.ws
    with ws.session() as session:
        found = projects.get(session, project)
        sample = samples.get(session, found, sample_id)
        values = samples.values(session, ws.blobs, sample.content_hash)
        labels = _distinct(session, found, Sample.label)
    plot = spectrogram = None
    if sample.kind == "timeseries":
        plot = sample_media.time_series_plot(sample, values)
    elif sample.kind == "audio":
        plot = sample_media.time_series_plot(sample, values)
        spectrogram = sample_media.spectrogram_plot(sample, values)
    context = {"sample": sample, "plot": plot, "spectrogram": spectrogram, "labels": labels,
               "record": samples.record(sample), "categories": samples.CATEGORIES}  # fmt: skip
    return render(request, viewer, "data/sample.html", context, project=project, section="data")


@router.get("/projects/{project}/data/samples/{sample_id}/audio.wav")
def sample_audio(request: Request, project: str, sample_id: int, viewer: Read) -> Response:
    sample, values, original = _media(request, project, sample_id, "audio", "wav")
    body = original if original is not None else sample_media.wav_bytes(sample, values)
    return Response(body, media_type="audio/wav")


@router.get("/projects/{project}/data/samples/{sample_id}/image.png")
def sample_image(request: Request, project: str, sample_id: int, viewer: Read) -> Response:
    _, values, _ = _media(request, project, sample_id, "image", None)
    return Response(sample_media.png_bytes(values), media_type="image/png")


def _media(
    request: Request, project: str, sample_id: int, kind: str, original_format: str | None
) -> tuple[Sample, Any, bytes | None]:
    """The sample (of `kind`), its canonical values, and its original file if it has
    `original_format`."""
    ws = request.app.state.ws
    with ws.session() as session:
        sample = samples.get(session, projects.get(session, project), sample_id)
        if sample.kind != kind:
            raise NotFound(f"sample {sample_id} is {sample.kind}, not {kind}")
        values = samples.values(session, ws.blobs, sample.content_hash)
        original = None
        if original_format is not None and sample.original_format == original_format:
            original = staging.read(session, ws.blobs, sample.original_hash)
    return sample, values, original


def _change(
    request: Request, project: str, viewer: Viewer, ids: list[int], action: str, value: str
) -> list[Sample]:
    """One change to samples `ids`, audited as the viewer, committed."""
    with request.app.state.ws.session() as session:
        found = projects.get(session, project)
        if action == "label":
            changed = samples.relabel(session, found, ids, value.strip(), viewer.actor)
        elif action == "move":
            changed = samples.move(session, found, ids, value, viewer.actor)
        elif action == "delete":
            changed = samples.remove(session, found, ids, viewer.actor)
        else:
            raise InvalidInput(f"unknown action {action!r}: use label, move or delete")
        session.commit()
        return changed


@router.post("/projects/{project}/data/samples/{sample_id}/{action}")
def change_sample(
    request: Request,
    project: str,
    sample_id: int,
    action: str,
    viewer: Write,
    value: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    """Relabel (`label`), move to training/testing (`move`) or `delete` one sample."""
    here = project_url(project, "data", "samples", sample_id)
    try:
        _change(request, project, viewer, [sample_id], action, value)
    except EdgeopsError as error:
        return redirect(here, error=str(error))
    if action == "delete":
        return redirect(project_url(project, "data"), notice=f"sample {sample_id} deleted")
    done = {"label": f"labelled {value.strip()!r}", "move": f"moved to {value}"}[action]
    return redirect(here, notice=f"sample {sample_id} {done}")


@router.post("/projects/{project}/data/bulk")
def change_samples(
    request: Request,
    project: str,
    viewer: Write,
    ids: Annotated[list[int], Form()],
    action: Annotated[str, Form()],
    value: Annotated[str, Form(max_length=128)] = "",
    back: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """The list's checkboxes: one action on every ticked sample."""
    target = back if back.startswith(project_url(project, "data")) else project_url(project, "data")
    try:
        changed = _change(request, project, viewer, ids, action, value)
    except EdgeopsError as error:
        return redirect(target, error=str(error))
    return redirect(target, notice=f"{action}: {len(changed)} samples")
