"""Samples: adding recordings to a project, finding, relabelling, moving and removing them."""

import io
import re
from collections.abc import Iterable, Sequence
from functools import cache, lru_cache
from typing import Any, Literal

import numpy as np
from sqlalchemy import Connection, select
from sqlalchemy import insert as sa_insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from edgeops.data.formats import ParsedSample
from edgeops.errors import InvalidInput, NotFound
from edgeops.governance import audit
from edgeops.store import rawsql, staging
from edgeops.store.blobs import BlobStore
from edgeops.store.tables import Project, Sample, utcnow

Category = Literal["training", "testing"]
CATEGORIES: tuple[Category, ...] = ("training", "testing")

_LABEL = re.compile(r"^[\w][\w \-+:()]{0,127}$")


def validate_label(label: str) -> str:
    """Labels become file names on export (`label.id.ext`) and C identifiers on devices, so only
    letters, digits and a few separators are allowed, and no dots."""
    if not _LABEL.match(label) or label != label.strip():
        bad = sorted({c for c in label if not (c.isalnum() or c in "_ -+:()")})
        hint = f" ({' '.join(repr(c) for c in bad)})" if bad else ""
        raise InvalidInput(
            f"label {label!r} is not allowed{hint}: use 1-128 letters, digits, spaces "
            "or _ - + : ( ), not starting with a space or separator"
        )
    return label


def validate_subject(subject_id: str) -> str:
    if not 0 < len(subject_id) <= 128 or not subject_id.isprintable():
        raise InvalidInput(
            f"subject id {subject_id[:40]!r} is not allowed: use 1-128 printable characters"
        )
    return subject_id


def validate_category(category: str) -> Category:
    if category not in CATEGORIES:
        raise InvalidInput(f"category {category!r} is unknown: use 'training' or 'testing'")
    return category


def canonical_bytes(values: np.ndarray) -> bytes:
    """The canonical array as .npy bytes: the same array always gives the same bytes (those of
    `np.save`, whose header is built once per dtype and shape: building it was a quarter of the
    cost of parsing an uploaded sample)."""
    values = np.ascontiguousarray(values)
    if values.dtype.hasobject:
        raise InvalidInput("sample values must be numbers, not Python objects")
    return _npy_header(values.dtype.str, values.shape) + values.tobytes()


