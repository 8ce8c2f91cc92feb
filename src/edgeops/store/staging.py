"""Staged blobs: blobs committed with the rows that use them, then moved to the blob store in
bulk. Their bytes are in the staging row (`stage`) or in a pack file (`stage_packed`, for local
blob stores; see `store.packs`). Readers look in the blob store first and here second."""

from collections import defaultdict
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session, sessionmaker

from edgeops.errors import CorruptBlob, NotFound
from edgeops.store import packs, rawsql
from edgeops.store.blobs import BlobStore, sha256
from edgeops.store.tables import StagedBlob, utcnow


def pack_folder(blobs: BlobStore) -> Path | None:
    """Where packs go: beside the blobs, when they are on a local (or mounted) file system, so
    every process and host that reads the blobs reads the packs too. None for object stores,
    whose staged blobs stay in the database."""
    return Path(blobs.root) / "packs" if blobs.is_local else None


def stage(session: Session, blobs: dict[str, bytes]) -> None:
    """Add blobs (digest → bytes) to the session's transaction, skipping those already staged."""
    if not blobs:
        return
    staged_at = utcnow()
    _insert(session, [{"digest": d, "data": b, "staged_at": staged_at} for d, b in blobs.items()])


def stage_packed(session: Session, places: list[tuple[str, str, int, int]]) -> None:
    """Add blobs already durable in packs, as (digest, pack, start, size) from
    `PackWriter.append`, to the session's transaction."""
    if not places:
        return
    staged_at = utcnow()
    _insert(
        session,
        [
            {"digest": d, "pack": p, "start": start, "size": size, "staged_at": staged_at}
            for d, p, start, size in places
        ],
    )


def _insert(session: Session, rows: list[dict[str, Any]]) -> None:
    # One statement, executed many times by the driver: no lookup first, no ORM objects.
    connection = session.connection()
    raw = rawsql.cursor(connection)
    if raw is not None:
        _raw_stage(connection.dialect).many(raw, rows)
    else:
        connection.execute(_stage_statement(connection.dialect.name), rows)


@cache
def _raw_stage(dialect: Dialect) -> rawsql.Insert:
    table = StagedBlob.metadata.tables[StagedBlob.__tablename__]
    return rawsql.Insert(table, [c.name for c in table.columns], dialect, "ON CONFLICT DO NOTHING")


@cache
def _stage_statement(dialect_name: str) -> Any:
    """Built once per dialect (the ingestion committer stages blobs for every group)."""
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    return dialect.insert(
        StagedBlob.metadata.tables[StagedBlob.__tablename__]
    ).on_conflict_do_nothing()


def read(session: Session, blobs: BlobStore, digest: str) -> bytes:
    """A blob from the blob store, or from staging if it has not moved yet (or is being moved:
    the mover writes blob files in place)."""
    try:
        return blobs.get(digest)
    except (NotFound, CorruptBlob):
        row = session.execute(
            select(StagedBlob.data, StagedBlob.pack, StagedBlob.start, StagedBlob.size).where(
                StagedBlob.digest == digest
            )
        ).first()
        if row is None:
            raise
        data = _bytes(pack_folder(blobs), digest, *row)
        if sha256(data) != digest:
            raise CorruptBlob(f"staged blob {digest[:12]} does not match its SHA-256") from None
        return data


def _bytes(
    folder: Path | None, digest: str, data: bytes | None, pack: str | None, start: Any, size: Any
) -> bytes:
    if data is not None:
        return data
    if folder is None or pack is None:
        raise NotFound(f"staged blob {digest[:12]} is in a pack this blob store cannot reach")
    return packs.read(folder, pack, int(start), int(size), digest)


def flush(sessions: sessionmaker[Session], blobs: BlobStore, limit: int = 2000) -> int:
    """Move up to `limit` staged blobs to the blob store: write them, make them durable with one
    sync, delete their rows, then the packs nothing points into any more. A crash in between
    leaves rows that the next flush moves again (writing a blob that exists is a no-op).
    Returns how many moved."""
    columns = (StagedBlob.digest, StagedBlob.data, StagedBlob.pack, StagedBlob.start)
    with sessions() as session:
        staged = session.execute(select(*columns, StagedBlob.size).limit(limit)).all()
    folder = pack_folder(blobs)
    moved = []
    by_pack: dict[str, list[Any]] = defaultdict(list)
    for row in staged:
        if row.data is not None:
            blobs.put(row.data)  # a no-op for a blob already there
            moved.append(row.digest)
        else:
            by_pack[row.pack].append(row)
    for pack, rows in by_pack.items():
        moved += _move_pack(folder, pack, rows, blobs)
    if moved:
        blobs.sync()
        with sessions() as session:
            session.execute(delete(StagedBlob).where(StagedBlob.digest.in_(moved)))
            session.commit()
    if folder is not None:
        packs.remove_unused(folder, lambda: _packs_in_use(sessions))
    return len(moved)


def _move_pack(folder: Path | None, pack: str, rows: list[Any], blobs: BlobStore) -> list[str]:
    """Put a pack's staged blobs in the blob store, reading the pack once; a pack already gone
    (another process moved its blobs and deleted it) moves nothing."""
    if folder is None:
        return []
    try:
        content = packs.read_all(folder, pack)
    except NotFound:
        return []
    for row in rows:
        data = content[row.start : row.start + row.size]
        if sha256(data) != row.digest:
            raise CorruptBlob(f"blob {row.digest[:12]} in pack {pack} does not match its SHA-256")
        blobs.put(data)
    return [row.digest for row in rows]


def _packs_in_use(sessions: sessionmaker[Session]) -> set[str]:
    with sessions() as session:
        query = select(StagedBlob.pack).where(StagedBlob.pack.is_not(None)).distinct()
        return {name for name in session.scalars(query) if name is not None}
