"""Privacy requests about a data subject (`samples.subject_id`): erasure and access (export).

Erasure removes the subject's samples everywhere they are stored — sample rows, the original
and canonical blobs (in the blob store and in the staging table), their feature-cache entries —
and rewrites every dataset version that held them: its manifest blob is deleted and replaced by a
redacted one (the other samples, plus a tombstone per erased sample: its id, nothing else).
Models trained on such a version are flagged "retrain required". The audit log is the record:
a `dataset.redact` event per version (naming the redacted manifest), a `model.retrain-required`
event per model, and one `privacy.erase` event per project, the erasure certificate. No record
holds the subject id itself, only its SHA-256, so "was S erased?" can be answered later.

Limits, stated in the certificate: feature-cache entries are found through the recipes (and
fitted states) of registered models; entries of recipes only explored ad hoc cannot be traced
back to a sample — `purge_feature_cache=True` clears the whole cache (it is rebuilt on demand).
Fitted models may have memorised something of the data; that is what "retrain required" means.
On SQLite the database is vacuumed afterwards so deleted rows leave no bytes in the file; on
PostgreSQL run VACUUM on `samples`, `staged_blobs` and `data_keys` to the same end.

In a project encrypted at rest (governance/encryption.py) the subject's data key is deleted as
well, so copies of their blobs outside the store (backups, object versions) cannot be read.
Retention (governance/retention.py) removes expired samples through `remove_samples` too."""

import hashlib
import io
import json
import uuid
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from edgeops.data.versions import REDACT
from edgeops.errors import NotFound
from edgeops.governance import audit
from edgeops.governance.encryption import forget_keys, shred
from edgeops.store import staging
from edgeops.store.tables import (
    DatasetVersion,
    ModelVersion,
    Project,
    Sample,
    StagedBlob,
    utcnow,
)

if TYPE_CHECKING:
    from edgeops.store.blobs import BlobStore
    from edgeops.workspace import Workspace

RETRAIN = "model.retrain-required"
ERASE = "privacy.erase"
EXPORT = "privacy.export"
REDACTED_FORMAT = "edgeops.redacted-manifest/1"


def subject_hash(subject: str) -> str:
    return hashlib.sha256(subject.encode()).hexdigest()


def redaction(session: Session, project_id: int, version_id: str) -> dict[str, Any] | None:
    """The newest `dataset.redact` event's details for a version, or None if never redacted."""
    from edgeops.data import versions

    version = session.get(DatasetVersion, version_id)
    return None if version is None else versions.redaction(session, version)


def read_manifest(
    session: Session, blobs: "BlobStore", version: DatasetVersion
) -> list[dict[str, Any]]:
    """A version's sample entries, following redactions (erased samples are left out)."""
    from edgeops.data import versions

    return versions.read_manifest(session, blobs, version)


def retrain_required(session: Session, model: ModelVersion) -> list[dict[str, Any]]:
    """The erasures that flagged `model` (their details), newest first."""
    events = audit.events(session, model.project_id, 10_000, action=RETRAIN)
    return [dict(e.details) for e in events if e.target == f"model:v{model.number}"]


def _projects(session: Session, project: str | None) -> list[Project]:
    from edgeops.data import projects

    if project is not None:
        return [projects.get(session, project)]
    return list(session.scalars(select(Project).order_by(Project.id)))


def _versions(session: Session, project: Project) -> list[DatasetVersion]:
    query = select(DatasetVersion).where(DatasetVersion.project_id == project.id)
    return list(session.scalars(query.order_by(DatasetVersion.created_at)))


def _remove_blob(session: Session, blobs: "BlobStore", digest: str) -> bool:
    path = blobs.path(digest)
    found = bool(blobs.fs.exists(path))
    if found:
        blobs.fs.rm(path)
    staged = session.execute(delete(StagedBlob).where(StagedBlob.digest == digest))
    packed = staging.remove_packed(session, blobs, digest)
    return found or packed or bool(getattr(staged, "rowcount", 0))


