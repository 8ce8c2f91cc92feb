"""Blobs encrypted at rest: AES-256-GCM envelopes under the same content addresses.

A sealed blob stays where its plaintext's SHA-256 says (so sample hashes, dataset versions and
feature-cache keys mean the same with encryption on or off), but the file holds an envelope:
`MAGIC · key id (8 bytes) · nonce (12 bytes) · ciphertext+tag`, with the address as associated
data (an envelope moved to another address does not open). Which key seals what, and where keys
live, is the key ring's business (`governance/encryption.py`); this layer only seals and opens.
Deleting a key makes every envelope sealed with it unreadable: crypto-shredding."""

import copy
import os
import secrets
import uuid
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from edgeops.errors import CorruptBlob, NotFound
from edgeops.store.blobs import BlobStore, sha256

MAGIC = b"EOSEAL1\x00"
_HEADER = len(MAGIC) + 8 + 12


class KeyRing(Protocol):
    """Where the data keys are."""

    def key(self, key_id: int) -> bytes | None:
        """The key with this id, or None if it was deleted (crypto-shredded)."""

    def active(self) -> bool:
        """Whether any project is encrypted (if not, nothing is sealed and puts ask no more)."""

    def encrypts(self, project_id: int) -> bool:
        """Whether the project's blobs must be sealed."""

    def key_for(self, digest: str) -> tuple[int, bytes] | None:
        """The key a blob at `digest` must be sealed with, or None to store it in clear (no
        encrypted project's sample owns it)."""


def seal(key_id: int, key: bytes, digest: str, data: bytes) -> bytes:
    """`data` (whose address is `digest`) as an envelope."""
    nonce = secrets.token_bytes(12)
    ciphertext = AESGCM(key).encrypt(nonce, data, digest.encode())
    return MAGIC + key_id.to_bytes(8, "big") + nonce + ciphertext


def is_sealed(stored: bytes) -> bool:
    return stored.startswith(MAGIC)


def key_id_of(stored: bytes) -> int:
    return int.from_bytes(stored[len(MAGIC) : len(MAGIC) + 8], "big")


def unseal(key: bytes, digest: str, stored: bytes) -> bytes:
    nonce = stored[len(MAGIC) + 8 : _HEADER]
    try:
        return AESGCM(key).decrypt(nonce, stored[_HEADER:], digest.encode())
    except InvalidTag:
        raise CorruptBlob(
            f"sealed blob {digest[:12]} does not open with its key (damaged, or moved from "
            "another address)"
        ) from None


class SealedBlobStore(BlobStore):
    """A blob store that reads envelopes transparently and seals what its key ring says must be
    sealed. Without encrypted projects it behaves exactly like `BlobStore` (a put costs one
    key-ring question, answered from memory)."""

    def __init__(self, url: str, keyring: KeyRing | None = None) -> None:
        super().__init__(url)
        self.keyring = keyring
        self._sealing: tuple[int, bytes] | None = None

    def sealing(self, key_id: int, key: bytes) -> "SealedBlobStore":
        """A view of this store whose every put is sealed with this key (for writers that know
        whose data they store, e.g. an import for one subject)."""
        view = copy.copy(self)
        view._sealing = (key_id, key)
        return view

    def __getstate__(self) -> dict[str, Any]:
        # Worker processes get the store to write blobs, not the key ring (database handles).
        state = dict(self.__dict__)
        state["keyring"] = None
        return state

    def put(self, data: bytes) -> str:
        sealing, digest = self._sealing, None
        if sealing is None and self.keyring is not None and self.keyring.active():
            digest = sha256(data)
            sealing = self.keyring.key_for(digest)
        if sealing is None:
            return super().put(data)
        digest = digest or sha256(data)
        path = self.path(digest)
        with self._reaching("store a blob"):
            if not self.fs.exists(path):
                self.write_in_place(path, seal(*sealing, digest, data))
        return digest

    def reseal(self, digest: str, key_id: int, key: bytes) -> bool:
        """Replace a clear blob by its envelope (when encryption is turned on for data already
        stored); False if it was sealed already."""
        path = self.path(digest)
        with self._reaching("read a blob"):
            stored: bytes = self.fs.cat_file(path)
        if is_sealed(stored):
            return False
        data = self.get(digest)
        self.write_in_place(path, seal(key_id, key, digest, data))
        return True

    def write_in_place(self, path: str, stored: bytes) -> None:
        """Write `stored` at `path` atomically, replacing what is there."""
        if not self._local:
            self.fs.pipe_file(path, stored)
            return
        os.makedirs(os.path.dirname(path), exist_ok=True)
        temp = os.path.join(self.root, "tmp", uuid.uuid4().hex)
        with open(temp, "wb") as handle:
            handle.write(stored)
        os.replace(temp, path)

    def get(self, digest: str) -> bytes:
        path = self.path(digest)
        try:
            with self._reaching("read a blob"):
                stored: bytes = self.fs.cat_file(path)
        except FileNotFoundError as exc:
            raise NotFound(f"blob {digest[:12]} is missing from {self.url}") from exc
        if not is_sealed(stored):
            if sha256(stored) != digest:
                raise CorruptBlob(
                    f"blob {digest[:12]} in {self.url} does not match its SHA-256 "
                    "(it was changed or damaged in storage; restore it from a backup)"
                )
            return stored
        key = self.keyring.key(key_id_of(stored)) if self.keyring is not None else None
        if key is None:
            raise NotFound(
                f"blob {digest[:12]} is encrypted with a key that was erased (crypto-shredded "
                "by a privacy erasure): its bytes cannot be read any more"
            )
        data = unseal(key, digest, stored)
        if sha256(data) != digest:
            raise CorruptBlob(f"sealed blob {digest[:12]} does not match its SHA-256")
        return data
