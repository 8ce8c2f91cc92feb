"""Releases: versions only go up, deltas start from what devices run and rebuild the exact
image, MCU images verify with the bootloader's key, keys stay where they belong and rotate."""

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from tests.fleet.conftest import FIRMWARE, FleetServer

from edgeops.errors import Conflict, InvalidInput, NotFound
from edgeops.fleet import delta, mcuboot, signing
from edgeops.fleet.mcuboot import SlotLayout
from edgeops.fleet.releases import McubootOptions, version_key
from edgeops.store.tables import SigningKey
from edgeops.workspace import Workspace


def test_semantic_versions_order_like_semver() -> None:
    ordered = ["0.9.0", "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-beta", "1.0.0-rc.1", "1.0.0",
               "1.0.1", "1.2.0", "1.10.0", "2.0.0"]  # fmt: skip
    assert sorted(ordered[::-1], key=version_key) == ordered
    for bad in ("1.0", "01.0.0", "v1.0.0", "1.0.0-", ""):
        with pytest.raises(InvalidInput, match="semantic version"):
            version_key(bad)


@settings(max_examples=25, deadline=None)
@given(st.binary(max_size=2000), st.binary(max_size=2000))
def test_a_delta_rebuilds_exactly_the_new_image(old: bytes, new: bytes) -> None:
    patch = delta.make(old, new)
    digest = hashlib.sha256(new).hexdigest()
    assert delta.apply(old, patch, digest, len(new)) == new
    with pytest.raises(InvalidInput):
        delta.apply(old, patch, hashlib.sha256(new + b"!").hexdigest(), len(new))


def test_versions_only_go_up_per_device_type(fleet: FleetServer) -> None:
    fleet.ws.fleet.create_release("pi4", "1.1.0", {"a.bin": b"x"})
    with pytest.raises(Conflict, match="higher version"):
        fleet.ws.fleet.create_release("pi4", "1.0.9", {"a.bin": b"y"})
    fleet.ws.fleet.create_release("esp32", "1.1.0", {"a.bin": b"y"})  # another type: its own line
    with pytest.raises(InvalidInput, match="several device types"):
        fleet.ws.fleet.release("1.1.0")
    assert fleet.ws.fleet.release("esp32/1.1.0")["device_type"] == "esp32"
    with pytest.raises(InvalidInput, match="artifact name"):
        fleet.ws.fleet.create_release("pi4", "2.0.0", {"../etc/passwd": b"x"})


def test_deltas_start_from_releases_devices_run_and_are_smaller(fleet: FleetServer) -> None:
    weights = bytes(range(256)) * 16
    fleet.ws.fleet.create_release("pi4", "1.0.0", {"app.bin": FIRMWARE + weights})
    unused = fleet.ws.fleet.create_release("pi4", "1.1.0", {"app.bin": FIRMWARE + weights[::-1]})
    assert unused["deltas"] == []  # nobody runs 1.0.0 yet
    fleet.ws.fleet.register("d1", "pi4")
    from edgeops.fleet import reports

    with fleet.ws.session() as session:
        project = fleet.ws.projects.get("p")
        reports.checkin(session, project, "d1", reports.CheckIn(installed="1.0.0"),
                        datetime.now(UTC), "test")  # fmt: skip
        session.commit()
    new_image = FIRMWARE + bytes(reversed(range(256))) * 8 + weights[:2048]
    release = fleet.ws.fleet.create_release("pi4", "1.2.0", {"app.bin": new_image})
    [made] = release["deltas"]
    assert made["from_version"] == "1.0.0" and made["length"] < 0.3 * len(new_image)
    old = fleet.ws.blobs.get(made["from_sha256"])
    rebuilt = delta.apply(old, fleet.ws.blobs.get(made["sha256"]), made["image_sha256"],
                          made["image_length"])  # fmt: skip
    assert rebuilt == new_image