def _feature_cache(
    ws: "Workspace", models: Iterable[ModelVersion], content_hashes: set[str], purge: bool
) -> int:
    """Delete the cache entries of `content_hashes` under every registered model's recipe and
    states (or the whole cache with `purge`); returns how many entries went."""
    from edgeops.recipes.extract import FeatureCache, cache_key
    from edgeops.recipes.spec import Recipe
    from edgeops.training import registry

    cache = FeatureCache(ws.blobs)
    if purge:
        found = cache.fs.find(cache.root) if cache.fs.exists(cache.root) else []
        if found:
            cache.fs.rm(cache.root, recursive=True)
        return len(found)
    removed = 0
    for model in models:
        recipe = Recipe.model_validate(model.recipe)
        states = tuple(registry.feature_states(ws.blobs, model))
        for content_hash in content_hashes:
            path = cache._path(cache_key(content_hash, recipe, states))
            if cache.fs.exists(path):
                cache.fs.rm(path)
                removed += 1
    return removed


def erase(
    ws: "Workspace",
    subject: str,
    *,
    project: str | None = None,
    reason: str = "",
    purge_feature_cache: bool = False,
) -> dict[str, Any]:
    """Erase subject `subject` from `project` (default: every project); returns the certificate
    (also recorded in the audit log). Safe to run again: a second run finds nothing to erase."""
    from edgeops.data.samples import validate_subject

    subject = validate_subject(subject)
    erasure = uuid.uuid4().hex
    certificate: dict[str, Any] = {
        "erasure": erasure,
        "subject_sha256": subject_hash(subject),
        "requested_by": ws.actor,
        "reason": reason,
        "at": audit.canonical_time(utcnow()),
        "projects": [],
    }
    with ws.session() as session:
        secure_delete(session)
        for proj in _projects(session, project):
            rows = list(session.scalars(
                select(Sample).where(Sample.project_id == proj.id, Sample.subject_id == subject)
            ))  # fmt: skip
            part = remove_samples(
                ws, session, proj, rows, lambda entry: entry.get("subject_id") == subject,
                erasure=erasure, flag_models=True, purge_feature_cache=purge_feature_cache,
            )  # fmt: skip
            shredded = shred(session, proj, subject)
            if part is None and not shredded:
                continue
            part = (part or _nothing(proj)) | {"key_shredded": shredded}
            audit.record(session, ws.actor, ERASE, f"subject:{certificate['subject_sha256'][:16]}",
                         proj.id, {**certificate, "projects": None, **part})  # fmt: skip
            certificate["projects"].append(part)
        ws.blobs.sync()
        session.commit()
    forget_keys(ws)
    if certificate["projects"]:
        compact(ws)
    return certificate


def _nothing(proj: Project) -> dict[str, Any]:
    return {"project": proj.name, "samples_erased": 0, "blobs_deleted": 0,
            "feature_cache_entries_deleted": 0, "feature_cache_purged": False,
            "dataset_versions_redacted": [], "models_retrain_required": []}  # fmt: skip


def secure_delete(session: Session) -> None:
    """SQLite: overwrite deleted content with zeros, so a deleted row leaves no bytes behind."""
    if session.get_bind().dialect.name == "sqlite":
        session.connection().exec_driver_sql("PRAGMA secure_delete=ON")


def remove_samples(
    ws: "Workspace",
    session: Session,
    proj: Project,
    rows: list[Sample],
    match: Callable[[dict[str, Any]], bool],
    *,
    erasure: str,
    flag_models: bool,
    purge_feature_cache: bool = False,
) -> dict[str, Any] | None:
    """Remove `rows` and every manifest entry `match` selects from `proj`: their blobs, rows and
    cached features go, each version holding such entries is redacted (audited, in `session`;
    the caller commits), and with `flag_models` the models trained on those versions are
    flagged "retrain required". Returns what was done, or None if nothing matched."""
    from edgeops.data.versions import manifest_bytes

    digests = {d for s in rows for d in (s.content_hash, s.original_hash)}
    content = {s.content_hash for s in rows}
    redacted: list[dict[str, Any]] = []
    for version in _versions(session, proj):
        entries = read_manifest(session, ws.blobs, version)
        gone = [e for e in entries if match(e)]
        if not gone:
            continue
        digests |= {d for e in gone for d in (e["content_hash"], e["original_hash"])}
        content |= {e["content_hash"] for e in gone}
        kept = [e for e in entries if not match(e)]
        document = json.loads(manifest_bytes(kept))
        document["format"], document["redacted_from"] = REDACTED_FORMAT, version.id
        document["tombstones"] = sorted(
            [*_tombstones(session, ws.blobs, version), *({"id": e["id"]} for e in gone)],
            key=lambda t: t["id"],
        )
        digest = ws.blobs.put(json.dumps(document, sort_keys=True).encode())
        previous = redaction(session, proj.id, version.id)
        for old in (version.id, previous["manifest"] if previous else None):
            if old is not None and old != digest:
                _remove_blob(session, ws.blobs, old)
        redacted.append({"id": version.id, "manifest": digest, "tombstones": len(gone)})
    if not digests:
        return None
    models = list(session.scalars(select(ModelVersion).where(
        ModelVersion.project_id == proj.id)))  # fmt: skip
    affected = {v["id"] for v in redacted}
    flagged = [m for m in models if m.dataset_version_id in affected] if flag_models else []
    cache_entries = _feature_cache(ws, models, content, purge_feature_cache)
    deleted = sum(_remove_blob(session, ws.blobs, d) for d in sorted(digests))
    for row in rows:
        session.delete(row)
    for done in redacted:
        details = {"erasure": erasure, "manifest": done["manifest"],
                   "tombstones": done["tombstones"]}  # fmt: skip
        audit.record(session, ws.actor, REDACT, done["id"], proj.id, details)
    for model in flagged:
        details = {"erasure": erasure, "dataset_version": model.dataset_version_id}
        audit.record(session, ws.actor, RETRAIN, f"model:v{model.number}", proj.id, details)
    return {
        "project": proj.name,
        "samples_erased": len(rows),
        "blobs_deleted": deleted,
        "feature_cache_entries_deleted": cache_entries,
        "feature_cache_purged": purge_feature_cache,
        "dataset_versions_redacted": redacted,
        "models_retrain_required": [f"v{m.number}" for m in flagged],
    }


