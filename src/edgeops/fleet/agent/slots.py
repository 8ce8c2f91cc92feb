"""A/B slots on a Linux device: two folders, a `current` symlink switched by one atomic rename,
and a journal of the update step, so that a device booting after a power cut runs a complete
old or a complete new release, never a mix."""

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from edgeops.fleet.agent.durable import (
    CrashPoint,
    fsync_folder,
    never,
    point_link,
    read_json,
    remove,
    write_atomic,
    write_json,
)

SLOTS = ("a", "b")
MANIFEST = "slot.json"  # written last: a slot without it is incomplete and never booted
MAX_TRIAL_BOOTS = 2  # a release that keeps dying before it confirms itself is reverted
Recovery = Literal["idle", "trial", "discarded", "reverted"]


@dataclass(frozen=True)
class Artifact:
    name: str
    sha256: str
    length: int
    kind: str = "file"


@dataclass(frozen=True)
class Manifest:
    """What a slot holds: the release version and each artifact's SHA-256 (the delta base)."""

    release: str
    artifacts: dict[str, Artifact]

    def to_json(self) -> dict[str, Any]:
        return {"release": self.release,
                "artifacts": {n: a.__dict__ for n, a in self.artifacts.items()}}  # fmt: skip

    @classmethod
    def from_json(cls, value: Any) -> "Manifest | None":
        if not isinstance(value, dict) or "release" not in value:
            return None
        artifacts = {n: Artifact(**a) for n, a in value.get("artifacts", {}).items()}
        return cls(str(value["release"]), artifacts)


class SlotStore:
    """The slots under `root`: `slots/a`, `slots/b`, the `current` link and `journal.json`.
    `crash` is called before every durable step (tests cut the power there)."""

    def __init__(self, root: Path, crash: CrashPoint = never) -> None:
        self.root = root
        self.crash = crash
        for slot in SLOTS:
            (root / "slots" / slot).mkdir(parents=True, exist_ok=True)
        self._link = root / "current"
        self._journal = root / "journal.json"

    # -- reading -----------------------------------------------------------------------------
    def active(self) -> str | None:
        """The slot `current` points at (None before the first install)."""
        if not self._link.is_symlink():
            return None
        name = Path(str(self._link.readlink())).name
        return name if name in SLOTS else None

    def inactive(self) -> str:
        return "b" if self.active() == "a" else "a"

    def folder(self, slot: str) -> Path:
        return self.root / "slots" / slot

    def manifest(self, slot: str | None = None) -> Manifest | None:
        slot = slot or self.active()
        if slot is None:
            return None
        return Manifest.from_json(read_json(self.folder(slot) / MANIFEST))

    def installed(self) -> str | None:
        """The release version the device runs (the active slot's), or None."""
        found = self.manifest()
        return found.release if found else None

    def read(self, name: str) -> bytes | None:
        """An artifact of the running release, if it holds one by that name."""
        slot = self.active()
        return None if slot is None else _read(self.folder(slot) / name)

    def journal(self) -> dict[str, Any] | None:
        found = read_json(self._journal)
        return found if isinstance(found, dict) else None

    def verified(self, slot: str | None = None) -> bool:
        """The slot is complete: a manifest, and every artifact with its exact SHA-256."""
        slot = slot or self.active()
        manifest = self.manifest(slot) if slot else None
        if slot is None or manifest is None:
            return False
        for artifact in manifest.artifacts.values():
            data = _read(self.folder(slot) / artifact.name)
            if data is None or hashlib.sha256(data).hexdigest() != artifact.sha256:
                return False
        return True

    # -- the update steps --------------------------------------------------------------------
    def stage(self, release: str, files: Mapping[str, bytes], kinds: Mapping[str, str]) -> str:
        """Write a release into the inactive slot (the running one is never touched)."""
        slot = self.inactive()
        write_json(self._journal, {"step": "staging", "release": release, "slot": slot},
                   self.crash)  # fmt: skip
        folder = self.folder(slot)
        remove(folder / MANIFEST, self.crash)  # from here on the slot is incomplete
        for stale in sorted(folder.iterdir()):
            if stale.name not in files:
                remove(stale, self.crash)
        artifacts = {}
        for name, data in files.items():
            write_atomic(folder / name, data, self.crash)
            artifacts[name] = Artifact(name, hashlib.sha256(data).hexdigest(), len(data),
                                       kinds.get(name, "file"))  # fmt: skip
        write_json(folder / MANIFEST, Manifest(release, artifacts).to_json(), self.crash)
        return slot

    def switch(self) -> None:
        """Boot the staged slot on trial: `confirm` keeps it, `revert` (or dying before the
        confirmation, `MAX_TRIAL_BOOTS` times) goes back to the previous one."""
        journal = self.journal()
        if journal is None or journal.get("step") != "staging":
            raise RuntimeError("nothing staged to switch to")
        if not self.verified(journal["slot"]):
            raise RuntimeError(f"slot {journal['slot']} is incomplete: refusing to boot it")
        trial = {**journal, "step": "trial", "previous": self.active(), "boots": 0}
        write_json(self._journal, trial, self.crash)
        point_link(self._link, f"slots/{journal['slot']}", self.crash)

    def confirm(self) -> None:
        remove(self._journal, self.crash)

    def revert(self) -> None:
        """Back to the slot that ran before the trial (kept until the next update)."""
        journal = self.journal() or {}
        previous = journal.get("previous")
        if journal.get("step") == "trial" and self.active() == journal.get("slot"):
            if previous is not None:
                point_link(self._link, f"slots/{previous}", self.crash)
            else:  # the very first install failed: run nothing of ours rather than it
                remove(self._link, self.crash)
        remove(self._journal, self.crash)

    def recover(self) -> Recovery:
        """At boot: finish or undo whatever the journal says was under way."""
        self._sweep()
        journal = self.journal()
        if journal is None:
            return "idle"
        if journal.get("step") != "trial" or self.active() != journal.get("slot"):
            remove(self._journal, self.crash)  # the switch never happened: the old one runs
            return "discarded"
        boots = int(journal.get("boots", 0)) + 1
        if boots >= MAX_TRIAL_BOOTS:
            self.revert()
            return "reverted"
        write_json(self._journal, {**journal, "boots": boots}, self.crash)
        return "trial"

    def _sweep(self) -> None:
        """Leftover temporary files of an interrupted write are never part of a slot."""
        for leftover in [*self.root.glob("*.tmp"), *self.root.glob("slots/*/*.tmp")]:
            leftover.unlink()
        fsync_folder(self.root)


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except (FileNotFoundError, IsADirectoryError):
        return None
