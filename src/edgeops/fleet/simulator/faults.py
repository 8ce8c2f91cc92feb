"""The faults a simulated fleet can suffer, each given as the share of devices it hits:
`power-loss=0.1,corrupt-download=0.05,unhealthy=1@1.1.0`."""

import random
from dataclasses import dataclass, fields

from edgeops.errors import InvalidInput
from edgeops.fleet.simulator import attacks


@dataclass(frozen=True)
class Faults:
    power_loss: float = 0.0  # the power goes at a random step of the device's next update
    corrupt_download: float = 0.0  # a bit flips in the downloaded image
    tampered_image: float = 0.0  # an attacker substitutes their own image
    expired_metadata: float = 0.0  # a frozen mirror: the metadata expired by the device clock
    forged_metadata: float = 0.0  # metadata signed with an attacker's key
    unhealthy: float = 0.0  # the new release fails its health check on the device
    unhealthy_release: str | None = None  # … only this release (None: any update)

    @classmethod
    def parse(cls, text: str) -> "Faults":
        """`name=share[,name=share…]`; `unhealthy=share@VERSION` limits it to one release."""
        names = {f.name.replace("_", "-") for f in fields(cls)} - {"unhealthy-release"}
        values: dict[str, float | str | None] = {}
        for item in filter(None, (part.strip() for part in text.split(","))):
            name, _, share = item.partition("=")
            if name not in names:
                raise InvalidInput(f"fault {name!r}: choose from {', '.join(sorted(names))}")
            share, _, release = share.partition("@")
            try:
                value = float(share.rstrip("%")) / (100 if share.endswith("%") else 1)
            except ValueError:
                raise InvalidInput(f"fault {item!r}: give a share like 0.1 or 10%") from None
            if not 0 <= value <= 1:
                raise InvalidInput(f"fault {item!r}: the share is between 0 and 1")
            values[name.replace("-", "_")] = value
            if release and name == "unhealthy":
                values["unhealthy_release"] = release
        return cls(**values)  # type: ignore[arg-type]

    def draw(self, rng: random.Random) -> "DeviceFaults":
        """Which faults hit one device."""
        network = [
            (self.corrupt_download, attacks.corrupt_download),
            (self.tampered_image, attacks.arbitrary_software),
            (self.forged_metadata, attacks.forged_timestamp),
        ]  # fmt: skip
        attack = next((a for share, a in network if rng.random() < share), None)
        return DeviceFaults(
            power_loss=rng.random() < self.power_loss,
            attack=attack,
            expired_metadata=rng.random() < self.expired_metadata,
            unhealthy=rng.random() < self.unhealthy,
            unhealthy_release=self.unhealthy_release,
        )  # fmt: skip


@dataclass
class DeviceFaults:
    power_loss: bool = False
    attack: attacks.Attack | None = None
    expired_metadata: bool = False
    unhealthy: bool = False
    unhealthy_release: str | None = None

    def sick(self, release: str | None) -> bool:
        wanted = self.unhealthy_release
        return self.unhealthy and release is not None and wanted in (None, release)
