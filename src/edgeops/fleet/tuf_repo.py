"""A project's TUF repository: top-level metadata (root, targets, snapshot, timestamp) signed
with python-tuf and kept, every version, in the database (consistent snapshots)."""

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from securesystemslib.signer import Signer
from sqlalchemy import select
from sqlalchemy.orm import Session
from tuf.api.metadata import (
    Metadata,
    MetaFile,
    Root,
    Signed,
    Snapshot,
    TargetFile,
    Targets,
    Timestamp,
)

from edgeops.errors import Conflict, NotFound
from edgeops.store.tables import Project, TufMetadata

TOP_ROLES = ("root", "targets", "snapshot", "timestamp")
# How long each role's signature holds. Timestamp and snapshot are re-signed by the server (online
# keys) when half of that has passed; root and targets are signed by the operator's offline keys.
LIFETIME = {
    "root": timedelta(days=365),
    "targets": timedelta(days=365),
    "snapshot": timedelta(days=30),
    "timestamp": timedelta(days=1),
}


def expiry(role: str, now: datetime) -> datetime:
    """When metadata signed at `now` expires (whole seconds: TUF's date format has no more)."""
    return now.astimezone(UTC).replace(microsecond=0) + LIFETIME[role]


def latest(session: Session, project: Project, role: str) -> TufMetadata | None:
    return session.scalar(
        select(TufMetadata)
        .where(TufMetadata.project_id == project.id, TufMetadata.role == role)
        .order_by(TufMetadata.version.desc())
        .limit(1)
    )


def load(session: Session, project: Project, role: str) -> Metadata[Any]:
    """The newest signed metadata of `role` (NotFound before `edgeops keys signing init`)."""
    row = latest(session, project, role)
    if row is None:
        raise NotFound(
            f"project {project.name!r} has no update signing keys yet: "
            "run `edgeops keys signing init`"
        )
    return Metadata.from_bytes(row.data)


def served(session: Session, project: Project, filename: str) -> bytes:
    """The bytes of a metadata file as a TUF client names it: `timestamp.json` (the newest), or
    `N.root.json` / `N.snapshot.json` / `N.targets.json` (version N)."""
    parts = filename.split(".")
    if filename == "timestamp.json":
        row = latest(session, project, "timestamp")
    elif len(parts) == 3 and parts[0].isdigit() and parts[1] in TOP_ROLES and parts[2] == "json":
        row = session.get(TufMetadata, (project.id, parts[1], int(parts[0])))
    else:
        row = None
    if row is None:
        raise NotFound(f"no update metadata {filename!r}")
    return row.data


def store(session: Session, project: Project, metadata: Metadata[Any]) -> bytes:
    """Save a signed version; returns its bytes exactly as clients will receive them."""
    data = metadata.to_bytes()
    signed = metadata.signed
    row = TufMetadata(
        project_id=project.id, role=signed.type, version=signed.version, data=data,
        expires_at=signed.expires,
    )  # fmt: skip
    session.add(row)
    session.flush()
    return data


def sign(metadata: Metadata[Any], signers: Iterable[Signer]) -> Metadata[Any]:
    metadata.signatures.clear()
    for signer in signers:
        metadata.sign(signer, append=True)
    return metadata


def bump(signed: Signed, now: datetime) -> None:
    signed.version += 1
    signed.expires = expiry(signed.type, now)


def initial(
    session: Session,
    project: Project,
    signers: Mapping[str, Signer],
    now: datetime,
) -> None:
    """Version 1 of every role: a root trusting one key per role, no targets yet."""
    if latest(session, project, "root") is not None:
        raise Conflict(
            f"project {project.name!r} already has update signing keys: "
            "use `edgeops keys signing rotate` to replace one"
        )
    root = Root(expires=expiry("root", now), consistent_snapshot=True)
    for role in TOP_ROLES:
        root.add_key(signers[role].public_key, role)
    store(session, project, sign(Metadata(root), [signers["root"]]))
    targets = Targets(expires=expiry("targets", now))
    store(session, project, sign(Metadata(targets), [signers["targets"]]))
    publish_snapshot(session, project, signers["snapshot"], signers["timestamp"], now)


def publish_snapshot(
    session: Session, project: Project, snapshot_signer: Signer, timestamp_signer: Signer,
    now: datetime,
) -> None:  # fmt: skip
    """A new snapshot naming the newest targets, then a new timestamp naming that snapshot.
    Lengths and hashes are pinned too, so a mixed set of files never verifies."""
    targets_row = latest(session, project, "targets")
    assert targets_row is not None
    previous = latest(session, project, "snapshot")
    version = previous.version + 1 if previous is not None else 1
    snapshot = Snapshot(version=version, expires=expiry("snapshot", now))
    snapshot.meta["targets.json"] = MetaFile.from_data(
        targets_row.version, targets_row.data, ["sha256"]
    )
    snapshot_bytes = store(session, project, sign(Metadata(snapshot), [snapshot_signer]))
    publish_timestamp(session, project, timestamp_signer, now, version, snapshot_bytes)


def publish_timestamp(
    session: Session,
    project: Project,
    timestamp_signer: Signer,
    now: datetime,
    snapshot_version: int | None = None,
    snapshot_bytes: bytes | None = None,
) -> None:
    """A new timestamp (for the newest snapshot unless one is given)."""
    if snapshot_version is None or snapshot_bytes is None:
        row = latest(session, project, "snapshot")
        assert row is not None
        snapshot_version, snapshot_bytes = row.version, row.data
    previous = latest(session, project, "timestamp")
    version = previous.version + 1 if previous is not None else 1
    timestamp = Timestamp(
        version=version,
        expires=expiry("timestamp", now),
        snapshot_meta=MetaFile.from_data(snapshot_version, snapshot_bytes, ["sha256"]),
    )
    store(session, project, sign(Metadata(timestamp), [timestamp_signer]))


def publish_targets(
    session: Session,
    project: Project,
    targets_signer: Signer,
    snapshot_signer: Signer,
    timestamp_signer: Signer,
    now: datetime,
    add: Iterable[TargetFile] = (),
    remove: Iterable[str] = (),
) -> None:
    """A new targets version with `add` added and `remove` (paths) removed, then a new snapshot
    and timestamp."""
    metadata: Metadata[Targets] = load(session, project, "targets")
    targets = metadata.signed
    for path in remove:
        targets.targets.pop(path, None)
    for target in add:
        targets.targets[target.path] = target
    bump(targets, now)
    store(session, project, sign(metadata, [targets_signer]))
    publish_snapshot(session, project, snapshot_signer, timestamp_signer, now)


def due(row: TufMetadata | None, now: datetime) -> bool:
    """Whether a role signed online should be re-signed: half its lifetime has passed."""
    if row is None:
        return False
    expires = row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=UTC)
    return expires - now <= LIFETIME[row.role] / 2
