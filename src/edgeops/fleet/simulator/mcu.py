"""A microcontroller with two flash slots and an MCUboot-like bootloader: the new image goes
to the secondary slot, a trailer marks it for a test swap, the bootloader checks and swaps it
in sector by sector (resuming after a power cut), and reverts it unless the application
confirms it after its self-test."""

import hashlib
import struct
from dataclasses import dataclass, field
from typing import Literal

from edgeops.fleet.agent.durable import CrashPoint, never

IMAGE_MAGIC = 0x96F3B83D
TLV_INFO_MAGIC = 0x6907
SECTOR = 4096
Boot = Literal["primary", "swapped", "reverted", "resumed", "rejected"]


def image_version(image: bytes) -> str | None:
    """The version in an MCUboot image header (major.minor.revision), None if not an image."""
    if len(image) < 32 or struct.unpack_from("<I", image, 0)[0] != IMAGE_MAGIC:
        return None
    major, minor, revision = struct.unpack_from("<BBH", image, 20)
    return f"{major}.{minor}.{revision}"


def image_valid(image: bytes) -> bool:
    """The header is ours and the SHA-256 TLV matches header + payload (what the bootloader
    checks before it boots or swaps an image; the real one also checks the ECDSA TLV)."""
    if image_version(image) is None:
        return False
    header_size, protected = struct.unpack_from("<HH", image, 8)
    size = struct.unpack_from("<I", image, 12)[0]
    end = header_size + size
    tlvs = image[end + protected :]
    if len(tlvs) < 4 or struct.unpack_from("<H", tlvs, 0)[0] != TLV_INFO_MAGIC:
        return False
    return hashlib.sha256(image[:end]).digest() in tlvs


@dataclass
class Trailer:
    """MCUboot's image trailer, at the end of a slot: magic (a swap is requested), image_ok
    (the application confirmed it), copy_done (the swap finished)."""

    magic: bool = False
    image_ok: bool = False
    copy_done: bool = False


@dataclass
class Flash:
    """What survives a power cut: both slots, their trailers and the swap status."""

    primary: bytearray = field(default_factory=bytearray)
    secondary: bytearray = field(default_factory=bytearray)
    primary_trailer: Trailer = field(default_factory=lambda: Trailer(image_ok=True))
    secondary_trailer: Trailer = field(default_factory=Trailer)
    swap_sectors_done: int | None = None  # a swap under way (MCUboot's swap status)
    swap_reverting: bool = False


class Bootloader:
    def __init__(self, flash: Flash, crash: CrashPoint = never) -> None:
        self.flash, self.crash = flash, crash

    def boot(self) -> Boot:
        """What MCUboot does at reset; afterwards the primary slot holds the image to run."""
        flash = self.flash
        if flash.swap_sectors_done is not None:
            self._swap(flash.swap_reverting)
            return "resumed"
        if flash.secondary_trailer.magic:
            if not image_valid(bytes(flash.secondary)):
                flash.secondary_trailer = Trailer()  # never boot what does not verify
                return "rejected"
            self._swap(reverting=False)
            return "swapped"
        if flash.primary_trailer.copy_done and not flash.primary_trailer.image_ok:
            self._swap(reverting=True)  # tested, not confirmed: go back
            return "reverted"
        return "primary"

    def _swap(self, reverting: bool) -> None:
        """Exchange the slots sector by sector; the status after each sector lets a swap cut
        by a power loss resume where it stopped (MCUboot's scratch-and-status swap)."""
        flash = self.flash
        size = max(len(flash.primary), len(flash.secondary))
        if flash.swap_sectors_done is None:
            self.crash("swap start")
            flash.swap_sectors_done, flash.swap_reverting = 0, reverting
        sectors = -(-size // SECTOR)
        flash.primary.extend(b"\xff" * (size - len(flash.primary)))
        flash.secondary.extend(b"\xff" * (size - len(flash.secondary)))
        while flash.swap_sectors_done < sectors:
            self.crash(f"swap sector {flash.swap_sectors_done}")
            at = slice(flash.swap_sectors_done * SECTOR, (flash.swap_sectors_done + 1) * SECTOR)
            flash.primary[at], flash.secondary[at] = flash.secondary[at], flash.primary[at]
            flash.swap_sectors_done += 1
        self.crash("swap done")
        flash.primary_trailer = Trailer(magic=not reverting, copy_done=not reverting,
                                        image_ok=reverting)  # fmt: skip
        flash.secondary_trailer = Trailer()
        flash.swap_sectors_done, flash.swap_reverting = None, False


class Mcu:
    """The device's application side: write the secondary slot, request a test swap, reset,
    confirm. `crash` is called before every flash write (tests cut the power there)."""

    def __init__(self, flash: Flash, crash: CrashPoint = never) -> None:
        self.flash, self.crash = flash, crash
        self.bootloader = Bootloader(flash, crash)

    def running(self) -> str | None:
        return image_version(bytes(self.flash.primary))

    def on_trial(self) -> bool:
        trailer = self.flash.primary_trailer
        return trailer.copy_done and not trailer.image_ok

    def write_secondary(self, image: bytes) -> None:
        self.flash.secondary_trailer = Trailer()
        self.flash.secondary = bytearray()
        for start in range(0, len(image), SECTOR):
            self.crash(f"write sector {start // SECTOR}")
            self.flash.secondary.extend(image[start : start + SECTOR])

    def request_test_swap(self) -> None:
        """`boot_set_pending(0)`: swap at the next reset, revert unless confirmed."""
        self.crash("set pending")
        self.flash.secondary_trailer = Trailer(magic=True)

    def confirm(self) -> None:
        """`boot_set_confirmed()`."""
        self.crash("confirm")
        self.flash.primary_trailer = Trailer(magic=True, copy_done=True, image_ok=True)

    def reset(self) -> Boot:
        return self.bootloader.boot()
