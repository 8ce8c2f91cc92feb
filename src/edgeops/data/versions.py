"""Dataset versions: immutable, content-addressed snapshots of a project's samples and labels.

A version is a manifest blob (canonical JSON, one entry per sample, sorted by content hash);
its id is the manifest's SHA-256. The manifest names the sample blobs, so an old version reads
back exactly however the samples change later — except after a privacy erasure: then the
committed manifest is gone and a redacted one (the other samples, plus a tombstone per erased
sample) takes its place, named by the version's newest `dataset.redact` audit event.
"""

import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from edgeops.data import samples
from edgeops.errors import Conflict, InvalidInput, NotFound
from edgeops.governance import audit
from edgeops.store import db
from edgeops.store.blobs import BlobStore
from edgeops.store.tables import AuditEvent, DatasetVersion, Project

MANIFEST_FORMAT = 1
REDACT = "dataset.redact"
_ENTRY_FIELDS = (
    "id", "kind", "label", "category", "filename", "format", "shape", "interval_ms",
    "sample_rate", "sensors", "metadata", "device_id", "subject_id", "source",
    "content_hash", "original_hash",
)  # fmt: skip


def manifest_bytes(entries: list[dict[str, Any]]) -> bytes:
    """Canonical JSON: sorted keys, no spaces, entries sorted by content hash."""
    document = {
        "format": MANIFEST_FORMAT,
        "samples": sorted(entries, key=lambda entry: entry["content_hash"]),
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def counts(entries: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-label and per-category counts, stored on the version for quick listing."""
    labels: dict[str, Counter[str]] = {}
    for entry in entries:
        if entry["label"] is not None:
            labels.setdefault(entry["label"], Counter())[entry["category"]] += 1
    return {
        "categories": dict(Counter(entry["category"] for entry in entries)),
        "labels": {label: dict(by_category) for label, by_category in sorted(labels.items())},
        "unlabeled": sum(entry["label"] is None for entry in entries),
    }


def head(session: Session, project: Project) -> DatasetVersion | None:
    return session.scalar(
        select(DatasetVersion)
        .where(DatasetVersion.project_id == project.id)
        .order_by(DatasetVersion.created_at.desc(), DatasetVersion.id)
        .limit(1)
    )


def commit(
    session: Session, blobs: BlobStore, project: Project, message: str, author: str
) -> DatasetVersion:
    """Snapshot the project's current samples as an immutable, content-addressed version."""
    if not message.strip():
        raise InvalidInput("a commit needs a message: pass -m 'what changed'")
    entries = [
        {key: samples.record(sample)[key] for key in _ENTRY_FIELDS}
        for sample in samples.list_samples(session, project)
    ]
    if not entries:
        raise Conflict(
            "the project has no samples to commit: import some with `edgeops data import`"
        )
    version_id = blobs.put(manifest_bytes(entries))
    existing = session.get(DatasetVersion, version_id)
    if existing is not None:
        raise Conflict(
            f"nothing to commit: the samples are exactly as in version {version_id[:12]} "
            f"({existing.message!r})"
        )
    parent = head(session, project)
    version = DatasetVersion(
        id=version_id,
        project_id=project.id,
        parent_id=parent.id if parent else None,
        message=message.strip(),
        author=author,
        sample_count=len(entries),
        counts=counts(entries),
    )
    session.add(version)
    audit.record(session, author, "dataset.commit", version_id, project.id, {"message": message})
    db.commit(session, blobs)
    return version


def list_versions(session: Session, project: Project) -> list[DatasetVersion]:
    return list(
        session.scalars(
            select(DatasetVersion)
            .where(DatasetVersion.project_id == project.id)
            .order_by(DatasetVersion.created_at.desc(), DatasetVersion.id)
        )
    )


def get(session: Session, project: Project, ref: str) -> DatasetVersion:
    """A version by id or unique prefix (at least 4 hex digits), like git's short ids."""
    ref = ref.strip().lower()
    if len(ref) < 4 or any(c not in "0123456789abcdef" for c in ref):
        raise InvalidInput(f"{ref!r} is not a version id: give at least 4 hex digits of one")
    matches = list(
        session.scalars(
            select(DatasetVersion)
            .where(DatasetVersion.project_id == project.id, DatasetVersion.id.startswith(ref))
            .limit(2)
        )
    )
    if not matches:
        raise NotFound(
            f"project {project.name!r} has no dataset version {ref} (see `edgeops data versions`)"
        )
    if len(matches) > 1:
        raise InvalidInput(f"version prefix {ref} is ambiguous: give more digits")
    return matches[0]


def redactions(session: Session, project_id: int) -> dict[str, dict[str, Any]]:
    """Each redacted version of a project → its newest redaction (the `dataset.redact` event's
    details: the redacted manifest's address, the erasure, how many samples went), with how
    many erasures touched it and when the last one was."""
    found: dict[str, dict[str, Any]] = {}
    query = (
        select(AuditEvent)
        .where(AuditEvent.project_id == project_id, AuditEvent.action == REDACT)
        .order_by(AuditEvent.id.desc())
    )
    for event in session.scalars(query):
        erased = int(event.details.get("tombstones", 0))
        if event.target in found:
            found[event.target]["erasures"] += 1
            found[event.target]["erased"] += erased
        else:
            found[event.target] = {
                **event.details,
                "erasures": 1,
                "erased": erased,
                "at": event.at.isoformat(),
            }
    return found


def redaction(session: Session, version: DatasetVersion) -> dict[str, Any] | None:
    """The newest redaction of `version` (see `redactions`), or None if it was never redacted."""
    event = session.scalar(
        select(AuditEvent)
        .where(
            AuditEvent.project_id == version.project_id,
            AuditEvent.action == REDACT,
            AuditEvent.target == version.id,
        )
        .order_by(AuditEvent.id.desc())
        .limit(1)
    )
    return None if event is None else {**event.details, "at": event.at.isoformat()}


def read_document(session: Session, blobs: BlobStore, version: DatasetVersion) -> dict[str, Any]:
    """The version's manifest document: as committed, or its newest redacted form (which adds
    `tombstones`, one `{"id": …}` per erased sample, and `redacted_from`)."""
    redacted = redaction(session, version)
    document: dict[str, Any] = json.loads(
        blobs.get(version.id if redacted is None else redacted["manifest"])
    )
    return document


def read_manifest(
    session: Session, blobs: BlobStore, version: DatasetVersion
) -> list[dict[str, Any]]:
    """The version's samples as committed (labels and categories of then), without the samples
    a privacy erasure removed since."""
    entries: list[dict[str, Any]] = read_document(session, blobs, version)["samples"]
    return entries


@dataclass
class Diff:
    added: list[dict[str, Any]]
    removed: list[dict[str, Any]]
    relabelled: list[dict[str, Any]]
    moved: list[dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        return {
            "added": self.added,
            "removed": self.removed,
            "relabelled": self.relabelled,
            "moved": self.moved,
        }


def diff(session: Session, blobs: BlobStore, old: DatasetVersion, new: DatasetVersion) -> Diff:
    """What changed from `old` to `new`, matching samples by content hash (a sample erased
    since is in neither)."""
    before = {entry["content_hash"]: entry for entry in read_manifest(session, blobs, old)}
    after = {entry["content_hash"]: entry for entry in read_manifest(session, blobs, new)}

    def brief(entry: dict[str, Any]) -> dict[str, Any]:
        return {key: entry[key] for key in ("id", "filename", "label", "category")}

    both = sorted(before.keys() & after.keys(), key=lambda h: after[h]["id"])
    return Diff(
        added=sorted((brief(after[h]) for h in after.keys() - before.keys()), key=_by_id),
        removed=sorted((brief(before[h]) for h in before.keys() - after.keys()), key=_by_id),
        relabelled=[
            {"id": after[h]["id"], "filename": after[h]["filename"],
             "from": before[h]["label"], "to": after[h]["label"]}
            for h in both if before[h]["label"] != after[h]["label"]
        ],
        moved=[
            {"id": after[h]["id"], "filename": after[h]["filename"],
             "from": before[h]["category"], "to": after[h]["category"]}
            for h in both if before[h]["category"] != after[h]["category"]
        ],
    )  # fmt: skip


def _by_id(entry: dict[str, Any]) -> int:
    return int(entry["id"])


def record(version: DatasetVersion, redacted: dict[str, Any] | None = None) -> dict[str, Any]:
    """The version's stable public fields (CLI --json, REST API); `redacted` is its redaction
    (see `redactions`), shown so that nobody mistakes a redacted version for the original."""
    return {
        "id": version.id,
        "short_id": version.id[:12],
        "parent_id": version.parent_id,
        "message": version.message,
        "author": version.author,
        "sample_count": version.sample_count,
        "counts": version.counts,
        "created_at": version.created_at.isoformat(),
        "redacted": None if redacted is None else {
            "manifest": redacted["manifest"],
            "erasures": redacted.get("erasures", 1),
            "samples_erased": redacted.get("erased", redacted.get("tombstones", 0)),
            "last_erasure_at": redacted["at"],
        },
    }  # fmt: skip
