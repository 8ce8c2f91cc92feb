"""Releases: a device type's artifacts at a semantic version, published as TUF targets, with
bsdiff4 deltas from the releases that devices of that type actually run."""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from tuf.api.metadata import TargetFile

from edgeops.errors import Conflict, InvalidInput, NotFound
from edgeops.fleet import mcuboot, tuf_repo
from edgeops.fleet.delta import make as make_delta
from edgeops.fleet.signing import KeyFolder, signer_for
from edgeops.governance import audit
from edgeops.store.blobs import BlobStore
from edgeops.store.tables import Device, ModelVersion, Project, Release

_SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
    r"(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$"
)
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MAX_ARTIFACTS = 16


def version_key(text: str) -> tuple[Any, ...]:
    """Semantic-version precedence: 1.0.0-rc.1 < 1.0.0 < 1.0.1; build metadata is ignored."""
    match = _SEMVER.match(text)
    if match is None:
        raise InvalidInput(f"{text!r} is not a semantic version (like 1.2.0 or 2.0.0-rc.1)")
    major, minor, patch, pre = match.groups()
    if pre is None:
        tail: tuple[Any, ...] = (1,)
    else:
        parts = [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split(".")]
        tail = (0, *parts)
    return (int(major), int(minor), int(patch), tail)


def check_name(text: str, what: str) -> str:
    if not NAME.match(text):
        raise InvalidInput(
            f"{what} {text!r}: use 1-64 letters, digits, '.', '_' or '-', starting with a "
            "letter or digit"
        )
    return text


def target_path(device_type: str, version: str, name: str) -> str:
    return f"{device_type}/{version}/{name}"


def delta_path(device_type: str, version: str, name: str, from_version: str) -> str:
    return f"{device_type}/{version}/{name}.from-{from_version}.bsdiff4"


@dataclass(frozen=True)
class McubootOptions:
    layout: mcuboot.SlotLayout
    artifacts: tuple[str, ...] = ()  # names to sign; empty: all


def create(
    session: Session,
    blobs: BlobStore,
    project: Project,
    *,
    device_type: str,
    version: str,
    artifacts: Mapping[str, bytes],
    changelog: str,
    model: ModelVersion | None,
    folder: KeyFolder | None,
    now: datetime,
    actor: str,
    mcuboot_options: McubootOptions | None = None,
) -> Release:
    """Store the artifacts, sign MCU images, compute deltas and publish the TUF targets."""
    check_name(device_type, "device type")
    key = version_key(version)
    if not artifacts or len(artifacts) > MAX_ARTIFACTS:
        raise InvalidInput(f"a release has 1-{MAX_ARTIFACTS} artifacts (--file)")
    for name in artifacts:
        check_name(name, "artifact name")
    if len(changelog) > 20_000:
        raise InvalidInput("a changelog has at most 20,000 characters")
    existing = list_releases(session, project, device_type)
    if existing and version_key(existing[-1].version) >= key:
        raise Conflict(
            f"{device_type} is already at release {existing[-1].version}: a new release needs "
            f"a higher version than that, not {version} (devices refuse to go back)"
        )
    payloads = dict(artifacts)
    signed_names: set[str] = set()
    if mcuboot_options is not None:
        if folder is None:
            raise InvalidInput("MCUboot images are signed with the key folder's mcuboot.pem")
        key_pem = folder.read("mcuboot")
        signed_names = set(mcuboot_options.artifacts or payloads)
        for name in sorted(signed_names):
            if name not in payloads:
                raise InvalidInput(f"no artifact {name!r} to sign as an MCUboot image")
            payloads[name] = mcuboot.sign_image(
                payloads[name], version, key_pem, mcuboot_options.layout
            )
    entries: list[dict[str, Any]] = []
    targets: list[TargetFile] = []
    for name, data in payloads.items():
        path = target_path(device_type, version, name)
        kind = "mcuboot" if name in signed_names else "file"
        digest = blobs.put(data)
        entries.append({"name": name, "path": path, "sha256": digest, "length": len(data),
                        "kind": kind})  # fmt: skip
        targets.append(_target(path, data, {"release": version, "device_type": device_type,
                                            "name": name, "kind": kind}))  # fmt: skip
    deltas = []
    for source in _running(session, project, device_type):
        old = {a["name"]: a for a in source.artifacts}
        for entry in entries:
            before = old.get(entry["name"])
            if before is None or before["sha256"] == entry["sha256"]:
                continue
            delta = make_delta(blobs.get(before["sha256"]), payloads[entry["name"]])
            if len(delta) >= entry["length"]:
                continue  # the full image is smaller: devices take that
            path = delta_path(device_type, version, entry["name"], source.version)
            info = {"name": entry["name"], "path": path, "sha256": blobs.put(delta),
                    "length": len(delta), "from_version": source.version,
                    "from_sha256": before["sha256"], "image_sha256": entry["sha256"],
                    "image_length": entry["length"], "format": "bsdiff4"}  # fmt: skip
            deltas.append(info)
            custom = {k: v for k, v in info.items() if k not in ("path", "sha256", "length")}
            targets.append(_target(path, delta, {"release": version, "device_type": device_type,
                                                 "kind": "delta", **custom}))  # fmt: skip
    blobs.sync()
    release = Release(
        project_id=project.id, device_type=device_type, version=version, changelog=changelog,
        model_version_id=model.id if model else None, artifacts=entries, deltas=deltas,
        created_by=actor, created_at=now,
    )  # fmt: skip
    session.add(release)
    session.flush()
    tuf_repo.publish_targets(
        session, project, signer_for(session, project, "targets", folder),
        signer_for(session, project, "snapshot", None),
        signer_for(session, project, "timestamp", None), now, add=targets,
    )  # fmt: skip
    details = {"device_type": device_type, "version": version,
               "artifacts": {e["name"]: e["sha256"] for e in entries},
               "deltas": len(deltas), "model": f"v{model.number}" if model else None}  # fmt: skip
    audit.record(session, actor, "release.create", f"release:{device_type}/{version}",
                 project.id, details)  # fmt: skip
    return release


