"""Each TUF attack class, plus tampered images and forged signatures, against the real server
with a real `tuf.ngclient.Updater`: the attacker sits between them (a fetcher that rewrites
answers) or in the server's blob store, and the device refuses every time."""

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from securesystemslib.signer import CryptoSigner
from tests.fleet.conftest import FIRMWARE, FleetServer
from tuf.api import exceptions
from tuf.api.metadata import Metadata, TargetFile, Targets, Timestamp

from edgeops.fleet import signing, tuf_repo
from edgeops.fleet.tuf_client import KeyFetcher

TARGET = "pi4/1.0.0/firmware.bin"
Rewrite = Callable[[str, bytes | None], bytes | Iterator[bytes] | None]


class Attacker(KeyFetcher):
    """A man in the middle: `rewrite(url, genuine bytes)` decides what the device gets."""

    def __init__(self, key: str, rewrite: Rewrite) -> None:
        super().__init__(key)
        self.rewrite = rewrite

    def _fetch(self, url: str) -> Iterator[bytes]:
        try:
            genuine: bytes | None = b"".join(super()._fetch(url))
        except exceptions.DownloadHTTPError:
            genuine = None  # the server has no such file; the attacker may still answer
        answer = self.rewrite(url, genuine)
        if answer is None:
            raise exceptions.DownloadHTTPError(f"no {url}", 404)
        return iter([answer]) if isinstance(answer, bytes) else answer


def _release(fleet: FleetServer, version: str = "1.0.0", data: bytes = FIRMWARE) -> None:
    fleet.ws.fleet.create_release("pi4", version, {"firmware.bin": data})


def _metadata(fleet: FleetServer, filename: str) -> bytes:
    with fleet.ws.session() as session:
        return tuf_repo.served(session, fleet.ws.projects.get("p"), filename)


def test_a_genuine_update_downloads_and_verifies(fleet: FleetServer) -> None:
    _release(fleet)
    updater = fleet.updater(fleet.make_key("device", "d1"))
    updater.refresh()
    info = updater.get_targetinfo(TARGET)
    assert info is not None and info.length == len(FIRMWARE)
    with open(updater.download_target(info), "rb") as handle:
        assert handle.read() == FIRMWARE
    assert info.unrecognized_fields["custom"]["edgeops"]["release"] == "1.0.0"


def test_rollback_attack_an_older_timestamp_is_refused(fleet: FleetServer) -> None:
    key = fleet.make_key("device", "d1")
    _release(fleet)
    old_timestamp = _metadata(fleet, "timestamp.json")
    _release(fleet, "1.1.0", FIRMWARE[::-1])
    fleet.updater(key, "d1").refresh()  # the device now trusts the newer timestamp

    def replay(url: str, genuine: bytes | None) -> bytes | None:
        return old_timestamp if url.endswith("/timestamp.json") else genuine

    with pytest.raises(exceptions.BadVersionNumberError):
        fleet.updater(key, "d1", Attacker(key, replay)).refresh()


def test_freeze_attack_expired_metadata_is_refused_until_the_scheduler_resigns(
    fleet: FleetServer,
) -> None:
    _release(fleet)
    long_ago = datetime.now(UTC) - timedelta(days=3)
    frozen = fleet.ws.projects.get("p")
    with fleet.ws.session() as session:
        signer = signing.signer_for(session, frozen, "timestamp", None)
        tuf_repo.publish_timestamp(session, frozen, signer, long_ago)  # expired a while ago
        session.commit()
    key = fleet.make_key("device", "d1")
    with pytest.raises(exceptions.ExpiredMetadataError):
        fleet.updater(key, "fresh").refresh()
    fleet.ws.fleet.advance(datetime.now(UTC))  # the scheduler re-signs what is due
    fleet.updater(key, "fresh-again").refresh()


def test_mix_and_match_attack_other_targets_metadata_is_refused(fleet: FleetServer) -> None:
    _release(fleet)
    old_targets = _metadata(fleet, "2.targets.json")  # the version naming only 1.0.0
    _release(fleet, "1.1.0", FIRMWARE[::-1])
    key = fleet.make_key("device", "d1")

    def mix(url: str, genuine: bytes | None) -> bytes | None:
        return old_targets if url.endswith("/3.targets.json") else genuine

    with pytest.raises(exceptions.RepositoryError):
        fleet.updater(key, "d1", Attacker(key, mix)).refresh()


