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
    assert [start for _, _, start, _ in first + second] == [0, 5, 4005]
    for digest, name, start, size in first + second:
        assert sha256(packs.read(tmp_path, name, start, size, digest)) == digest
    writer.close()


def test_a_pack_grows_ahead_in_zeros_and_is_cut_to_its_blobs_on_close(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(packs, "GROW_BYTES", 1000)
    writer = PackWriter(tmp_path)
    places = writer.append(_blobs(b"a" * 600))
    places += writer.append(_blobs(b"b" * 300))  # fits in the zeros ahead
    [pack] = tmp_path.glob("*.pack")
    assert pack.stat().st_size == 1000  # grown once, not by each append
    places += writer.append(_blobs(b"c" * 2500))  # more than one step ahead at once
    assert pack.stat().st_size == 3400
    for digest, name, start, size in places:  # readable before close, as after a crash
        assert sha256(packs.read(tmp_path, name, start, size, digest)) == digest
    writer.close()
    assert pack.stat().st_size == 600 + 300 + 2500


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


def test_an_erased_blob_is_zeros_and_its_neighbours_are_untouched(tmp_path: Path) -> None:
    writer = PackWriter(tmp_path)
    [before, erased, after] = writer.append(_blobs(b"keep me", b"personal data", b"me too"))
    writer.close()
    packs.erase(tmp_path, *erased[1:])
    content = (tmp_path / erased[1]).read_bytes()
    assert b"personal" not in content
    assert content[erased[2] : erased[2] + erased[3]] == bytes(erased[3])
    for digest, name, start, size in (before, after):
        assert sha256(packs.read(tmp_path, name, start, size, digest)) == digest
    with pytest.raises(CorruptBlob):
        packs.read(tmp_path, *erased[1:], erased[0])
