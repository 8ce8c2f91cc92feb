from pathlib import Path

import pytest
from sqlalchemy import func, select

from edgeops.errors import NotFound
from edgeops.store import packs, staging
from edgeops.store.blobs import BlobStore, sha256
from edgeops.store.tables import PackedBlob, PackedBlobLog, StagedBlob
from edgeops.workspace import Workspace


def _count(ws: Workspace) -> int:
    with ws.session() as session:
        return int(session.scalar(select(func.count()).select_from(StagedBlob)) or 0)


def test_staged_blobs_read_back_before_and_after_they_move(ws: Workspace) -> None:
    blobs = {sha256(b"one"): b"one", sha256(b"two"): b"two"}
    with ws.session() as session:
        staging.stage(session.connection(), blobs)
        staging.stage(session.connection(), {sha256(b"one"): b"one"})  # staged twice: kept once
        session.commit()
    assert _count(ws) == 2
    with ws.session() as session:
        assert staging.read(session, ws.blobs, sha256(b"one")) == b"one"
    assert not ws.blobs.exists(sha256(b"one"))

    assert staging.flush(ws._sessions, ws.blobs) == 2
    assert _count(ws) == 0
    assert ws.blobs.get(sha256(b"two")) == b"two"
    with ws.session() as session:
        assert staging.read(session, ws.blobs, sha256(b"two")) == b"two"
        with pytest.raises(NotFound):
            staging.read(session, ws.blobs, sha256(b"never"))


def test_a_failing_blob_store_keeps_blobs_staged(tmp_path: Path, ws: Workspace) -> None:
    with ws.session() as session:
        staging.stage(session.connection(), {sha256(b"kept"): b"kept"})
        session.commit()
    broken = BlobStore(str(tmp_path / "blobs"))
    (tmp_path / "blobs" / "sha256").write_text("not a folder")  # every put fails
    with pytest.raises(Exception):  # noqa: B017 - whatever the OS raises
        staging.flush(ws._sessions, broken)
    assert _count(ws) == 1
    with ws.session() as session:
        assert staging.read(session, ws.blobs, sha256(b"kept")) == b"kept"


def _packed(ws: Workspace, *contents: bytes) -> Path:
    """Pack `contents` as the ingestion committer does; returns the pack folder."""
    folder = staging.pack_folder(ws.blobs)
    assert folder is not None
    writer = packs.PackWriter(folder)
    with ws.session() as session:
        staging.stage_packed(session.connection(), writer.append({sha256(c): c for c in contents}))
        session.commit()
    writer.close()
    return folder


def test_packed_blobs_read_back_and_stay_packed(ws: Workspace) -> None:
    _packed(ws, b"packed one", b"packed two")
    assert staging.flush(ws._sessions, ws.blobs) == 0  # nothing to move: packs are for good
    with ws.session() as session:
        assert staging.read(session, ws.blobs, sha256(b"packed two")) == b"packed two"
    assert not ws.blobs.exists(sha256(b"packed two"))


def test_unpacking_moves_a_blob_to_the_store_and_erases_it_from_its_pack(ws: Workspace) -> None:
    secret = b"to be sealed elsewhere"
    folder = _packed(ws, secret)
    with ws.session() as session:
        assert staging.unpack(session, ws.blobs, sha256(secret), ws.blobs)
        assert not staging.unpack(session, ws.blobs, sha256(secret), ws.blobs)  # done already
        session.commit()
        assert staging.read(session, ws.blobs, sha256(secret)) == secret
    assert ws.blobs.get(sha256(secret)) == secret
    assert all(secret not in pack.read_bytes() for pack in folder.glob("*.pack"))


def _places(ws: Workspace, table: type[PackedBlob | PackedBlobLog]) -> list[tuple[str, int]]:
    with ws.session() as session:
        return [(d, s) for d, s in session.execute(select(table.digest, table.start))]


def test_packed_places_are_logged_then_merged_first_place_kept(ws: Workspace) -> None:
    contents = [b"c", b"a", b"b"]
    _packed(ws, *contents)
    _packed(ws, b"a")  # packed again: the first place stays
    assert [d for d, _ in _places(ws, PackedBlobLog)] == [sha256(c) for c in [*contents, b"a"]]
    assert _places(ws, PackedBlob) == []
    with ws.session() as session:  # read from the log before any merge
        assert staging.read(session, ws.blobs, sha256(b"b")) == b"b"

    assert staging.merge(ws._sessions, limit=5, only_full=True) == 0  # 4 waiting: not yet
    assert staging.merge(ws._sessions, limit=2, only_full=True) == 2  # the oldest two: c, a
    assert sorted(d for d, _ in _places(ws, PackedBlob)) == sorted(map(sha256, [b"c", b"a"]))
    assert staging.merge(ws._sessions) == 2  # b, and a's second place, which is dropped
    assert staging.merge(ws._sessions) == 0
    assert _places(ws, PackedBlobLog) == []
    merged = dict(_places(ws, PackedBlob))
    assert len(merged) == 3 and merged[sha256(b"a")] == 1  # "c" at 0, "a" at 1: its first
    with ws.session() as session:
        for content in contents:
            assert staging.read(session, ws.blobs, sha256(content)) == content


@pytest.mark.parametrize("merged", [False, True])
def test_a_removed_packed_blob_is_gone_from_the_index_and_the_disk(
    ws: Workspace, merged: bool
) -> None:
    personal = b"heart rate of subject 7"
    folder = _packed(ws, personal)
    if merged:
        assert staging.merge(ws._sessions) == 1
    _packed(ws, personal)  # uploaded again: a second copy, still in the log
    with ws.session() as session:
        assert staging.remove_packed(session, ws.blobs, sha256(personal))
        session.commit()
        with pytest.raises(NotFound):
            staging.read(session, ws.blobs, sha256(personal))
    assert _places(ws, PackedBlob) == _places(ws, PackedBlobLog) == []
    assert all(personal not in pack.read_bytes() for pack in folder.glob("*.pack"))
