"""Getting an offer's bytes the only trusted way: through `tuf.ngclient.Updater` (signed,
fresh, consistent metadata; target length and hash), with bsdiff4 deltas when they apply."""

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from tuf.api.metadata import TargetFile
from tuf.ngclient import FetcherInterface, Updater

from edgeops.errors import EdgeopsError
from edgeops.fleet import delta as deltas
from edgeops.fleet.agent.durable import write_atomic
from edgeops.fleet.tuf_client import metadata_url, targets_url


class Refused(EdgeopsError):
    """The update's signed metadata does not back it up: the device keeps what it runs."""


@dataclass(frozen=True)
class Verified:
    """An offer's artifacts, each with the bytes whose SHA-256 is the signed target hash."""

    release: str
    files: dict[str, bytes]
    kinds: dict[str, str]
    delta_used: tuple[str, ...] = ()


@dataclass(frozen=True)
class TufPlaces:
    metadata_dir: Path
    download_dir: Path
    metadata_url: str
    targets_url: str

    @classmethod
    def under(cls, folder: Path, server: str, project: str) -> "TufPlaces":
        return cls(folder / "tuf" / "metadata", folder / "tuf" / "downloads",
                   metadata_url(server, project), targets_url(server, project))  # fmt: skip


def updater(places: TufPlaces, fetcher: FetcherInterface, now: datetime) -> Updater:
    """An ngclient updater over the device's cached trust (root.json must be provisioned)."""
    places.download_dir.mkdir(parents=True, exist_ok=True)
    found = Updater(str(places.metadata_dir), places.metadata_url, str(places.download_dir),
                    places.targets_url, fetcher=fetcher, bootstrap=None)  # fmt: skip
    # ngclient judges expiry by the wall clock taken when it starts; the device's clock is
    # `now` (the same instant on a real device, a simulated one in the simulator).
    trusted = getattr(found, "_trusted_set", None)
    if trusted is not None and hasattr(trusted, "reference_time"):
        trusted.reference_time = now
    return found


def fetch(
    offer: Mapping[str, Any], device_type: str, places: TufPlaces, fetcher: FetcherInterface,
    now: datetime, installed: Callable[[str], bytes | None],
) -> Verified:  # fmt: skip
    """Every artifact of `offer`, verified by TUF. `installed(name)` gives the running
    release's bytes of an artifact (the delta base). Raises (Refused or ngclient's errors)."""
    tuf = updater(places, fetcher, now)
    tuf.refresh()
    release = str(offer["release"])
    files: dict[str, bytes] = {}
    kinds: dict[str, str] = {}
    used: list[str] = []
    for artifact in offer["artifacts"]:
        info = _signed(tuf, artifact["target"], release, device_type)
        custom = info.unrecognized_fields["custom"]["edgeops"]
        name, kinds[name] = str(custom["name"]), str(custom["kind"])
        if name != artifact["name"]:
            raise Refused(f"signed target {info.path} names artifact {name!r}, the offer "
                          f"{artifact['name']!r}")  # fmt: skip
        rebuilt = _by_delta(tuf, artifact, info, release, device_type, places, installed)
        if rebuilt is not None:
            files[name] = rebuilt
            used.append(name)
        else:
            files[name] = _download(tuf, info, places)
    return Verified(release, files, kinds, tuple(used))


def _signed(tuf: Updater, path: str, release: str, device_type: str) -> TargetFile:
    info = tuf.get_targetinfo(path)
    if info is None:
        raise Refused(f"{path} is not a signed target of this repository")
    custom = info.unrecognized_fields.get("custom", {}).get("edgeops", {})
    if custom.get("release") != release or custom.get("device_type") != device_type:
        raise Refused(f"signed target {path} is for {custom.get('device_type')}/"
                      f"{custom.get('release')}, not {device_type}/{release}")  # fmt: skip
    return info


def _download(tuf: Updater, info: TargetFile, places: TufPlaces) -> bytes:
    """The target's bytes; a copy verified earlier (an interrupted update) is reused."""
    digest = next(iter(info.hashes.values()))
    path = str(places.download_dir / f"{digest}.{Path(info.path).name}")
    cached = tuf.find_cached_target(info, path)
    with open(cached or tuf.download_target(info, path), "rb") as handle:
        return handle.read()


def _by_delta(
    tuf: Updater, artifact: Mapping[str, Any], full: TargetFile, release: str, device_type: str,
    places: TufPlaces, installed: Callable[[str], bytes | None],
) -> bytes | None:  # fmt: skip
    """The artifact rebuilt from the running one and a signed delta, or None (take the full)."""
    offered = artifact.get("delta")
    old = installed(str(artifact["name"])) if offered else None
    if not offered or old is None or hashlib.sha256(old).hexdigest() != offered["from_sha256"]:
        return None
    try:
        info = _signed(tuf, offered["target"], release, device_type)
        custom = info.unrecognized_fields["custom"]["edgeops"]
        if custom.get("kind") != "delta" or custom.get("image_sha256") != full.hashes["sha256"]:
            return None
        return deltas.apply(old, _download(tuf, info, places), str(custom["image_sha256"]),
                            full.length)  # fmt: skip
    except Exception:  # a bad delta only costs the full download
        return None


def provision_root(places: TufPlaces, root: bytes) -> None:
    """Install the trust root (the project's `1.root.json`, delivered out of band)."""
    places.metadata_dir.mkdir(parents=True, exist_ok=True)
    if not (places.metadata_dir / "root.json").exists():
        write_atomic(places.metadata_dir / "root.json", root)


def clear_downloads(places: TufPlaces) -> None:
    """Downloads are reused by an interrupted update's retry; once installed they only fill
    the disk."""
    if places.download_dir.is_dir():
        for leftover in places.download_dir.iterdir():
            leftover.unlink()