def _tombstones(session: Session, blobs: "BlobStore", version: DatasetVersion) -> list[Any]:
    """Tombstones of earlier erasures from this version."""
    previous = redaction(session, version.project_id, version.id)
    if previous is None:
        return []
    tombstones: list[Any] = json.loads(blobs.get(previous["manifest"])).get("tombstones", [])
    return tombstones


def compact(ws: "Workspace") -> None:
    """SQLite: rewrite the file without the freed pages, and fold the WAL back in."""
    if ws.engine.dialect.name != "sqlite":
        return
    # The raw connection: SQLAlchemy's begin hook would wrap VACUUM in a transaction.
    connection = ws.engine.raw_connection()
    try:
        cursor = connection.cursor()
        cursor.execute("VACUUM")
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        cursor.close()
    finally:
        connection.close()


def export(
    ws: "Workspace", subject: str, out: Path, *, project: str | None = None
) -> dict[str, Any]:
    """An access request: everything stored about `subject` as a zip — `subject.json` (the
    sample records, the dataset versions and models that used them) and each original file
    under `samples/`. Returns the summary written as `subject.json`."""
    from edgeops.data.samples import record, validate_subject
    from edgeops.store import staging

    subject = validate_subject(subject)
    files: dict[str, bytes] = {}
    summary: dict[str, Any] = {"subject": subject, "projects": []}
    with ws.session() as session:
        for proj in _projects(session, project):
            rows = list(session.scalars(
                select(Sample).where(Sample.project_id == proj.id, Sample.subject_id == subject)
                .order_by(Sample.id)
            ))  # fmt: skip
            if not rows:
                continue
            hashes = {s.content_hash for s in rows}
            versions = [
                v.id for v in _versions(session, proj)
                if any(e["content_hash"] in hashes for e in read_manifest(session, ws.blobs, v))
            ]  # fmt: skip
            models = session.scalars(select(ModelVersion).where(
                ModelVersion.project_id == proj.id,
                ModelVersion.dataset_version_id.in_(versions)))  # fmt: skip
            for sample in rows:
                name = f"samples/{proj.name}/{sample.id}-{Path(sample.filename).name}"
                files[name] = staging.read(session, ws.blobs, sample.original_hash)
            summary["projects"].append({
                "project": proj.name,
                "samples": [record(s) for s in rows],
                "dataset_versions": versions,
                "models": [f"v{m.number}" for m in models],
            })  # fmt: skip
        if not summary["projects"]:
            raise NotFound(f"no samples of subject {subject!r} are stored")
        for part in summary["projects"]:
            proj_id = next(p.id for p in _projects(session, part["project"]))
            audit.record(session, ws.actor, EXPORT, f"subject:{subject_hash(subject)[:16]}",
                         proj_id, {"samples": len(part["samples"])})  # fmt: skip
        session.commit()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("subject.json", json.dumps(summary, indent=2, default=str) + "\n")
        for name, data in sorted(files.items()):
            archive.writestr(name, data)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(buffer.getvalue())
    return summary
