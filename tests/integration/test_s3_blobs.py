"""The blob store and the whole data layer on a real S3 server (SeaweedFS, see conftest.py).

A user points edgeops at S3 the standard way: `EDGEOPS_BLOB_URL=s3://bucket/prefix` (or
`blob_url=`) plus the AWS variables s3fs/botocore read: AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY and, for a server other than AWS, AWS_ENDPOINT_URL."""

import hashlib
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import pytest

from edgeops.data import importing
from edgeops.errors import CorruptBlob, NotFound, StorageUnavailable
from edgeops.store.blobs import BlobStore
from edgeops.workspace import Workspace

s3fs = pytest.importorskip("s3fs")

pytestmark = pytest.mark.s3

WriteEI = Callable[..., Path]


class S3Server(Protocol):  # what the `s3_server` / `s3_env` fixtures of conftest.py yield
    endpoint: str
    access_key: str
    secret_key: str
    bucket: str


def _url(server: S3Server) -> str:
    """A fresh prefix per test, so tests never see each other's blobs."""
    return f"s3://{server.bucket}/t-{uuid.uuid4().hex[:12]}"


def _client(server: S3Server) -> "s3fs.S3FileSystem":
    """A separate S3 client with explicit settings: what another user of the bucket would see."""
    return s3fs.S3FileSystem(
        key=server.access_key, secret=server.secret_key,
        endpoint_url=server.endpoint, skip_instance_cache=True,
    )  # fmt: skip


def test_put_get_round_trip_under_the_sha256_address(s3_env: S3Server) -> None:
    store = BlobStore(_url(s3_env))
    assert type(store.fs).__name__ == "S3FileSystem"
    data = b"\x00edge\xffops" * 1000

    digest = store.put(data)

    assert digest == hashlib.sha256(data).hexdigest()
    assert store.exists(digest) and store.get(digest) == data
    key = store.path(digest)
    assert key == f"{store.root}/sha256/{digest[:2]}/{digest[2:]}"
    assert _client(s3_env).cat_file(key) == data  # a plain S3 object, readable by anyone allowed
    assert store.put(data) == digest  # equal bytes, one blob
    assert _client(s3_env).find(f"{store.root}/sha256") == [key]


def test_an_object_changed_behind_its_back_is_detected(s3_env: S3Server) -> None:
    store = BlobStore(_url(s3_env))
    digest = store.put(b"the original bytes")

    _client(s3_env).pipe_file(store.path(digest), b"the tampered bytes")

    with pytest.raises(CorruptBlob, match="does not match its SHA-256"):
        store.get(digest)


def test_a_missing_blob_is_not_found(s3_env: S3Server) -> None:
    store = BlobStore(_url(s3_env))
    digest = hashlib.sha256(b"never stored").hexdigest()

    assert not store.exists(digest)
    with pytest.raises(NotFound, match=f"blob {digest[:12]} is missing from s3://"):
        store.get(digest)


def test_wrong_credentials_are_refused_not_taken_for_a_missing_blob(
    s3_env: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    digest = BlobStore(_url(s3_env)).put(b"kept safe")
    url = _url(s3_env)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    # s3fs keeps one file system per process and settings, made with the credentials of then.
    s3fs.S3FileSystem.clear_instance_cache()
    store = BlobStore(url)

    for attempt in (
        lambda: store.get(digest),
        lambda: store.put(b"no"),
        lambda: store.exists(digest),
    ):
        with pytest.raises(StorageUnavailable, match=r"refused .* check its credentials"):
            attempt()


def test_the_whole_data_layer_on_s3(s3_env: S3Server, tmp_path: Path, write_ei: WriteEI) -> None:
    url = _url(s3_env)
    paths = [write_ei(f"{'ab'[i % 2]}.{i}.json", seed=i) for i in range(6)]
    with Workspace(tmp_path / "home", blob_url=url) as ws:
        ws.projects.create("pumps")
        report = ws.data.import_files(paths)
        assert len(report.imported) == 6 and not report.failures
        v1 = ws.data.commit("first recordings")

        target = ws.data.samples(label="a")[0]
        ws.data.label([target.id], "b")
        v2 = ws.data.commit("relabel one")

        assert [c["id"] for c in ws.data.diff(v1.id, v2.id).relabelled] == [target.id]
        entries = ws.data.read_version(v1.id)
        by_name = {e["filename"]: e for e in entries}
        assert len(by_name) == 6 and by_name[target.filename]["label"] == "a"
        for path in paths:
            assert ws.data.original(by_name[path.name]) == path.read_bytes()
            assert ws.data.values(by_name[path.name]).shape == (20, 3)

    assert not (tmp_path / "home" / "blobs").exists()  # every blob went to the bucket
    stored = {key.rsplit("/", 2)[-2] + key.rsplit("/", 1)[-1]
              for key in _client(s3_env).find(url.removeprefix("s3://"))}  # fmt: skip
    assert {v1.id, v2.id} | {e["original_hash"] for e in entries} <= stored


def test_parallel_import_writes_from_worker_processes(
    s3_env: S3Server, tmp_path: Path, write_ei: WriteEI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Large imports put blobs from forked workers: each needs its own S3 connection."""
    monkeypatch.setattr(importing, "PARALLEL_FROM", 4)
    monkeypatch.setenv("EDGEOPS_BLOB_URL", _url(s3_env))  # the way a user configures it
    paths = [write_ei(f"c.{i}.json", seed=100 + i) for i in range(8)]
    with Workspace(tmp_path / "home") as ws:
        assert ws.blobs.url.startswith("s3://")
        ws.projects.create("pumps")
        report = ws.data.import_files(paths)
        assert len(report.imported) == 8 and not report.failures
        version = ws.data.commit("eight")
        originals = {e["filename"]: ws.data.original(e) for e in ws.data.read_version(version.id)}
    assert originals == {path.name: path.read_bytes() for path in paths}
