"""Update signing keys: the operator's offline key folder (root, targets, MCUboot) and the
server's online keys (snapshot, timestamp), created and rotated here.

Private keys of offline roles are written only to the key folder (files readable by their owner
alone) and never to the database; `online_targets=True` is the operator's explicit choice to let
the server sign releases itself (needed to create releases over the HTTP API)."""

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.serialization import load_pem_private_key
from imgtool import keys as imgtool_keys
from securesystemslib.signer import CryptoSigner, Signer
from sqlalchemy import select
from sqlalchemy.orm import Session
from tuf.api.metadata import Metadata, Root

from edgeops.errors import InvalidInput, NotFound
from edgeops.fleet import tuf_repo
from edgeops.governance import audit
from edgeops.store.tables import Project, SigningKey

OFFLINE = ("root", "targets")
ONLINE = ("snapshot", "timestamp")
MCUBOOT_KEY = "mcuboot.pem"


@dataclass(frozen=True)
class KeyFolder:
    """A project's offline private keys: `<path>/root.pem`, `targets.pem`, `mcuboot.pem`."""

    path: Path

    def file(self, role: str) -> Path:
        return self.path / (MCUBOOT_KEY if role == "mcuboot" else f"{role}.pem")

    def write(self, role: str, pem: bytes) -> Path:
        self.path.mkdir(parents=True, exist_ok=True, mode=0o700)
        target = self.file(role)
        if target.exists():
            # Keep the key being replaced: the operator may still need it to read old state.
            target.replace(target.with_suffix(f".pem.old-{int(target.stat().st_mtime)}"))
        descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(pem)
        return target

    def read(self, role: str) -> bytes:
        try:
            return self.file(role).read_bytes()
        except FileNotFoundError:
            raise NotFound(
                f"no {role} key at {self.file(role)}: point --keys-dir (EDGEOPS_SIGNING_KEYS) "
                "at the folder `edgeops keys signing init` wrote"
            ) from None


def _signer(pem: bytes | str) -> CryptoSigner:
    data = pem.encode() if isinstance(pem, str) else pem
    return CryptoSigner(load_pem_private_key(data, None))


def active_keys(session: Session, project: Project) -> dict[str, SigningKey]:
    rows = session.scalars(
        select(SigningKey).where(
            SigningKey.project_id == project.id, SigningKey.retired_at.is_(None)
        )
    )
    return {row.role: row for row in rows}


def signer_for(session: Session, project: Project, role: str, folder: KeyFolder | None) -> Signer:
    """The signer of `role`: the server's copy for online keys, else the key folder's, checked
    against the key the project's root trusts."""
    row = active_keys(session, project).get(role)
    if row is None:
        raise NotFound(
            f"project {project.name!r} has no update signing keys yet: "
            "run `edgeops keys signing init`"
        )
    if row.private_pem is not None:
        return _signer(row.private_pem)
    if folder is None:
        raise InvalidInput(
            f"the {role} key of project {project.name!r} is offline: sign on the machine "
            "that holds the key folder (or run `edgeops keys signing init --online-targets`)"
        )
    signer = _signer(folder.read(role))
    if signer.public_key.keyid != row.keyid:
        raise InvalidInput(
            f"{folder.file(role)} is not the project's current {role} key "
            f"(expected key id {row.keyid[:12]}…, found {signer.public_key.keyid[:12]}…)"
        )
    return signer


def _add_key(
    session: Session, project: Project, role: str, signer: CryptoSigner, online: bool
) -> SigningKey:
    row = SigningKey(
        project_id=project.id, role=role, keyid=signer.public_key.keyid,
        public=signer.public_key.to_dict(),
        private_pem=signer.private_bytes.decode() if online else None,
    )  # fmt: skip
    session.add(row)
    return row


