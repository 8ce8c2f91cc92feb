"""Blobs the ingestion server committed outside the blob store's one-file-per-blob layout:

- packed (local blob stores): in pack files beside the blob store, for good (`store.packs`);
- staged (object stores, and projects that encrypt their data): in a database table with their
  rows, moved to the blob store in bulk by `flush`.

`read` is how sample blobs are read: the blob store first, then the packs, then staging.
"""

from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from edgeops.errors import CorruptBlob, NotFound
from edgeops.store import packs, rawsql
from edgeops.store.blobs import BlobStore, sha256
from edgeops.store.tables import PackedBlob, StagedBlob, utcnow


def pack_folder(blobs: BlobStore) -> Path | None:
    """Where packs go: beside the blobs, when they are on a local (or mounted) file system, so
    every process and host that reads the blobs reads the packs too. None for object stores."""
    return Path(blobs.root) / "packs" if blobs.is_local else None


def stage(connection: Connection, blobs: dict[str, bytes]) -> None:
    """Add blobs (digest → bytes) to `connection`'s transaction, skipping those already
    staged."""
    if not blobs:
        return
    staged_at = utcnow()
    _insert(
        connection,
        StagedBlob,
        [{"digest": d, "data": b, "staged_at": staged_at} for d, b in blobs.items()],
    )


def stage_packed(connection: Connection, places: list[tuple[str, str, int, int]]) -> None:
    """Record where blobs already durable in packs are, as (digest, pack, start, size) from
    `PackWriter.append`; a blob packed before keeps its first place."""
    if not places:
        return
    packed_at = utcnow()
    rows = [
        {"digest": d, "pack": p, "start": start, "size": size, "packed_at": packed_at}
        for d, p, start, size in places
    ]
    _insert(connection, PackedBlob, rows)


def _insert(
    connection: Connection, table: type[StagedBlob | PackedBlob], rows: list[dict[str, Any]]
) -> None:
    # One statement, executed many times by the driver: no lookup first, no ORM objects.
    raw = rawsql.cursor(connection)
    if raw is not None:
        rawsql.insert(connection.dialect, table.__tablename__, "ON CONFLICT DO NOTHING").many(
            raw, rows
        )
    else:
        connection.execute(_insert_statement(connection.dialect.name, table.__tablename__), rows)


@cache
def _insert_statement(dialect_name: str, name: str) -> Any:
    """Built once per dialect (the ingestion committer runs it for every group)."""
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    return dialect.insert(StagedBlob.metadata.tables[name]).on_conflict_do_nothing()


def read(session: Session, blobs: BlobStore, digest: str) -> bytes:
    """A sample blob, from wherever it is."""
    try:
        return blobs.get(digest)
    except (NotFound, CorruptBlob):  # CorruptBlob: a staged blob being moved (written in place)
        packed = session.get(PackedBlob, digest)
        folder = pack_folder(blobs)
        if packed is not None and folder is not None:
            return packs.read(folder, packed.pack, packed.start, packed.size, digest)
        data = session.scalar(select(StagedBlob.data).where(StagedBlob.digest == digest))
        if data is None:
            raise
        if sha256(data) != digest:
            raise CorruptBlob(f"staged blob {digest[:12]} does not match its SHA-256") from None
        return data


def unpack(session: Session, blobs: BlobStore, digest: str, into: BlobStore) -> bool:
    """Move a packed blob into `into` (e.g. a sealing view of the blob store), synced, then
    erase it from its pack (in `session`; the caller commits). False if it is not packed."""
    packed = session.get(PackedBlob, digest)
    folder = pack_folder(blobs)
    if packed is None or folder is None:
        return False
    into.put(packs.read(folder, packed.pack, packed.start, packed.size, digest))
    into.sync()
    return remove_packed(session, blobs, digest)


def remove_packed(session: Session, blobs: BlobStore, digest: str) -> bool:
    """Erase a packed blob's bytes and its place (in `session`; the caller commits)."""
    packed = session.get(PackedBlob, digest)
    folder = pack_folder(blobs)
    if packed is None:
        return False
    if folder is not None:
        packs.erase(folder, packed.pack, packed.start, packed.size)
    session.delete(packed)
    session.flush()
    return True


def flush(sessions: sessionmaker[Session], blobs: BlobStore, limit: int = 2000) -> int:
    """Move up to `limit` staged blobs to the blob store: write them, make them durable with one
    sync, then delete their rows. A crash in between leaves rows that the next flush moves again
    (writing a blob that exists is a no-op). Returns how many moved."""
    with sessions() as session:
        staged = session.execute(select(StagedBlob.digest, StagedBlob.data).limit(limit)).all()
    if not staged:
        return 0
    for _digest, data in staged:
        blobs.put(data)  # a no-op for a blob already there
    blobs.sync()
    with sessions() as session:
        digests = [digest for digest, _ in staged]
        session.execute(delete(StagedBlob).where(StagedBlob.digest.in_(digests)))
        session.commit()
    return len(staged)