def test_arbitrary_software_attack_substituted_bytes_are_refused(fleet: FleetServer) -> None:
    _release(fleet)
    key = fleet.make_key("device", "d1")
    evil = b"\x90" * len(FIRMWARE)  # same length, other bytes

    def substitute(url: str, genuine: bytes | None) -> bytes | None:
        return evil if "/tuf/targets/" in url else genuine

    updater = fleet.updater(key, "d1", Attacker(key, substitute))
    info = updater.get_targetinfo(TARGET)
    assert info is not None
    with pytest.raises(exceptions.LengthOrHashMismatchError):
        updater.download_target(info)
    assert updater.get_targetinfo("pi4/1.0.0/evil.bin") is None  # unsigned names do not exist


def test_endless_data_attack_is_cut_off(fleet: FleetServer) -> None:
    _release(fleet)
    key = fleet.make_key("device", "d1")

    def endless(url: str, genuine: bytes | None) -> Iterator[bytes]:
        def forever() -> Iterator[bytes]:
            yield genuine or b""
            while True:
                yield b" " * 65536

        return forever()

    def endless_targets(url: str, genuine: bytes | None) -> bytes | Iterator[bytes] | None:
        return endless(url, genuine) if "/tuf/targets/" in url else genuine

    with pytest.raises(exceptions.DownloadLengthMismatchError):
        fleet.updater(key, "d1", Attacker(key, endless)).refresh()  # timestamp.json
    flooded = fleet.updater(key, "d2", Attacker(key, endless_targets))
    info = flooded.get_targetinfo(TARGET)
    assert info is not None
    with pytest.raises(exceptions.DownloadLengthMismatchError):
        flooded.download_target(info)


def test_tampered_image_in_the_server_store_is_refused(fleet: FleetServer) -> None:
    _release(fleet)
    digest = fleet.ws.fleet.release("1.0.0")["artifacts"][0]["sha256"]
    path = fleet.ws.blobs.path(digest)
    tampered = bytearray(FIRMWARE)
    tampered[100] ^= 0xFF
    with open(path, "wb") as handle:  # someone with disk access edits the stored image
        handle.write(tampered)
    updater = fleet.updater(fleet.make_key("device", "d1"))
    info = updater.get_targetinfo(TARGET)
    assert info is not None
    with pytest.raises((exceptions.DownloadError, exceptions.RepositoryError)):
        updater.download_target(info)


def test_tampered_image_in_transit_is_refused(fleet: FleetServer) -> None:
    _release(fleet)
    key = fleet.make_key("device", "d1")

    def flip(url: str, genuine: bytes | None) -> bytes | None:
        if genuine is None or "/tuf/targets/" not in url:
            return genuine
        changed = bytearray(genuine)
        changed[-1] ^= 1
        return bytes(changed)

    updater = fleet.updater(key, "d1", Attacker(key, flip))
    info = updater.get_targetinfo(TARGET)
    assert info is not None
    with pytest.raises(exceptions.LengthOrHashMismatchError):
        updater.download_target(info)


def test_forged_signatures_are_refused(fleet: FleetServer) -> None:
    """An attacker with their own key signs a timestamp, a targets file naming malware, and a
    new root: the device trusts none of them."""
    _release(fleet)
    key = fleet.make_key("device", "d1")
    forger = CryptoSigner.generate_ed25519()

    def forged_timestamp(url: str, genuine: bytes | None) -> bytes | None:
        if genuine is None or not url.endswith("/timestamp.json"):
            return genuine
        metadata: Metadata[Timestamp] = Metadata.from_bytes(genuine)
        metadata.signed.version += 1
        metadata.sign(forger)
        return metadata.to_bytes()

    with pytest.raises(exceptions.UnsignedMetadataError):
        fleet.updater(key, "a", Attacker(key, forged_timestamp)).refresh()

    def forged_root(url: str, genuine: bytes | None) -> bytes | None:
        if not url.endswith("/2.root.json"):
            return genuine
        root = Metadata.from_bytes(_metadata(fleet, "1.root.json"))
        root.signed.version = 2
        for role in ("root", "targets", "snapshot", "timestamp"):
            for keyid in list(root.signed.roles[role].keyids):
                root.signed.revoke_key(keyid, role)
            root.signed.add_key(forger.public_key, role)
        root.sign(forger, append=False)
        return root.to_bytes()

    with pytest.raises(exceptions.UnsignedMetadataError):
        fleet.updater(key, "b", Attacker(key, forged_root)).refresh()

    targets_file = _metadata(fleet, "2.targets.json")

    def forged_targets(url: str, genuine: bytes | None) -> bytes | None:
        if not url.endswith("/2.targets.json"):
            return genuine
        metadata: Metadata[Targets] = Metadata.from_bytes(targets_file)
        malware = TargetFile.from_data(TARGET, b"malware", ["sha256"])
        metadata.signed.targets[TARGET] = malware
        metadata.sign(forger, append=False)
        return metadata.to_bytes()

    with pytest.raises(exceptions.RepositoryError):
        fleet.updater(key, "c", Attacker(key, forged_targets)).refresh()