def init(
    session: Session,
    project: Project,
    folder: KeyFolder,
    now: datetime,
    actor: str,
    *,
    online_targets: bool = False,
) -> dict[str, Any]:
    """Create the four TUF role keys and an MCUboot key, and sign version 1 of the metadata."""
    signers = {role: CryptoSigner.generate_ed25519() for role in tuf_repo.TOP_ROLES}
    tuf_repo.initial(session, project, signers, now)  # refuses a second init
    written = []
    for role, signer in signers.items():
        online = role in ONLINE or (role == "targets" and online_targets)
        _add_key(session, project, role, signer, online)
        if not online:
            written.append(str(folder.write(role, signer.private_bytes)))
    mcuboot = imgtool_keys.ECDSA256P1.generate()
    written.append(str(folder.write("mcuboot", mcuboot_private_pem(mcuboot))))
    session.flush()
    details = {"keys": {role: s.public_key.keyid for role, s in signers.items()},
               "online_targets": online_targets}  # fmt: skip
    audit.record(session, actor, "signing.init", f"project:{project.name}", project.id, details)
    return {**details, "written": written}


def mcuboot_private_pem(key: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return bytes(
        key.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def rotate(
    session: Session,
    project: Project,
    role: str,
    folder: KeyFolder,
    now: datetime,
    actor: str,
) -> dict[str, Any]:
    """Replace `role`'s key: a new root version (signed by the root key, and for a root rotation
    by the old and the new root key) trusts the new key, then the role is re-signed with it."""
    if role not in tuf_repo.TOP_ROLES:
        raise InvalidInput(f"unknown role {role!r}: use one of {', '.join(tuf_repo.TOP_ROLES)}")
    old_root = signer_for(session, project, "root", folder)
    current = active_keys(session, project)
    old = current[role]
    new = CryptoSigner.generate_ed25519()
    root_md: Metadata[Root] = tuf_repo.load(session, project, "root")
    root_md.signed.revoke_key(old.keyid, role)
    root_md.signed.add_key(new.public_key, role)
    tuf_repo.bump(root_md.signed, now)
    root_signers = [old_root, new] if role == "root" else [old_root]
    tuf_repo.store(session, project, tuf_repo.sign(root_md, root_signers))
    old.retired_at = now
    online = old.private_pem is not None
    _add_key(session, project, role, new, online)
    if not online:
        folder.write(role, new.private_bytes)
    session.flush()
    if role == "targets":
        targets_md = tuf_repo.load(session, project, "targets")
        tuf_repo.bump(targets_md.signed, now)
        tuf_repo.store(session, project, tuf_repo.sign(targets_md, [new]))
    if role != "root":
        tuf_repo.publish_snapshot(
            session, project, signer_for(session, project, "snapshot", None),
            signer_for(session, project, "timestamp", None), now,
        )  # fmt: skip
    details = {"role": role, "old": old.keyid, "new": new.public_key.keyid,
               "root_version": root_md.signed.version}  # fmt: skip
    audit.record(session, actor, "signing.rotate", f"project:{project.name}", project.id, details)
    return details


def refresh_online(session: Session, project: Project, now: datetime) -> bool:
    """Re-sign snapshot and timestamp when half their lifetime has passed; True if it did."""
    snapshot_due = tuf_repo.due(tuf_repo.latest(session, project, "snapshot"), now)
    timestamp_due = tuf_repo.due(tuf_repo.latest(session, project, "timestamp"), now)
    if not (snapshot_due or timestamp_due):
        return False
    timestamp = signer_for(session, project, "timestamp", None)
    if snapshot_due:
        snapshot = signer_for(session, project, "snapshot", None)
        tuf_repo.publish_snapshot(session, project, snapshot, timestamp, now)
    else:
        tuf_repo.publish_timestamp(session, project, timestamp, now)
    return True


def public_record(session: Session, project: Project) -> dict[str, Any]:
    """What `edgeops keys signing show` prints: key ids per role, root version, expiries."""
    keys = active_keys(session, project)
    out: dict[str, Any] = {"project": project.name, "roles": {}}
    for role in tuf_repo.TOP_ROLES:
        row = tuf_repo.latest(session, project, role)
        key = keys.get(role)
        out["roles"][role] = {
            "keyid": key.keyid if key else None,
            "online": key is not None and key.private_pem is not None,
            "version": row.version if row else None,
            "expires": row.expires_at.isoformat() if row else None,
        }
    return out
