import hashlib
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgeops.errors import CorruptBlob, InvalidInput, NotFound
from edgeops.store.blobs import BlobStore, sha256


def test_put_returns_sha256_and_get_reads_it_back(tmp_path: Path) -> None:
    blobs = BlobStore(str(tmp_path))
    digest = blobs.put(b"hello sensor")
    assert digest == hashlib.sha256(b"hello sensor").hexdigest()
    assert blobs.get(digest) == b"hello sensor"
    assert blobs.exists(digest)


def test_equal_bytes_share_one_blob_and_no_temp_file_is_left(tmp_path: Path) -> None:
    blobs = BlobStore(str(tmp_path))
    assert blobs.put(b"x" * 100) == blobs.put(b"x" * 100)
    blobs.sync()
    stored = [p for p in (tmp_path / "sha256").rglob("*") if p.is_file()]
    assert len(stored) == 1
    assert os.listdir(tmp_path / "tmp") == []


def test_a_damaged_blob_is_detected_on_read(tmp_path: Path) -> None:
    blobs = BlobStore(str(tmp_path))
    digest = blobs.put(b"original bytes")
    Path(blobs.path(digest)).write_bytes(b"tampered bytes")
    with pytest.raises(CorruptBlob, match="does not match its SHA-256"):
        blobs.get(digest)


def test_missing_blob_and_bad_address_are_clear_errors(tmp_path: Path) -> None:
    blobs = BlobStore(str(tmp_path))
    with pytest.raises(NotFound, match="missing"):
        blobs.get("0" * 64)
    with pytest.raises(InvalidInput, match="not a SHA-256"):
        blobs.get("../../etc/passwd")


def test_any_fsspec_url_works() -> None:
    blobs = BlobStore("memory://edgeops-test-blobs")
    digest = blobs.put(b"in memory")
    assert blobs.get(digest) == b"in memory"
    blobs.fs.pipe_file(blobs.path(digest), b"changed")
    with pytest.raises(CorruptBlob):
        blobs.get(digest)


def test_unknown_protocol_is_a_clear_error() -> None:
    with pytest.raises(InvalidInput, match="cannot use blob URL"):
        BlobStore("nosuchprotocol://bucket")


@settings(max_examples=50, deadline=None)
@given(st.binary(max_size=4096))
def test_round_trip_any_bytes(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> None:
    blobs = BlobStore(str(tmp_path_factory.mktemp("blobs")))
    assert blobs.get(blobs.put(data)) == data


def test_a_blob_cut_short_by_a_crash_is_replaced_by_the_next_put(tmp_path: Path) -> None:
    """Blobs are written in place; a crash mid-write leaves a short file that the next put of
    the same bytes must repair rather than keep."""
    blobs = BlobStore(str(tmp_path))
    data = os.urandom(5000)
    digest = hashlib.sha256(data).hexdigest()
    path = Path(blobs.path(digest))
    path.parent.mkdir(parents=True)
    path.write_bytes(data[:1000])
    with pytest.raises(CorruptBlob):
        blobs.get(digest)
    assert blobs.put(data) == digest
    assert blobs.get(digest) == data


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=10_000) | st.integers(0, 300_000).map(lambda n: b"\x5a" * n))
def test_sha256_matches_hashlib_whatever_the_size(data: bytes) -> None:
    """`sha256` feeds mid-sized inputs in pieces (to keep the GIL); the digest must not change."""
    assert sha256(data) == hashlib.sha256(data).hexdigest()
