"""Encryption at rest, per project: sample blobs sealed with per-subject data keys.

Turned on per project (`edgeops privacy encryption enable`). From then on every sample blob of
the project (original file and canonical array) is stored as an AES-256-GCM envelope (see
`store/crypt.py`) under a data key of its subject — one key per subject, and the project's own
key for samples without one. Data keys are random, stored in the database (`data_keys`) wrapped
by the workspace master key, a 32-byte file outside the database (`EDGEOPS_MASTER_KEY_FILE`,
default `<home>/secrets/master.key`, created on first use, mode 0600): a stolen database or
bucket alone reads nothing. Erasing a subject deletes their key row as well as their blobs, so
a copy of a blob that escaped the deletion (a backup, a replica, an object-store version) stays
unreadable: crypto-shredding.

Not sealed: manifests, models, feature-cache entries (derived data; an erasure deletes the
subject's cache entries) and blobs still staged in the database by HTTP ingestion (sealed when
moved to the blob store, within seconds)."""

import hashlib
import os
import secrets
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Engine, create_engine, delete, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from edgeops.errors import Conflict, InvalidInput
from edgeops.governance import audit
from edgeops.store import staging
from edgeops.store.blobs import BlobStore
from edgeops.store.crypt import SealedBlobStore
from edgeops.store.tables import DataKey, Project, Sample

if TYPE_CHECKING:
    from edgeops.workspace import Workspace

ENABLE = "encryption.enable"
PROJECT_KEY = ""  # the subject_sha256 of a project's own key
_ENABLED_CACHE_S = 2.0
_KEY_CACHE_S = 5.0


def master_key_path(home: Path) -> Path:
    configured = os.environ.get("EDGEOPS_MASTER_KEY_FILE")
    return Path(configured) if configured else home / "secrets" / "master.key"


def load_master_key(path: Path, *, create: bool) -> bytes:
    """The workspace master key (32 bytes), made on first use when `create`."""
    if not path.exists():
        if not create:
            raise InvalidInput(
                f"the master key {path} is missing: encrypted blobs cannot be read without it "
                "(restore it, or point EDGEOPS_MASTER_KEY_FILE at it)"
            )
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(secrets.token_bytes(32))
            handle.flush()
            os.fsync(handle.fileno())
    key = path.read_bytes()
    if len(key) != 32:
        raise InvalidInput(f"the master key {path} must hold exactly 32 bytes")
    return key


def subject_sha256(subject: str | None) -> str:
    return PROJECT_KEY if subject is None else hashlib.sha256(subject.encode()).hexdigest()


def _associated(project_id: int, subject_hash: str) -> bytes:
    return f"edgeops-data-key:{project_id}:{subject_hash}".encode()


class DatabaseKeyRing:
    """The key ring of a workspace: data keys in the database, unwrapped with the master key
    when needed and remembered for five seconds (reading thousands of samples must not cost a
    query each). A key deleted in this process is forgotten at once; one deleted by another
    process is gone here within those five seconds.

    Keys are looked up through a reader engine of their own: blobs are read inside other
    transactions, and on SQLite every session of the workspace's engine takes the write lock
    first (see `store.db`), so a lookup through it would wait for its own caller."""

    def __init__(self, engine: Engine, master_path: Path) -> None:
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        plain = engine.dialect.name == "sqlite"
        # pysqlite's `timeout` is SQLite's busy timeout: a read may wait for a checkpoint.
        self._reader = create_engine(engine.url, connect_args={"timeout": 10}) if plain else engine
        self._master_path = master_path
        self._master: bytes | None = None
        self._enabled: tuple[float, frozenset[int]] = (0.0, frozenset())
        self._keys: dict[int, tuple[float, bytes]] = {}

    def close(self) -> None:
        if self._reader is not self._sessions.kw["bind"]:
            self._reader.dispose()

    def master(self, *, create: bool = False) -> bytes:
        if self._master is None:
            self._master = load_master_key(self._master_path, create=create)
        return self._master

    def unwrap(self, row: DataKey) -> bytes:
        nonce, wrapped = row.wrapped[:12], row.wrapped[12:]
        try:
            return AESGCM(self.master()).decrypt(
                nonce, wrapped, _associated(row.project_id, row.subject_sha256)
            )
        except InvalidTag:
            raise InvalidInput(
                f"data key {row.id} does not open with the master key {self._master_path} "
                "(is it this workspace's?)"
            ) from None

    def key(self, key_id: int) -> bytes | None:
        remembered = self._keys.get(key_id)
        if remembered is not None and time.monotonic() - remembered[0] < _KEY_CACHE_S:
            return remembered[1]
        with Session(self._reader) as session:
            row = session.get(DataKey, key_id)
            if row is None:
                self._keys.pop(key_id, None)
                return None
            key = self.unwrap(row)
        if len(self._keys) > 10_000:
            self._keys.clear()
        self._keys[key_id] = (time.monotonic(), key)
        return key

    def active(self) -> bool:
        return bool(self.encrypted_projects())

    def encrypts(self, project_id: int) -> bool:
        return project_id in self.encrypted_projects()

    def encrypted_projects(self) -> frozenset[int]:
        """Projects with encryption on (remembered for two seconds: asked on every put)."""
        checked, projects = self._enabled
        if time.monotonic() - checked > _ENABLED_CACHE_S:
            with Session(self._reader) as session:
                projects = frozenset(session.scalars(
                    select(DataKey.project_id).where(DataKey.subject_sha256 == PROJECT_KEY)
                ))  # fmt: skip
            self._enabled = (time.monotonic(), projects)
        return projects

    def forget(self) -> None:
        """Drop what is remembered (after keys were made or deleted)."""
        self._enabled = (0.0, frozenset())
        self._keys.clear()

    def key_for(self, digest: str) -> tuple[int, bytes] | None:
        encrypted = self.encrypted_projects()
        if not encrypted:
            return None
        with Session(self._reader) as session:
            owner = session.execute(
                select(Sample.project_id, Sample.subject_id).where(
                    Sample.project_id.in_(encrypted),
                    or_(Sample.content_hash == digest, Sample.original_hash == digest),
                ).limit(1)
            ).first()  # fmt: skip
            if owner is None:
                return None
            existing = session.scalar(select(DataKey).where(
                DataKey.project_id == owner.project_id,
                DataKey.subject_sha256 == subject_sha256(owner.subject_id),
            ))  # fmt: skip
            if existing is not None:  # the usual case: no write transaction needed
                return existing.id, self.unwrap(existing)
        with self._sessions() as session:
            return self.data_key(session, owner.project_id, owner.subject_id)

    def data_key(self, session: Session, project_id: int, subject: str | None) -> tuple[int, bytes]:
        """The key of `subject` (None: the project's own) in a project, made on first use."""
        wanted = subject_sha256(subject)
        query = select(DataKey).where(
            DataKey.project_id == project_id, DataKey.subject_sha256 == wanted
        )
        row = session.scalar(query)
        if row is None:
            key, nonce = AESGCM.generate_key(bit_length=256), secrets.token_bytes(12)
            wrapped = AESGCM(self.master(create=True)).encrypt(
                nonce, key, _associated(project_id, wanted)
            )
            try:  # committed at once: a blob sealed with it must never outlive its key row
                session.add(DataKey(project_id=project_id, subject_sha256=wanted,
                                    wrapped=nonce + wrapped))  # fmt: skip
                session.commit()
            except IntegrityError:  # another writer made it first: use theirs
                session.rollback()
            row = session.scalar(query)
            if row is None:
                raise Conflict("a data key vanished while it was being made; try again")
        return row.id, self.unwrap(row)


