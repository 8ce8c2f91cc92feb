"""Microcontroller images in MCUboot's format, signed with `imgtool`, so the bootloader itself
verifies what the device wrote to its secondary slot."""

import contextlib
import io
import tempfile
from dataclasses import dataclass
from pathlib import Path

import click
from imgtool import image as imgtool_image
from imgtool import keys as imgtool_keys
from imgtool.version import decode_version

from edgeops.errors import InvalidInput

DEFAULT_HEADER_SIZE = 0x200


@dataclass(frozen=True)
class SlotLayout:
    """How the bootloader lays out a slot: the header (vector table alignment) and the slot
    size, which the signed image must fit (with room for MCUboot's trailer)."""

    header_size: int = DEFAULT_HEADER_SIZE
    slot_size: int = 0  # 0: not checked
    align: int = 4


def sign_image(payload: bytes, version: str, key_pem: bytes, layout: SlotLayout) -> bytes:
    """`payload` (a raw firmware binary) as a signed MCUboot image: header, payload, TLVs
    (SHA-256, public key hash, ECDSA-P256 signature). The image version is `version`."""
    with tempfile.TemporaryDirectory(prefix="edgeops-mcuboot-") as folder:
        base = Path(folder)
        (base / "key.pem").write_bytes(key_pem)
        (base / "in.bin").write_bytes(payload)
        try:
            key = imgtool_keys.load(str(base / "key.pem"))
            image = imgtool_image.Image(
                version=decode_version(version.split("-")[0].split("+")[0]),
                header_size=layout.header_size,
                pad_header=True,
                slot_size=layout.slot_size,
                align=layout.align,
            )
            image.load(str(base / "in.bin"))
            with contextlib.redirect_stdout(io.StringIO()):  # imgtool prints progress
                image.create(key, public_key_format="hash", enckey=None)
            image.save(str(base / "out.bin"))
        except (click.UsageError, ValueError) as exc:
            raise InvalidInput(f"cannot make an MCUboot image: {exc}") from exc
        return (base / "out.bin").read_bytes()


def verify_image(data: bytes, public_or_private_pem: bytes) -> str:
    """The image's version if its signature verifies with the key, else InvalidInput."""
    with tempfile.TemporaryDirectory(prefix="edgeops-mcuboot-") as folder:
        base = Path(folder)
        (base / "key.pem").write_bytes(public_or_private_pem)
        (base / "image.bin").write_bytes(data)
        key = imgtool_keys.load(str(base / "key.pem"))
        result, version, _digest, _signature = imgtool_image.Image.verify(
            str(base / "image.bin"), key
        )
    if result != imgtool_image.VerifyResult.OK or version is None:
        raise InvalidInput(f"MCUboot image does not verify: {result.name}")
    major, minor, revision, _build = version
    return f"{major}.{minor}.{revision}"
