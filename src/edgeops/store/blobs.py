"""Content-addressed blob store over fsspec: a blob's name is the SHA-256 of its bytes."""

import hashlib
import os
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import fsspec
from fsspec.implementations.local import LocalFileSystem

from edgeops.errors import CorruptBlob, EdgeopsError, InvalidInput, NotFound, StorageUnavailable

_DIGEST = re.compile(r"^[0-9a-f]{64}$")


# hashlib lets go of the GIL while it hashes more than 2 KB. On a server's event loop that is
# a trap: getting the GIL back means waiting for whichever thread took it (measured: 0.5 ms a
# call with the ingestion committer and blob mover busy, against 0.01 ms of hashing). Small
# inputs are therefore fed in pieces below that size, which hashlib hashes holding the GIL.
_GIL_FREE_ABOVE = 2047
_KEEP_GIL_UP_TO = 256 * 1024


def sha256(data: bytes) -> str:
    if len(data) <= _GIL_FREE_ABOVE or len(data) > _KEEP_GIL_UP_TO:
        return hashlib.sha256(data).hexdigest()
    digest, view = hashlib.sha256(), memoryview(data)
    for start in range(0, len(data), _GIL_FREE_ABOVE):
        digest.update(view[start : start + _GIL_FREE_ABOVE])
    return digest.hexdigest()


class BlobStore:
    """Blobs under `<root>/sha256/ab/abcdef…`. Reads are checked against the address, so silent
    corruption (or a write a crash cut short) is caught.

    Durability is batched: `put` returns once the blob is in place, `sync` makes every blob put
    so far durable. Callers sync before they commit the rows that reference the blobs (see
    `store.db.commit`). One sync per batch instead of an fsync per file is what makes importing
    thousands of small files fast: measured here, 2.4 ms per fsync against 22 ms for one sync
    after 1,000 writes."""

    def __init__(self, url: str) -> None:
        try:
            self.fs, self.root = fsspec.core.url_to_fs(url)
        except (ValueError, ImportError) as exc:
            raise InvalidInput(f"cannot use blob URL {url!r}: {exc}") from exc
        self.url = url
        self._local = isinstance(self.fs, LocalFileSystem)
        self._folders: set[str] = set()  # fan-out folders known to exist (saves a stat per put)
        if self._local:
            os.makedirs(os.path.join(self.root, "tmp"), exist_ok=True)

    @property
    def is_local(self) -> bool:
        """Whether the blobs are files on this machine (or a mount), not objects in a store."""
        return self._local

    def path(self, digest: str) -> str:
        if not _DIGEST.match(digest):
            raise InvalidInput(
                f"{digest!r} is not a SHA-256 blob address (64 lowercase hex digits)"
            )
        return f"{self.root}/sha256/{digest[:2]}/{digest[2:]}"

    @contextmanager
    def _reaching(self, what: str) -> Iterator[None]:
        """Turn a backend's failure (s3fs, botocore, OS) into one clear error of ours."""
        try:
            yield
        except EdgeopsError:
            raise
        except PermissionError as exc:
            raise StorageUnavailable(
                f"blob store {self.url} refused to {what} ({exc}); check its credentials "
                "(for S3: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)"
            ) from exc
        except FileNotFoundError:
            raise
        except Exception as exc:
            raise StorageUnavailable(
                f"blob store {self.url} failed to {what}: {type(exc).__name__}: {exc}"
            ) from exc

    def exists(self, digest: str) -> bool:
        path = self.path(digest)
        with self._reaching("look up a blob"):
            return bool(self.fs.exists(path))

    def put(self, data: bytes) -> str:
        """Store `data` (once: equal bytes share one blob) and return its address."""
        digest = sha256(data)
        path = self.path(digest)
        with self._reaching("store a blob"):
            if self._local:
                self._put_local(path, data)
            elif not self.fs.exists(path):
                # An object store PUT is atomic: readers see the whole object or nothing.
                self.fs.pipe_file(path, data)
        return digest

    def _put_local(self, path: str, data: bytes) -> None:
        """Create the file in place: a temp file and a rename cost 2.5 times as much here
        (0.37 against 0.14 ms of system time per blob), and the ingestion mover writes two
        blobs per sample. A crash mid-write can leave a short file behind; the next put of the
        same bytes finds it wrong and replaces it, and nothing reads a blob before the rows that
        use it are committed (the mover's rows stay staged until the blobs are synced)."""
        folder = os.path.dirname(path)
        if folder not in self._folders:
            os.makedirs(folder, exist_ok=True)
            self._folders.add(folder)
        try:
            handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            if self._holds(path, data):
                return
            self._replace(path, data)
            return
        try:
            _write_all(handle, data)
        finally:
            os.close(handle)

    @staticmethod
    def _holds(path: str, data: bytes) -> bool:
        try:
            if os.stat(path).st_size != len(data):
                return False
            with open(path, "rb") as handle:
                return handle.read() == data
        except FileNotFoundError:
            return False

    def _replace(self, path: str, data: bytes) -> None:
        """Replace a damaged blob atomically (readers see the old or the new file)."""
        temp = os.path.join(self.root, "tmp", uuid.uuid4().hex)
        handle = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            _write_all(handle, data)
        finally:
            os.close(handle)
        os.replace(temp, path)

    def sync(self) -> None:
        """Make every blob put so far durable (object stores already are once PUT returns)."""
        if self._local:
            os.sync()

    def get(self, digest: str) -> bytes:
        path = self.path(digest)
        try:
            with self._reaching("read a blob"):
                data: bytes = self.fs.cat_file(path)
        except FileNotFoundError as exc:
            raise NotFound(f"blob {digest[:12]} is missing from {self.url}") from exc
        if sha256(data) != digest:
            raise CorruptBlob(
                f"blob {digest[:12]} in {self.url} does not match its SHA-256 "
                "(it was changed or damaged in storage; restore it from a backup)"
            )
        return data


def _write_all(handle: int, data: bytes) -> None:
    # os-level calls, not open(): Python's buffered file object costs as much as the write.
    view = memoryview(data)
    while view:
        view = view[os.write(handle, view) :]
