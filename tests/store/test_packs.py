import os
from pathlib import Path

import pytest

from edgeops.errors import CorruptBlob, NotFound
from edgeops.store import packs
from edgeops.store.blobs import sha256
from edgeops.store.packs import PackWriter


def _blobs(*contents: bytes) -> dict[str, bytes]:
    return {sha256(c): c for c in contents}


def test_appended_blobs_read_back_from_where_the_writer_says(tmp_path: Path) -> None:
    writer = PackWriter(tmp_path)
    first = writer.append(_blobs(b"alpha", b"beta" * 1000))
    second = writer.append(_blobs(b"gamma"))
    assert first[0][1] == second[0][1]  # one open pack
    for digest, name, start, size in first + second:
        assert sha256(packs.read(tmp_path, name, start, size, digest)) == digest
    writer.close()


def test_a_damaged_or_missing_pack_is_an_error_not_wrong_bytes(tmp_path: Path) -> None:
    writer = PackWriter(tmp_path)
    [(digest, name, start, size)] = writer.append(_blobs(b"sensor data"))
    writer.close()
    with pytest.raises(CorruptBlob):
        packs.read(tmp_path, name, start + 1, size, digest)
    with pytest.raises(CorruptBlob):
        packs.read(tmp_path, "../../etc/passwd", 0, 10, digest)
    (tmp_path / name).unlink()
    with pytest.raises(NotFound):
        packs.read(tmp_path, name, start, size, digest)


def test_only_closed_packs_nothing_points_into_are_removed(tmp_path: Path) -> None:
    writer = PackWriter(tmp_path)
    [(_, old, _, _)] = writer.append(_blobs(b"old"))
    writer.rotate()
    [(_, kept, _, _)] = writer.append(_blobs(b"kept"))
    writer.rotate()
    [(_, live, _, _)] = writer.append(_blobs(b"live"))  # open: its rows may not be committed
    assert len({old, kept, live}) == 3
    (tmp_path / ".leftover.new").write_bytes(b"")  # a writer died before naming it

    assert packs.remove_unused(tmp_path, lambda: {kept}) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([kept, live])
    writer.close()
    assert packs.remove_unused(tmp_path, lambda: set()) == 2
    assert os.listdir(tmp_path) == []


def test_references_are_asked_only_when_there_is_a_closed_pack(tmp_path: Path) -> None:
    writer = PackWriter(tmp_path)
    writer.append(_blobs(b"open"))

    def referenced() -> set[str]:
        raise AssertionError("asked although every pack is being written")

    assert packs.remove_unused(tmp_path, referenced) == 0
    writer.close()
