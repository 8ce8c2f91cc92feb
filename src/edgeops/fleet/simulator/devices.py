"""Simulated devices: a Linux one (the real agent on a folder of its own) and an MCU one (flash
slots and a bootloader in memory), both verifying with TUF and faults applied as drawn."""

import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import httpx

from edgeops.fleet.agent import verify
from edgeops.fleet.agent.agent import Agent, AgentConfig
from edgeops.fleet.agent.durable import PowerLoss
from edgeops.fleet.agent.health import integrity
from edgeops.fleet.agent.slots import SlotStore
from edgeops.fleet.simulator import attacks
from edgeops.fleet.simulator.faults import DeviceFaults
from edgeops.fleet.simulator.mcu import Flash, Mcu, image_valid

Style = Literal["linux", "mcu"]
FROZEN_CLOCK = timedelta(days=2)  # how far past its timestamp's expiry a frozen device lives
LINUX_STEPS = 16  # durable steps of a one-artifact A/B update, journal to confirmation


@dataclass(frozen=True)
class DeviceSpec:
    device_id: str
    key: str
    device_type: str
    style: Style = "linux"


class PowerSwitch:
    """A crash point that cuts the power once, at the `at`-th durable step (None: never)."""

    def __init__(self, at: int | None = None) -> None:
        self.at, self.steps = at, 0

    def __call__(self, step: str) -> None:
        self.steps += 1
        if self.at is not None and self.steps >= self.at:
            self.at = None
            raise PowerLoss(step)


class LinuxDevice:
    def __init__(
        self, spec: DeviceSpec, config: AgentConfig, http: httpx.Client, faults: DeviceFaults,
        rng: random.Random,
    ) -> None:  # fmt: skip
        self.spec, self.config, self.http, self.faults = spec, config, http, faults
        self.interceptor = attacks.Interceptor(spec.key, faults.attack or attacks.honest)
        self.power = PowerSwitch(rng.randint(1, LINUX_STEPS) if faults.power_loss else None)
        self.agent = self._start()
        self.power_cuts = 0

    def _start(self) -> Agent:
        return Agent(self.config, http=self.http, fetcher=self.interceptor, health=self._health,
                     crash=self.power)  # fmt: skip

    def _health(self, slots: SlotStore) -> str | None:
        if self.faults.sick(slots.installed()):
            return "self-test failed (simulated)"
        return integrity(slots)

    def provision(self, release: str, files: Mapping[str, bytes]) -> None:
        """The factory image: written straight into a slot, no update involved."""
        slots = SlotStore(self.config.folder)  # the power stays on in the factory
        slots.stage(release, files, {})
        slots.switch()
        slots.confirm()

    def step(self, now: datetime) -> str:
        clock = now + FROZEN_CLOCK if self.faults.expired_metadata else now
        try:
            return self.agent.poll(clock)
        except PowerLoss:
            self.power_cuts += 1
            self.agent = self._start()  # the reboot: nothing in memory survives
            self.agent.boot()
            self.agent.check_in()
            return "power loss"

    def running(self) -> str | None:
        return self.agent.slots.installed() if self.agent.slots.verified() else None


class McuDevice:
    """An MCU (or its gateway) doing §8 of the protocol: TUF-verify the signed image, write it
    to the secondary slot, request a test swap, reset, self-test, confirm or let it revert."""

    def __init__(
        self, spec: DeviceSpec, places: verify.TufPlaces, base: str, http: httpx.Client,
        faults: DeviceFaults, rng: random.Random, downgrade_prevention: bool = False,
    ) -> None:  # fmt: skip
        self.spec, self.places, self.base, self.http = spec, places, base, http
        self.faults, self.downgrade_prevention = faults, downgrade_prevention
        self.interceptor = attacks.Interceptor(spec.key, faults.attack or attacks.honest)
        self.power = PowerSwitch(rng.randint(1, 8) if faults.power_loss else None)
        self.flash = Flash()
        self.mcu = Mcu(self.flash, self.power)
        self.power_cuts = 0
        self.reports: list[tuple[str, str, str]] = []

    def _post(self, route: str, body: Mapping[str, Any]) -> dict[str, Any]:
        answer = self.http.post(f"{self.base}{route}", json=dict(body),
                                headers={"x-api-key": self.spec.key})  # fmt: skip
        answer.raise_for_status()
        found: dict[str, Any] = answer.json()
        return found

    def report(self, release: str, state: str, detail: str = "") -> None:
        self.reports.append((release, state, detail))
        self._post("/device/status", {"release": release, "state": state, "detail": detail})

    def check_in(self) -> dict[str, Any]:
        return self._post("/device/checkin", {"installed": self.mcu.running(),
                                              "device_type": self.spec.device_type})  # fmt: skip

    def provision(self, image: bytes) -> None:
        self.flash.primary = bytearray(image)

    def step(self, now: datetime) -> str:
        try:
            offer = self.check_in().get("update")
            if not offer or offer["release"] == self.mcu.running():
                return "up to date"
            outcome = self._update(offer, now)
        except PowerLoss:
            self.power_cuts += 1
            outcome = self._reboot()
        self.check_in()
        return outcome

    def _update(self, offer: Mapping[str, Any], now: datetime) -> str:
        release = str(offer["release"])
        if offer.get("rollback") and self.downgrade_prevention:
            self.report(release, "failed", "downgrade prevented")
            return "failed"
        self.report(release, "downloading")
        clock = now + FROZEN_CLOCK if self.faults.expired_metadata else now
        try:
            verified = verify.fetch(offer, self.spec.device_type, self.places, self.interceptor,
                                    clock, lambda name: None)  # fmt: skip
            (image,) = [verified.files[n] for n, k in verified.kinds.items() if k == "mcuboot"]
        except Exception as exc:
            self.report(release, "failed", type(exc).__name__)
            return "failed"
        self.report(release, "installing")
        self.mcu.write_secondary(image)
        self.mcu.request_test_swap()
        if self.mcu.reset() == "rejected":
            self.report(release, "failed", "bootloader rejected the image")
            return "failed"
        self.report(release, "installed")
        return self._self_test(release)

    def _self_test(self, release: str) -> str:
        if self.faults.sick(self.mcu.running()):
            self.mcu.reset()  # not confirmed: MCUboot swaps the old image back
            self.report(release, "rolled-back", "self-test failed (simulated)")
            return "rolled-back"
        self.mcu.confirm()
        self.report(release, "healthy")
        return "healthy"

    def _reboot(self) -> str:
        """After a power cut: the bootloader finishes (or undoes) a swap, then the application
        judges an image on trial."""
        self.mcu.reset()
        if self.mcu.on_trial():
            release = self.mcu.running()
            assert release is not None
            self._self_test(release)
        return "power loss"

    def running(self) -> str | None:
        image = bytes(self.flash.primary)
        return self.mcu.running() if image_valid(image) else None
