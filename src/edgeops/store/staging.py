"""Staged blobs: blobs committed in the database with the rows that use them, then moved to the
blob store in bulk. Readers look in the blob store first and here second."""

from functools import cache
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from edgeops.errors import CorruptBlob, NotFound
from edgeops.store.blobs import BlobStore, sha256
from edgeops.store.tables import StagedBlob, utcnow


def stage(session: Session, blobs: dict[str, bytes]) -> None:
    """Add blobs (digest → bytes) to the session's transaction, skipping those already staged."""
    if not blobs:
        return
    # One Core statement, executed many times by the driver: no lookup first, no ORM objects.
    connection = session.connection()
    staged_at = utcnow()
    connection.execute(
        _stage_statement(connection.dialect.name),
        [{"digest": d, "data": data, "staged_at": staged_at} for d, data in blobs.items()],
    )


@cache
def _stage_statement(dialect_name: str) -> Any:
    """Built once per dialect (the ingestion committer stages blobs for every group)."""
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    return dialect.insert(
        StagedBlob.metadata.tables[StagedBlob.__tablename__]
    ).on_conflict_do_nothing()


def read(session: Session, blobs: BlobStore, digest: str) -> bytes:
    """A blob from the blob store, or from the staging table if it has not moved yet."""
    try:
        return blobs.get(digest)
    except NotFound:
        data = session.scalar(select(StagedBlob.data).where(StagedBlob.digest == digest))
        if data is None:
            raise
        if sha256(data) != digest:
            raise CorruptBlob(f"staged blob {digest[:12]} does not match its SHA-256") from None
        return data


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
