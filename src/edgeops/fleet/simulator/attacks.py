"""A man in the middle between one device and the server: a TUF fetcher that can rewrite any
answer. Each attack is a function (url, genuine bytes) → what the device receives."""

import random
from collections.abc import Callable, Iterator

from securesystemslib.signer import CryptoSigner
from tuf.api import exceptions
from tuf.api.metadata import Metadata

from edgeops.fleet.tuf_client import KeyFetcher

Answer = bytes | Iterator[bytes] | None
Attack = Callable[[str, bytes | None], Answer]


def honest(url: str, genuine: bytes | None) -> Answer:
    return genuine


class Interceptor(KeyFetcher):
    """Fetches the genuine answer, remembers every metadata file it saw (for replays), then
    lets `attack` decide what the device gets."""

    def __init__(self, key: str, attack: Attack = honest) -> None:
        super().__init__(key)
        self.attack = attack
        self.seen: dict[str, bytes] = {}
        self.requested: list[str] = []  # every URL, in order

    def _fetch(self, url: str) -> Iterator[bytes]:
        self.requested.append(url)
        try:
            genuine: bytes | None = b"".join(super()._fetch(url))
        except exceptions.DownloadHTTPError:
            genuine = None
        if genuine is not None and "/tuf/metadata/" in url:
            self.seen.setdefault(url.rsplit("/", 1)[1], genuine)
        answer = self.attack(url, genuine)
        if answer is None:
            raise exceptions.DownloadHTTPError(f"HTTP 404 for {url}", 404)
        return iter([answer]) if isinstance(answer, bytes) else answer


def _target(url: str) -> bool:
    return "/tuf/targets/" in url


def corrupt_download(url: str, genuine: bytes | None) -> Answer:
    """A bit flipped on the way (bad link, bad cache)."""
    if genuine is None or not _target(url):
        return genuine
    changed = bytearray(genuine)
    changed[len(changed) // 2] ^= 0x01
    return bytes(changed)


def truncated_download(url: str, genuine: bytes | None) -> Answer:
    return genuine[: len(genuine) // 2] if genuine is not None and _target(url) else genuine


def arbitrary_software(url: str, genuine: bytes | None) -> Answer:
    """The attacker's own image, the same length as the genuine one (a tampered image)."""
    if genuine is None or not _target(url):
        return genuine
    return bytes(random.Random(len(genuine)).randbytes(len(genuine)))


def endless_data(url: str, genuine: bytes | None) -> Answer:
    """The genuine bytes, then no end of padding."""
    if genuine is None or not _target(url):
        return genuine

    def forever() -> Iterator[bytes]:
        yield genuine
        while True:
            yield b"\0" * 65536

    return forever()


def forged_timestamp(url: str, genuine: bytes | None) -> Answer:
    """A newer timestamp signed with the attacker's own key."""
    if genuine is None or not url.endswith("/timestamp.json"):
        return genuine
    metadata = Metadata.from_bytes(genuine)
    metadata.signed.version += 1
    metadata.signatures.clear()
    metadata.sign(CryptoSigner.generate_ed25519())
    return metadata.to_bytes()


def replay_timestamp(interceptor: Interceptor) -> Attack:
    """Rollback: the first timestamp this device ever fetched, served again (an old version)."""

    def attack(url: str, genuine: bytes | None) -> Answer:
        if url.endswith("/timestamp.json") and "timestamp.json" in interceptor.seen:
            return interceptor.seen["timestamp.json"]
        return genuine

    return attack


def mix_and_match(interceptor: Interceptor) -> Attack:
    """Mix-and-match: an older targets metadata (genuinely signed) served in place of the
    version the snapshot names."""

    def attack(url: str, genuine: bytes | None) -> Answer:
        name = url.rsplit("/", 1)[1]
        if name.endswith(".targets.json"):
            older = sorted((k for k in interceptor.seen if k.endswith(".targets.json")),
                           key=lambda k: int(k.split(".")[0]))  # fmt: skip
            if older and older[0] != name:
                return interceptor.seen[older[0]]
        return genuine

    return attack
