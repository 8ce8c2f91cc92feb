"""Blobs the ingestion server committed outside the blob store's one-file-per-blob layout:

- packed (local blob stores): in pack files beside the blob store, for good (`store.packs`);
- staged (object stores, and projects that encrypt their data): in a database table with their
  rows, moved to the blob store in bulk by `flush`.

A group commit records where its blobs were packed in `packed_blob_log`, a table only ever
appended to, and `merge` moves those places in bulk, sorted, into `packed_blobs`, the index by
digest. Inserted there straight away, each blob cost its group a page of that index, wherever
its digest fell: about 12 of the 32 pages a group of 6 uploads wrote (measured). Readers look in
both.

`read` is how sample blobs are read: the blob store first, then the packs, then staging.
"""

from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, delete, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from edgeops.errors import CorruptBlob, NotFound
from edgeops.store import packs, rawsql
from edgeops.store.blobs import BlobStore, sha256
from edgeops.store.tables import PackedBlob, PackedBlobLog, StagedBlob, utcnow


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
    `PackWriter.append`, in the log that `merge` empties."""
    if not places:
        return
    packed_at = utcnow()
    rows = [
        {"digest": d, "pack": p, "start": start, "size": size, "packed_at": packed_at}
        for d, p, start, size in places
    ]
    raw = rawsql.cursor(connection)
    if raw is not None:
        rawsql.insert(connection.dialect, PackedBlobLog.__tablename__, without="id").many(raw, rows)
    else:
        connection.execute(_LOG_INSERT, rows)


_LOG_INSERT = insert(PackedBlobLog)


def merge(sessions: sessionmaker[Session], limit: int = 10_000, only_full: bool = False) -> int:
    """Move the `limit` oldest places of the log into `packed_blobs`, in digest order, all in
    SQL (with `only_full`, only if `limit` are waiting); a blob packed twice keeps its first
    place. Returns how many left the log.

    The bigger the batch, the fewer index pages each place costs: merged every second (about
    3,600 places), the merges cost about what they saved the commits; merged by 10,000, the
    whole took 11% less CPU than inserting each place with its group (groups of 6, 30,000
    uploads, measured with the mover running)."""
    log = PackedBlobLog
    columns = [log.digest, log.pack, log.start, log.size, log.packed_at]
    with sessions() as session:
        # Locked (on PostgreSQL), so that an erasure deleting one of them waits for this to end
        # and then finds it in packed_blobs; exactly these are copied and deleted.
        ids = list(session.scalars(select(log.id).order_by(log.id).limit(limit).with_for_update()))
        if not ids or (only_full and len(ids) < limit):
            return 0
        taken = select(*columns).where(log.id.in_(ids)).order_by(log.digest, log.id)
        dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
        copy = dialect.insert(PackedBlob).from_select([c.name for c in columns], taken)
        session.execute(copy.on_conflict_do_nothing())
        session.execute(delete(log).where(log.id.in_(ids)))
        session.commit()
    return len(ids)


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


def _place(session: Session, digest: str) -> tuple[str, int, int] | None:
    """Where a blob was first packed, as (pack, start, size); None if it is not packed."""
    merged = session.get(PackedBlob, digest)
    if merged is not None:
        return merged.pack, merged.start, merged.size
    logged = _logged(session, digest)
    return logged[0] if logged else None


def _places(session: Session, digest: str) -> list[tuple[str, int, int]]:
    """Every place a blob was packed in (an upload sent twice is packed twice)."""
    merged = session.get(PackedBlob, digest)
    first = [(merged.pack, merged.start, merged.size)] if merged is not None else []
    return first + _logged(session, digest)


def _logged(session: Session, digest: str) -> list[tuple[str, int, int]]:
    """A blob's places in the log, oldest first. The log has no index on digests (that is
    what it is for): this scans it, 0.6 ms for 10,000 places (measured)."""
    query = (
        select(PackedBlobLog.pack, PackedBlobLog.start, PackedBlobLog.size)
        .where(PackedBlobLog.digest == digest)
        .order_by(PackedBlobLog.id)
    )
    return [(pack, start, size) for pack, start, size in session.execute(query)]


def read(session: Session, blobs: BlobStore, digest: str) -> bytes:
    """A sample blob, from wherever it is."""
    try:
        return blobs.get(digest)
    except (NotFound, CorruptBlob):  # CorruptBlob: a staged blob being moved (written in place)
        place = _place(session, digest)
        folder = pack_folder(blobs)
        if place is not None and folder is not None:
            return packs.read(folder, *place, digest)
        data = session.scalar(select(StagedBlob.data).where(StagedBlob.digest == digest))
        if data is None:
            raise
        if sha256(data) != digest:
            raise CorruptBlob(f"staged blob {digest[:12]} does not match its SHA-256") from None
        return data


def unpack(session: Session, blobs: BlobStore, digest: str, into: BlobStore) -> bool:
    """Move a packed blob into `into` (e.g. a sealing view of the blob store), synced, then
    erase it from its pack (in `session`; the caller commits). False if it is not packed."""
    place = _place(session, digest)
    folder = pack_folder(blobs)
    if place is None or folder is None:
        return False
    into.put(packs.read(folder, *place, digest))
    into.sync()
    return remove_packed(session, blobs, digest)


def remove_packed(session: Session, blobs: BlobStore, digest: str) -> bool:
    """Erase a packed blob's bytes, in every place it was packed, and its places (in
    `session`; the caller commits)."""
    places = _places(session, digest)
    folder = pack_folder(blobs)
    if not places:
        return False
    if folder is not None:
        for place in places:
            packs.erase(folder, *place)
    session.execute(delete(PackedBlobLog).where(PackedBlobLog.digest == digest))
    # After the log: a merge that took the blob's place from the log meanwhile has put it here.
    session.execute(delete(PackedBlob).where(PackedBlob.digest == digest))
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