def _target(path: str, data: bytes, custom: dict[str, Any]) -> TargetFile:
    target = TargetFile.from_data(path, data, ["sha256"])
    target.unrecognized_fields["custom"] = {"edgeops": custom}
    return target


def _running(session: Session, project: Project, device_type: str) -> list[Release]:
    """The releases devices of `device_type` have installed (deltas start from these)."""
    ids = select(Device.installed_release_id).where(
        Device.project_id == project.id, Device.device_type == device_type,
        Device.revoked_at.is_(None), Device.installed_release_id.is_not(None),
    ).distinct()  # fmt: skip
    return list(session.scalars(select(Release).where(Release.id.in_(ids))))


def list_releases(
    session: Session, project: Project, device_type: str | None = None
) -> list[Release]:
    """Releases oldest first by semantic version (per device type)."""
    query = select(Release).where(Release.project_id == project.id)
    if device_type is not None:
        query = query.where(Release.device_type == device_type)
    found = list(session.scalars(query))
    return sorted(found, key=lambda r: (r.device_type, version_key(r.version)))


def get(session: Session, project: Project, device_type: str, version: str) -> Release:
    release = session.scalar(
        select(Release).where(
            Release.project_id == project.id, Release.device_type == device_type,
            Release.version == version,
        )
    )  # fmt: skip
    if release is None:
        raise NotFound(
            f"no release {version} for device type {device_type!r} (see `edgeops release list`)"
        )
    return release


def find(session: Session, project: Project, ref: str) -> Release:
    """A release by `TYPE/VERSION`, or by `VERSION` when one device type has it."""
    if "/" in ref:
        device_type, _, version = ref.partition("/")
        return get(session, project, device_type, version)
    matches = list(session.scalars(
        select(Release).where(Release.project_id == project.id, Release.version == ref)
    ))  # fmt: skip
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise NotFound(f"no release {ref!r} (see `edgeops release list`)")
    types = ", ".join(sorted(m.device_type for m in matches))
    raise InvalidInput(f"release {ref} exists for several device types ({types}): name TYPE/{ref}")


def described(session: Session, release: Release) -> dict[str, Any]:
    """`record` with the model version it ships looked up."""
    model = (
        session.get(ModelVersion, release.model_version_id) if release.model_version_id else None
    )
    return record(release, model.number if model is not None else None)


def record(release: Release, model_number: int | None = None) -> dict[str, Any]:
    return {
        "id": release.id,
        "device_type": release.device_type,
        "version": release.version,
        "changelog": release.changelog,
        "model": f"v{model_number}" if model_number is not None else None,
        "artifacts": release.artifacts,
        "deltas": release.deltas,
        "created_at": release.created_at.isoformat(),
        "created_by": release.created_by,
    }
