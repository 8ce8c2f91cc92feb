"""Collect-on-drift: requests that ask devices for raw windows, and the to-label queue the
windows land in (each window a float32 .npy blob)."""

import io
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from edgeops.monitoring.telemetry import Window
from edgeops.store.blobs import BlobStore
from edgeops.store.tables import CollectRequest, LabelItem, Project

DEFAULT_WINDOWS = 50
LIFETIME = timedelta(days=1)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def request(
    session: Session,
    project: Project,
    model_number: int,
    devices: list[str] | None,
    reason: dict[str, Any],
    now: datetime,
    *,
    alert_id: int | None = None,
    windows: int = DEFAULT_WINDOWS,
) -> CollectRequest:
    """Ask `devices` (None: all that run the model) for `windows` raw windows."""
    item = CollectRequest(
        project_id=project.id,
        alert_id=alert_id,
        model_number=model_number,
        devices=devices,
        reason=reason,
        remaining=windows,
        created_at=now,
        expires_at=now + LIFETIME,
    )
    session.add(item)
    session.flush()
    return item


def pending(
    session: Session, project: Project, device: str | None, now: datetime
) -> list[dict[str, Any]]:
    """What a device should do now: the live collect requests that name it (or everyone)."""
    found = session.scalars(
        select(CollectRequest).where(
            CollectRequest.project_id == project.id,
            CollectRequest.remaining > 0,
            CollectRequest.expires_at > now,
        )
    ).all()
    return [
        {
            "command": "collect",
            "collect": item.id,
            "model": item.model_number,
            "windows": item.remaining,
            "features": item.reason.get("features", []),
            "expires_at": _aware(item.expires_at).isoformat(),
        }
        for item in found
        if item.devices is None or (device is not None and device in item.devices)
    ]


def store_windows(
    session: Session, blobs: BlobStore, project: Project, windows: list[Window]
) -> list[LabelItem]:
    """Put windows in the to-label queue (the caller commits); a window answering a request
    counts down what the request still wants."""
    ids = {w.collect for w in windows if w.collect is not None}
    requests = {
        r.id: r
        for r in session.scalars(
            select(CollectRequest).where(
                CollectRequest.project_id == project.id, CollectRequest.id.in_(ids)
            )
        )
    }
    items = []
    for window in windows:
        buffer = io.BytesIO()
        np.save(buffer, window.values.astype(np.float32), allow_pickle=False)
        asked = requests.get(window.collect) if window.collect is not None else None
        if asked is not None:
            asked.remaining = max(0, asked.remaining - 1)
        item = LabelItem(
            project_id=project.id,
            request_id=asked.id if asked else None,
            device_id=window.device,
            model_number=window.model,
            recorded_at=window.time,
            digest=blobs.put(buffer.getvalue()),
            length=len(window.values),
            status="to-label",
        )
        session.add(item)
        items.append(item)
    session.flush()
    return items