@lru_cache(maxsize=256)
def _npy_header(dtype: str, shape: tuple[int, ...]) -> bytes:
    """The header `np.save` writes (format 1.0: an array has at most 64 dimensions, whose
    header always fits it)."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": dtype, "fortran_order": False, "shape": shape}
    )
    return buffer.getvalue()


def new_row(
    project_id: int,
    parsed: ParsedSample,
    *,
    content_hash: str,
    original_hash: str,
    filename: str,
    label: str | None,
    source: str,
    subject_id: str | None = None,
) -> dict[str, Any]:
    """The row for `insert` (after the caller adds its `category`), once the canonical array and
    the original bytes are in the blob store under these hashes."""
    return {
        "project_id": project_id,
        "kind": parsed.kind,
        "label": label,
        "content_hash": content_hash,
        "original_hash": original_hash,
        "original_format": parsed.format,
        "filename": filename[-255:],
        "shape": list(parsed.values.shape),
        "interval_ms": parsed.interval_ms,
        "sample_rate": parsed.sample_rate,
        # Not dataclasses.asdict: its deep copy costs more than the rest of the row.
        "sensors": [{"name": sensor.name, "units": sensor.units} for sensor in parsed.sensors],
        "meta": parsed.metadata,
        "device_id": parsed.device_name,
        "subject_id": subject_id,
        "source": source,
        "created_at": utcnow(),
    }


def insert(session: Session, rows: list[dict[str, Any]]) -> list[int]:
    """Insert rows made by `new_row` in one statement; returns their ids in order. The caller
    commits with `store.db.commit`, which syncs the blobs first."""
    if not rows:
        return []
    # Core, not the ORM's bulk insert: the same single statement at a third of the CPU, which
    # matters on the ingestion path. Rows use attribute names; the table wants column names.
    table = Sample.metadata.tables[Sample.__tablename__]
    columns = [{_COLUMN_OF.get(key, key): value for key, value in row.items()} for row in rows]
    statement = sa_insert(table).returning(table.c.id, sort_by_parameter_order=True)
    return list(session.scalars(statement, columns))


def insert_new(connection: Connection, rows: list[dict[str, Any]]) -> dict[tuple[int, str], int]:
    """Insert rows made by `new_row`, skipping those whose content the project already holds,
    in one statement; returns (project id, content hash) → id of the rows it inserted."""
    if not rows:
        return {}
    columns = [{_COLUMN_OF.get(key, key): value for key, value in row.items()} for row in rows]
    raw = rawsql.cursor(connection)
    if raw is not None:
        statement = rawsql.insert(connection.dialect, Sample.__tablename__, _NEW_ONLY, "id")
        inserted = statement.returning(raw, columns)
    else:
        inserted = list(connection.execute(_insert_new_statement(connection.dialect.name), columns))
    return {(p, h): i for p, h, i in inserted}


_NEW_ONLY = (
    "ON CONFLICT (project_id, content_hash) DO NOTHING RETURNING project_id, content_hash, id"
)


@cache
def _insert_new_statement(dialect_name: str) -> Any:
    """Built once per dialect: building it costs about as much as running it for a group of
    samples, and the ingestion committer runs it for every group."""
    table = Sample.metadata.tables[Sample.__tablename__]
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    return (
        dialect.insert(table)
        .on_conflict_do_nothing(index_elements=["project_id", "content_hash"])
        .returning(table.c.project_id, table.c.content_hash, table.c.id)
    )


_COLUMN_OF = {"meta": "metadata"}


def content_hashes(session: Session, project: Project) -> dict[str, int]:
    """Content hash → sample id for every sample of the project (duplicate detection)."""
    rows = session.execute(
        select(Sample.content_hash, Sample.id).where(Sample.project_id == project.id)
    )
    return {content_hash: sample_id for content_hash, sample_id in rows}


def list_samples(
    session: Session,
    project: Project,
    *,
    label: str | None = None,
    category: str | None = None,
    limit: int | None = None,
) -> list[Sample]:
    query = select(Sample).where(Sample.project_id == project.id).order_by(Sample.id)
    if label is not None:
        query = query.where(Sample.label == label)
    if category is not None:
        query = query.where(Sample.category == validate_category(category))
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


def get_many(session: Session, project: Project, ids: Iterable[int]) -> list[Sample]:
    """The samples with these ids, all of them or a NotFound naming the missing ones."""
    wanted = sorted(set(ids))
    if not wanted:
        raise InvalidInput("no sample ids given")
    found = list(
        session.scalars(
            select(Sample)
            .where(Sample.project_id == project.id, Sample.id.in_(wanted))
            .order_by(Sample.id)
        )
    )
    missing = sorted(set(wanted) - {sample.id for sample in found})
    if missing:
        shown = ", ".join(str(i) for i in missing[:10])
        raise NotFound(f"project {project.name!r} has no sample {shown} (see `edgeops data list`)")
    return found


def get(session: Session, project: Project, sample_id: int) -> Sample:
    return get_many(session, project, [sample_id])[0]


def relabel(
    session: Session, project: Project, ids: Sequence[int], label: str, actor: str
) -> list[Sample]:
    validate_label(label)
    samples = get_many(session, project, ids)
    changes = {sample.id: [sample.label, label] for sample in samples if sample.label != label}
    for sample in samples:
        sample.label = label
    audit.record(session, actor, "sample.relabel", label, project.id, {"changes": changes})
    return samples


def move(
    session: Session, project: Project, ids: Sequence[int], category: str, actor: str
) -> list[Sample]:
    target = validate_category(category)
    samples = get_many(session, project, ids)
    for sample in samples:
        sample.category = target
    audit.record(session, actor, "sample.move", target, project.id, {"ids": sorted(ids)})
    return samples


def remove(session: Session, project: Project, ids: Sequence[int], actor: str) -> list[Sample]:
    """Delete the rows. Blobs stay: committed dataset versions still point at them."""
    samples = get_many(session, project, ids)
    for sample in samples:
        session.delete(sample)
    audit.record(session, actor, "sample.remove", "samples", project.id, {"ids": sorted(ids)})
    return samples


def values(session: Session, blobs: BlobStore, content_hash: str) -> np.ndarray:
    """The canonical array of a sample, read back from its (verified) blob."""
    data = staging.read(session, blobs, content_hash)
    array: np.ndarray = np.load(io.BytesIO(data), allow_pickle=False)
    return array


def record(sample: Sample) -> dict[str, Any]:
    """The sample's stable public fields (CLI --json, REST API)."""
    return {
        "id": sample.id,
        "kind": sample.kind,
        "label": sample.label,
        "category": sample.category,
        "filename": sample.filename,
        "format": sample.original_format,
        "shape": sample.shape,
        "interval_ms": sample.interval_ms,
        "sample_rate": sample.sample_rate,
        "sensors": sample.sensors,
        "metadata": sample.meta,
        "device_id": sample.device_id,
        "subject_id": sample.subject_id,
        "source": sample.source,
        "content_hash": sample.content_hash,
        "original_hash": sample.original_hash,
        "created_at": sample.created_at.isoformat(),
    }
