"""Power cut at every kind of step of the A/B install, 1,000 times: after the reboot the device
always runs a complete, hash-verified release, the old one or the new one, never a mix."""

import contextlib
import hashlib
import random
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from edgeops.fleet.agent.durable import PowerLoss
from edgeops.fleet.agent.slots import SlotStore

UPDATES = 1_000


class Power:
    """Counts durable steps; cuts the power at step `cut_at` (never when None)."""

    def __init__(self, cut_at: int | None = None) -> None:
        self.cut_at, self.steps = cut_at, 0

    def __call__(self, step: str) -> None:
        self.steps += 1
        if self.steps == self.cut_at:
            raise PowerLoss(step)


@pytest.fixture
def folder(tmp_path: Path) -> Iterator[Path]:
    """On tmpfs when there is one: the cuts are simulated, so real fsyncs only cost time."""
    shm = Path("/dev/shm")
    if not shm.is_dir():
        yield tmp_path
        return
    with tempfile.TemporaryDirectory(dir=shm, prefix="edgeops-slots-") as found:
        yield Path(found)


def _release(version: int) -> dict[str, bytes]:
    body = hashlib.sha256(str(version).encode()).digest() * (8 + version % 5)
    return {"model.eim": body, "labels.json": f'["v{version}"]'.encode()}


def _install(slots: SlotStore, version: int, healthy: bool) -> None:
    slots.stage(f"{version}.0.0", _release(version), {})
    slots.switch()
    slots.confirm() if healthy else slots.revert()


def _exact(slots: SlotStore, version: int) -> bool:
    """The running slot holds exactly release `version`'s bytes."""
    active = slots.active()
    assert active is not None
    files = {
        p.name: p.read_bytes() for p in slots.folder(active).iterdir() if p.name != "slot.json"
    }
    return files == _release(version)


def test_every_interrupted_update_boots_a_complete_release(folder: Path) -> None:
    rng = random.Random(7)
    power = Power()
    slots = SlotStore(folder / "device", power)
    _install(slots, 0, healthy=True)
    steps = Power()
    _install(SlotStore(folder / "count", steps), 1, healthy=True)
    running, outcomes = 0, {"old": 0, "new": 0}
    broken = []
    for n in range(1, UPDATES + 1):
        power.cut_at, power.steps = rng.randint(1, steps.steps + 2), 0  # sometimes no cut
        healthy = rng.random() < 0.8
        with contextlib.suppress(PowerLoss):
            _install(slots, n, healthy)
        power.cut_at = None
        if slots.recover() == "trial":  # rebooted into the new release before it confirmed
            slots.confirm() if healthy else slots.revert()
        installed = slots.installed()
        if not slots.verified() or installed not in (f"{running}.0.0", f"{n}.0.0"):
            broken.append((n, installed))
            continue
        running = int(str(installed).split(".")[0])
        assert _exact(slots, running)
        outcomes["new" if running == n else "old"] += 1
    assert broken == []
    assert outcomes["new"] + outcomes["old"] == UPDATES
    assert outcomes["new"] > 100 and outcomes["old"] > 100  # both sides of the cut were hit


@pytest.mark.parametrize("cut_at", range(1, 30))
def test_a_cut_at_each_step_leaves_old_or_new(folder: Path, cut_at: int) -> None:
    power = Power()
    slots = SlotStore(folder, power)
    _install(slots, 1, healthy=True)
    power.cut_at, power.steps = cut_at, 0
    with contextlib.suppress(PowerLoss):
        _install(slots, 2, healthy=True)
    power.cut_at = None
    if slots.recover() == "trial":
        slots.confirm()
    assert slots.verified()
    assert slots.installed() in ("1.0.0", "2.0.0")
    assert _exact(slots, int(str(slots.installed())[0]))


def test_a_release_that_dies_on_trial_twice_is_reverted(tmp_path: Path) -> None:
    slots = SlotStore(tmp_path)
    _install(slots, 1, healthy=True)
    slots.stage("2.0.0", _release(2), {})
    slots.switch()
    assert slots.installed() == "2.0.0"
    assert slots.recover() == "trial"  # the first reboot gives it a chance
    assert slots.recover() == "reverted"  # it died again before confirming
    assert slots.installed() == "1.0.0" and slots.verified()
    assert slots.journal() is None


def test_a_torn_slot_is_never_switched_to(tmp_path: Path) -> None:
    slots = SlotStore(tmp_path)
    _install(slots, 1, healthy=True)
    slots.stage("2.0.0", _release(2), {})
    (slots.folder(slots.inactive()) / "model.eim").write_bytes(b"half")
    with pytest.raises(RuntimeError, match="incomplete"):
        slots.switch()
    assert slots.installed() == "1.0.0"
