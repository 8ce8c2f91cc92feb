"""The to-label queue worked off: a person (or an oracle) labels the raw windows collected after
a drift alert, and each becomes a sample like an upload, so the next dataset version holds the
new reality; windows nobody should train on are discarded.

A labelled window's sample keeps the window exactly as the device sent it as its original file
(`original_hash` is the queue item's digest): that is the link from item to sample, and needs
no column of its own.
"""

import io
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from edgeops.data import samples, versions
from edgeops.data.formats import ParsedSample, Sensor
from edgeops.data.ingest import check_target, split_category
from edgeops.errors import Conflict, InvalidInput, NotFound
from edgeops.governance import audit
from edgeops.store import staging
from edgeops.store.blobs import BlobStore, sha256
from edgeops.store.tables import CollectRequest, LabelItem, ModelVersion, Project, Sample

STATUSES = ("to-label", "labelled", "discarded")
SOURCE = "label-queue"


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def check_status(status: str | None) -> str | None:
    if status is not None and status not in STATUSES:
        raise InvalidInput(f"unknown status {status!r}: use {', '.join(STATUSES)} or all")
    return status


def items(
    session: Session,
    project: Project,
    *,
    status: str | None = "to-label",
    device: str | None = None,
    alert: int | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Queue items, newest first (`status` None: all), with the sample of each labelled one."""
    query = select(LabelItem).where(LabelItem.project_id == project.id)
    if check_status(status) is not None:
        query = query.where(LabelItem.status == status)
    if device is not None:
        query = query.where(LabelItem.device_id == device)
    if alert is not None:
        query = query.join(CollectRequest, CollectRequest.id == LabelItem.request_id).where(
            CollectRequest.alert_id == alert
        )
    rows = session.scalars(query.order_by(LabelItem.id.desc()).limit(limit)).all()
    return _records(session, project, list(rows))


def _records(session: Session, project: Project, rows: list[LabelItem]) -> list[dict[str, Any]]:
    labelled = {r.digest for r in rows if r.status == "labelled"}
    found = session.execute(
        select(Sample.original_hash, Sample.id, Sample.label, Sample.category).where(
            Sample.project_id == project.id, Sample.original_hash.in_(labelled)
        )
    ).all()
    by_digest = {digest: (i, label, category) for digest, i, label, category in found}
    alerts = dict(
        session.execute(
            select(CollectRequest.id, CollectRequest.alert_id).where(
                CollectRequest.id.in_({r.request_id for r in rows if r.request_id is not None})
            )
        ).all()
    )
    records = []
    for r in rows:
        sample = by_digest.get(r.digest) if r.status == "labelled" else None
        records.append(
            {
                "id": r.id,
                "status": r.status,
                "device": r.device_id,
                "model": f"v{r.model_number}",
                "recorded_at": _aware(r.recorded_at).isoformat(),
                "request": r.request_id,
                "alert": alerts.get(r.request_id) if r.request_id is not None else None,
                "digest": r.digest,
                "length": r.length,
                "sample": sample[0] if sample else None,
                "label": sample[1] if sample else None,
                "category": sample[2] if sample else None,
            }
        )
    return records


def _get(session: Session, project: Project, ids: list[int]) -> list[LabelItem]:
    if not ids:
        raise InvalidInput("name at least one queue item id (see `edgeops monitor queue list`)")
    found = {
        item.id: item
        for item in session.scalars(
            select(LabelItem).where(LabelItem.project_id == project.id, LabelItem.id.in_(ids))
        )
    }
    missing = [i for i in ids if i not in found]
    if missing:
        raise NotFound(f"no queue item {', '.join(map(str, missing))} in project {project.name}")
    items_ = [found[i] for i in dict.fromkeys(ids)]
    done = [f"{i.id} ({i.status})" for i in items_ if i.status != "to-label"]
    if done:
        raise Conflict(f"queue item(s) {', '.join(done)} already handled; nothing was changed")
    return items_


def _layout(session: Session, blobs: BlobStore, project: Project, model: int) -> ParsedSample:
    """The sensors and timing of the samples model `model` was trained on: a window is flat
    numbers, and becomes a sample shaped like them."""
    version = session.scalar(
        select(ModelVersion).where(
            ModelVersion.project_id == project.id, ModelVersion.number == model
        )
    )
    if version is None:
        raise NotFound(f"model v{model} of the window is not in project {project.name}")
    dataset = versions.get(session, project, version.dataset_version_id)
    entry = next(
        (e for e in versions.read_manifest(session, blobs, dataset) if e["kind"] == "timeseries"),
        None,
    )
    if entry is None:
        raise InvalidInput(
            f"model v{model} was not trained on time series: windows cannot be samples"
        )
    sensors = [Sensor(s["name"], s["units"]) for s in entry["sensors"]]
    return ParsedSample(
        "timeseries", np.empty((0, len(sensors))), "npy", sensors, entry["interval_ms"]
    )


def label(
    session: Session,
    blobs: BlobStore,
    project: Project,
    ids: list[int],
    label_: str,
    actor: str,
    *,
    category: str = "training",
    sample_blobs: BlobStore | None = None,
) -> list[dict[str, Any]]:
    """Turn queue items into samples labelled `label_` in `category` (training, testing, or
    split: the content hash sends about one in five to testing), all or none, and mark them
    labelled. New sample blobs go to `sample_blobs` (an encrypted project's sealing store),
    else `blobs`. The caller commits with `store.db.commit`."""
    label_ = samples.validate_label(label_)
    target = check_target(category)
    queued = _get(session, project, ids)
    alerts: dict[int, int | None] = dict(
        session.execute(
            select(CollectRequest.id, CollectRequest.alert_id).where(
                CollectRequest.id.in_({i.request_id for i in queued if i.request_id is not None})
            )
        ).all()
    )
    layouts: dict[int, ParsedSample] = {}
    rows, canonicals = [], {}
    for item in queued:
        if item.model_number not in layouts:
            layouts[item.model_number] = _layout(session, blobs, project, item.model_number)
        layout = layouts[item.model_number]
        raw = staging.read(session, blobs, item.digest)
        flat = np.load(io.BytesIO(raw), allow_pickle=False).astype(np.float32)
        axes = len(layout.sensors)
        if flat.size == 0 or flat.size % axes:
            raise InvalidInput(
                f"queue item {item.id}: {flat.size} numbers do not make rows of {axes} sensors"
            )
        parsed = ParsedSample(
            "timeseries", flat.reshape(-1, axes), "npy", layout.sensors, layout.interval_ms,
            device_name=item.device_id,
            metadata={
                "collected_at": _aware(item.recorded_at).isoformat(),
                "collected_by_model": f"v{item.model_number}",
                "label_queue_item": str(item.id),
                **_for_alert(alerts, item.request_id),
            },
        )  # fmt: skip
        canonical = samples.canonical_bytes(parsed.values)
        content_hash = sha256(canonical)
        row = samples.new_row(
            project.id, parsed, content_hash=content_hash, original_hash=item.digest,
            filename=f"collected.{item.id}.npy", label=label_, source=SOURCE,
        )  # fmt: skip
        row["category"] = split_category(content_hash) if target == "split" else target
        rows.append(row)
        canonicals[content_hash] = canonical
    inserted = samples.insert_new(session.connection(), rows)
    clash = [r["filename"] for r in rows if (project.id, r["content_hash"]) not in inserted]
    if clash:
        raise Conflict(f"{', '.join(clash)}: the project already holds this data; discard them")
    for canonical in canonicals.values():
        (sample_blobs or blobs).put(canonical)
    for item in queued:
        item.status = "labelled"
    made = {
        item.id: inserted[(project.id, row["content_hash"])]
        for item, row in zip(queued, rows, strict=True)
    }
    audit.record_many(
        session.connection(),
        [
            audit.Entry(actor, "sample.ingest", f"{len(made)} samples", project.id,
                        {"ids": sorted(made.values()), "source": SOURCE}),
            audit.Entry(actor, "label_queue.label", f"{len(made)} windows", project.id,
                        {"items": {str(k): v for k, v in made.items()}, "label": label_,
                         "category": category}),
        ],
    )  # fmt: skip
    session.flush()
    return _records(session, project, queued)


def _for_alert(alerts: dict[int, int | None], request: int | None) -> dict[str, str]:
    alert = alerts.get(request) if request is not None else None
    return {"collected_for_alert": str(alert)} if alert is not None else {}


def discard(session: Session, project: Project, ids: list[int], actor: str) -> list[dict[str, Any]]:
    """Mark queue items discarded (never to be labelled); the caller commits."""
    queued = _get(session, project, ids)
    for item in queued:
        item.status = "discarded"
    audit.record(
        session, actor, "label_queue.discard", f"{len(queued)} windows", project.id,
        {"items": [i.id for i in queued]},
    )  # fmt: skip
    session.flush()
    return _records(session, project, queued)