def test_mcu_images_are_signed_for_mcuboot_and_forgeries_fail(fleet: FleetServer) -> None:
    firmware = bytes(range(200)) * 50
    release = fleet.ws.fleet.create_release(
        "nrf52", "1.3.0", {"zephyr.bin": firmware},
        mcuboot=McubootOptions(SlotLayout(slot_size=0x40000)),
    )  # fmt: skip
    [artifact] = release["artifacts"]
    assert artifact["kind"] == "mcuboot"
    image = fleet.ws.blobs.get(artifact["sha256"])
    folder = fleet.ws.fleet.key_folder(fleet.ws.projects.get("p"))
    assert mcuboot.verify_image(image, folder.read("mcuboot")) == "1.3.0"
    assert image[mcuboot.DEFAULT_HEADER_SIZE : mcuboot.DEFAULT_HEADER_SIZE + len(firmware)] == (
        firmware
    )
    from imgtool import keys as imgtool_keys

    other = signing.mcuboot_private_pem(imgtool_keys.ECDSA256P1.generate())
    with pytest.raises(InvalidInput, match="INVALID_SIGNATURE"):
        mcuboot.verify_image(image, other)
    with pytest.raises(InvalidInput, match="MCUboot"):
        fleet.ws.fleet.create_release(
            "nrf52",
            "1.4.0",
            {"zephyr.bin": firmware * 100},
            mcuboot=McubootOptions(SlotLayout(slot_size=0x1000)),
        )


def test_offline_keys_never_reach_the_database(fleet: FleetServer) -> None:
    with fleet.ws.session() as session:
        stored = {row.role: row.private_pem for row in session.scalars(select(SigningKey))}
    assert stored["root"] is None and stored["targets"] is None
    assert stored["snapshot"] and stored["timestamp"]
    folder = fleet.ws.fleet.key_folder(fleet.ws.projects.get("p"))
    assert folder.file("root").stat().st_mode & 0o077 == 0
    # Without the key folder nobody can sign a release, not even the server.
    with pytest.raises(NotFound, match="targets key"):
        fleet.ws.fleet.create_release("pi4", "1.0.0", {"a.bin": b"x"},
                                      keys_dir=fleet.tmp / "elsewhere")  # fmt: skip
    # A stranger's key folder is refused by key id.
    other = signing.KeyFolder(fleet.tmp / "elsewhere" / "p")
    other.write("targets", signing.CryptoSigner.generate_ed25519().private_bytes)
    with pytest.raises(InvalidInput, match="not the project's current targets key"):
        fleet.ws.fleet.create_release("pi4", "1.0.0", {"a.bin": b"x"},
                                      keys_dir=fleet.tmp / "elsewhere")  # fmt: skip


@pytest.mark.parametrize("role", ["root", "targets", "timestamp"])
def test_a_rotated_key_is_trusted_by_devices_provisioned_before(
    fleet: FleetServer, role: str
) -> None:
    fleet.ws.fleet.create_release("pi4", "1.0.0", {"a.bin": FIRMWARE})
    key = fleet.make_key("device", "d1")
    fleet.updater(key, "d1").refresh()
    rotated = fleet.ws.fleet.signing_rotate(role)
    assert rotated["root_version"] == 2
    fleet.ws.fleet.create_release("pi4", "1.1.0", {"a.bin": FIRMWARE[::-1]})
    updater = fleet.updater(key, "d1")  # resumes from its cached v1 root
    info = updater.get_targetinfo("pi4/1.1.0/a.bin")
    assert info is not None
    with open(updater.download_target(info), "rb") as handle:
        assert handle.read() == FIRMWARE[::-1]
    with pytest.raises(Conflict, match="already has update signing keys"):
        fleet.ws.fleet.signing_init()


def test_a_release_names_the_model_version_it_ships(tmp_path: Path) -> None:
    from edgeops.demo import HMAC_KEY, RECIPE, write_recordings

    ws = Workspace(tmp_path / "home")
    ws.projects.create("motion")
    ws.data.import_files(write_recordings(tmp_path / "recordings"), hmac_key=HMAC_KEY)
    ws.data.commit("BasicMotions")
    (tmp_path / "motion.yaml").write_text(RECIPE)
    model = ws.train(tmp_path / "motion.yaml", seed=1)
    ws.models.alias("production", f"v{model.number}")
    ws.fleet.signing_init()
    made = ws.fleet.create_release("pi4", "1.0.0", {"model.bin": b"weights"}, model="production")
    assert made["model"] == f"v{model.number}"
    assert ws.fleet.releases()[0]["model"] == f"v{model.number}"
    with pytest.raises(NotFound):
        ws.fleet.create_release("pi4", "1.1.0", {"model.bin": b"w"}, model="staging")
    ws.close()
