"""The simulator's devices under faults, a few at a time: whatever is injected, every device
ends up running a complete verified image (the new one unless a fault refused or reverted
it), and the MCU's bootloader swaps, resumes and reverts like MCUboot."""

from datetime import datetime
from pathlib import Path

import pytest
from tests.fleet.agent.conftest import offer_to_all
from tests.fleet.conftest import FIRMWARE, FleetServer

from edgeops.errors import InvalidInput
from edgeops.fleet.agent.durable import PowerLoss
from edgeops.fleet.mcuboot import SlotLayout
from edgeops.fleet.releases import McubootOptions
from edgeops.fleet.simulator.devices import DeviceSpec, PowerSwitch, Style
from edgeops.fleet.simulator.faults import Faults
from edgeops.fleet.simulator.fleet import Simulation
from edgeops.fleet.simulator.mcu import Flash, Mcu, image_valid

NEW = FIRMWARE[::-1] + b"new"


def _simulation(
    fleet: FleetServer, tmp_path: Path, faults: Faults, factory: dict[str, bytes] | bytes,
    count: int = 4, style: Style = "linux", device_type: str = "pi4",
) -> Simulation:  # fmt: skip
    sim = Simulation(fleet.url, "p", fleet.root_v1(), tmp_path / "sim", faults=faults, seed=3,
                     workers=2)  # fmt: skip
    for n in range(count):
        _, key = fleet.ws.fleet.register(f"{style}-{n}", device_type)
        sim.add(DeviceSpec(f"{style}-{n}", key, device_type, style), factory, "1.0.0")
    return sim


def test_faults_parse_and_refuse_nonsense() -> None:
    faults = Faults.parse("power-loss=0.1, corrupt-download=5%,unhealthy=1@1.1.0")
    assert faults == Faults(power_loss=0.1, corrupt_download=0.05, unhealthy=1.0,
                            unhealthy_release="1.1.0")  # fmt: skip
    with pytest.raises(InvalidInput, match="choose from"):
        Faults.parse("meteor=0.5")
    with pytest.raises(InvalidInput, match="between 0 and 1"):
        Faults.parse("power-loss=2")


@pytest.mark.parametrize(
    ("faults", "expected"),
    [
        ("power-loss=1", {"1.1.0": 4}),  # interrupted, retried at the next check-in
        ("corrupt-download=1", {"1.0.0": 4}),
        ("tampered-image=1", {"1.0.0": 4}),
        ("forged-metadata=1", {"1.0.0": 4}),
        ("expired-metadata=1", {"1.0.0": 4}),
        ("unhealthy=1@1.1.0", {"1.0.0": 4}),
    ],
)
def test_linux_devices_under_a_fault_end_on_a_complete_image(
    fleet: FleetServer, tmp_path: Path, now: datetime, faults: str, expected: dict[str, int]
) -> None:
    fleet.ws.fleet.create_release("pi4", "1.0.0", {"model.eim": FIRMWARE})
    sim = _simulation(fleet, tmp_path, Faults.parse(faults), {"model.eim": FIRMWARE})
    sim.round(now)  # they report 1.0.0
    fleet.ws.fleet.create_release("pi4", "1.1.0", {"model.eim": NEW})
    offer_to_all(fleet, "1.1.0", now)
    for _ in range(3):
        sim.round(now)
    assert sim.census() == expected
    if faults == "power-loss=1":
        assert sim.outcomes["power loss"] == 4
    server_view = {d["installed_release"] for d in fleet.ws.fleet.devices()}
    assert server_view == set(expected)  # what each device told the server it runs


def test_mcu_devices_swap_confirm_and_revert(
    fleet: FleetServer, tmp_path: Path, now: datetime
) -> None:
    options = McubootOptions(SlotLayout())
    old = fleet.ws.fleet.create_release("nrf52840", "1.0.0", {"zephyr.bin": FIRMWARE},
                                        mcuboot=options)  # fmt: skip
    factory = fleet.ws.blobs.get(old["artifacts"][0]["sha256"])
    sim = _simulation(fleet, tmp_path, Faults.parse("power-loss=0.5,unhealthy=0.5@1.1.0"),
                      factory, count=6, style="mcu", device_type="nrf52840")  # fmt: skip
    sim.round(now)
    fleet.ws.fleet.create_release("nrf52840", "1.1.0", {"zephyr.bin": NEW}, mcuboot=options)
    offer_to_all(fleet, "nrf52840/1.1.0", now)
    for _ in range(3):
        sim.round(now)
    census = sim.census()
    assert None not in census and set(census) <= {"1.0.0", "1.1.0"}
    sick = sum(d.faults.sick("1.1.0") for d in sim.devices.values())
    assert census["1.0.0"] == sick and census["1.1.0"] == 6 - sick  # the sick ones reverted
    assert sim.outcomes["power loss"] >= 1


def test_the_bootloader_resumes_an_interrupted_swap_and_reverts_an_unconfirmed_image(
    fleet: FleetServer,
) -> None:
    options = McubootOptions(SlotLayout())
    images = []
    for version, payload in (("1.0.0", FIRMWARE), ("1.1.0", NEW * 2)):
        made = fleet.ws.fleet.create_release("nrf52840", version, {"zephyr.bin": payload},
                                             mcuboot=options)  # fmt: skip
        images.append(fleet.ws.blobs.get(made["artifacts"][0]["sha256"]))
    for cut in range(1, 12):
        flash = Flash(primary=bytearray(images[0]))
        mcu = Mcu(flash, PowerSwitch(cut))
        try:
            mcu.write_secondary(images[1])
            mcu.request_test_swap()
            mcu.reset()
        except PowerLoss:
            mcu.reset()
        assert image_valid(bytes(flash.primary))
        assert mcu.running() in ("1.0.0", "1.1.0")
        if mcu.running() == "1.1.0":
            assert mcu.on_trial()
            assert mcu.reset() == "reverted"  # never confirmed: back to the old image
            assert mcu.running() == "1.0.0" and image_valid(bytes(flash.primary))