def keyring(ws: "Workspace") -> DatabaseKeyRing:
    ring = ws.blobs.keyring if isinstance(ws.blobs, SealedBlobStore) else None
    if not isinstance(ring, DatabaseKeyRing):
        raise InvalidInput("this workspace's blob store has no key ring")
    return ring


def forget_keys(ws: "Workspace") -> None:
    """Make this process's key ring forget unwrapped keys (after a subject's was deleted)."""
    if isinstance(ws.blobs, SealedBlobStore) and isinstance(ws.blobs.keyring, DatabaseKeyRing):
        ws.blobs.keyring.forget()


def is_enabled(session: Session, project: Project) -> bool:
    query = select(DataKey.id).where(
        DataKey.project_id == project.id, DataKey.subject_sha256 == PROJECT_KEY
    )
    return session.scalar(query) is not None


def enable(ws: "Workspace", session: Session, project: Project) -> dict[str, Any]:
    """Turn encryption on for `project` and seal the sample blobs it already has; audited."""
    ring = keyring(ws)
    if is_enabled(session, project):
        raise Conflict(f"project {project.name!r} is encrypted already")
    ring.data_key(session, project.id, None)
    sealed = 0
    rows = session.scalars(select(Sample).where(Sample.project_id == project.id))
    for sample in rows:
        key_id, key = ring.data_key(session, project.id, sample.subject_id)
        for digest in (sample.content_hash, sample.original_hash):
            if not isinstance(ws.blobs, SealedBlobStore):
                continue
            if ws.blobs.exists(digest):
                sealed += ws.blobs.reseal(digest, key_id, key)
            else:  # in a pack (ingested): it leaves it, sealed
                sealed += staging.unpack(session, ws.blobs, digest, ws.blobs.sealing(key_id, key))
    ws.blobs.sync()
    audit.record(session, ws.actor, ENABLE, f"project:{project.name}", project.id,
                 {"blobs_sealed": sealed})  # fmt: skip
    session.commit()
    ring.forget()
    return status(session, project) | {"blobs_sealed": sealed}


def status(session: Session, project: Project) -> dict[str, Any]:
    subjects = session.scalar(
        select(func.count(DataKey.id)).where(
            DataKey.project_id == project.id, DataKey.subject_sha256 != PROJECT_KEY
        )
    )
    return {
        "project": project.name,
        "encrypted": is_enabled(session, project),
        "subject_keys": int(subjects or 0),
        "cipher": "AES-256-GCM",
    }


def blobs_for(
    ws: "Workspace", session: Session, project: Project, subject: str | None
) -> BlobStore:
    """The blob store to write `subject`'s samples of `project` with: sealing with their key
    if the project is encrypted, else the workspace's."""
    if not isinstance(ws.blobs, SealedBlobStore) or not is_enabled(session, project):
        return ws.blobs
    return ws.blobs.sealing(*keyring(ws).data_key(session, project.id, subject))


def shred(session: Session, project: Project, subject: str) -> bool:
    """Delete `subject`'s data key in `project` (in `session`; the caller commits): whatever
    was sealed with it cannot be read any more. False if they had none."""
    deleted = session.execute(
        delete(DataKey).where(
            DataKey.project_id == project.id, DataKey.subject_sha256 == subject_sha256(subject)
        )
    )
    return bool(getattr(deleted, "rowcount", 0))
