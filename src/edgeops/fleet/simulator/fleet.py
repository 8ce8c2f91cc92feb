"""A simulated fleet: N devices in one process, each checking in and updating on a thread
pool, over the real HTTP protocol; `round(now)` is one check-in of every device."""

import random
from collections import Counter
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import httpx

from edgeops.fleet.agent.agent import AgentConfig
from edgeops.fleet.agent.verify import TufPlaces, provision_root
from edgeops.fleet.simulator.devices import DeviceSpec, LinuxDevice, McuDevice
from edgeops.fleet.simulator.faults import Faults

Device = LinuxDevice | McuDevice


def enrol(
    http: httpx.Client, server: str, project: str, token: str, device_type: str, count: int,
    prefix: str = "sim",
) -> list[DeviceSpec]:  # fmt: skip
    """`count` devices self-registering with an enrolment token (§2 of the protocol)."""
    found = []
    for n in range(count):
        answer = http.post(f"{server.rstrip('/')}/api/v1/projects/{project}/device/enrol",
                           json={"token": token, "device_id": f"{prefix}-{n:05}",
                                 "device_type": device_type})  # fmt: skip
        answer.raise_for_status()
        found.append(DeviceSpec(f"{prefix}-{n:05}", answer.json()["key"], device_type))
    return found


def fetch_root(http: httpx.Client, server: str, project: str, key: str) -> bytes:
    """The project's first root metadata, trusted on first use (a simulation's shortcut: real
    devices get it in their factory image)."""
    answer = http.get(f"{server.rstrip('/')}/api/v1/projects/{project}/tuf/metadata/1.root.json",
                      headers={"x-api-key": key})  # fmt: skip
    answer.raise_for_status()
    return answer.content


class Simulation:
    def __init__(
        self, server: str, project: str, root: bytes, folder: Path, *,
        faults: Faults = Faults(), seed: int = 0, workers: int = 8,
        http: httpx.Client | None = None,
    ) -> None:  # fmt: skip
        self.server, self.project, self.root, self.folder = server, project, root, folder
        self.faults, self.rng, self.workers = faults, random.Random(seed), workers
        self.http = http or httpx.Client(timeout=60, limits=httpx.Limits(max_connections=32))
        self.devices: dict[str, Device] = {}
        self.outcomes: Counter[str] = Counter()

    def add(self, spec: DeviceSpec, factory: Mapping[str, bytes] | bytes | None = None,
            release: str | None = None) -> Device:  # fmt: skip
        """A device, provisioned with its trust root and (optionally) a factory release."""
        folder = self.folder / spec.device_id
        places = TufPlaces.under(folder, self.server, self.project)
        provision_root(places, self.root)
        faults = self.faults.draw(self.rng)
        device: Device
        if spec.style == "mcu":
            base = f"{self.server.rstrip('/')}/api/v1/projects/{self.project}"
            device = McuDevice(spec, places, base, self.http, faults, self.rng)
            if isinstance(factory, bytes):
                device.provision(factory)
        else:
            config = AgentConfig(self.server, self.project, spec.key, spec.device_type, folder)
            device = LinuxDevice(spec, config, self.http, faults, self.rng)
            if isinstance(factory, Mapping) and release is not None:
                device.provision(release, factory)
        self.devices[spec.device_id] = device
        return device

    def add_all(self, specs: Iterable[DeviceSpec], factory: Mapping[str, bytes] | bytes | None
                = None, release: str | None = None) -> None:  # fmt: skip
        for spec in specs:
            self.add(spec, factory, release)

    def round(self, now: datetime) -> Counter[str]:
        """Every device checks in once and carries out its offer; what happened, counted."""
        with ThreadPoolExecutor(self.workers) as pool:
            results = list(pool.map(lambda d: _step(d, now), self.devices.values()))
        counted = Counter(results)
        self.outcomes.update(counted)
        return counted

    def census(self) -> Counter[str | None]:
        """Release → devices running a complete, verified image of it (None: no such image)."""
        return Counter(device.running() for device in self.devices.values())


def _step(device: Device, now: datetime) -> str:
    try:
        return device.step(now)
    except httpx.HTTPError as exc:
        return f"server trouble: {type(exc).__name__}"
