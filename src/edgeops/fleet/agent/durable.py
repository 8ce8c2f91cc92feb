"""Writes that survive power loss: write a temporary file, fsync it, rename it over the old one,
fsync the folder. Every durable step first passes a crash point, where tests cut the power."""

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

CrashPoint = Callable[[str], None]


class PowerLoss(Exception):
    """Raised at a crash point to simulate the power going off there."""


def never(step: str) -> None:
    """The crash point of a real device: the power stays on (as far as we can tell)."""


def fsync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def write_atomic(path: Path, data: bytes, crash: CrashPoint = never) -> None:
    """`path` holds either its old content or all of `data`, whenever the power goes."""
    temporary = path.with_name(path.name + ".tmp")
    crash(f"write {path.name}")
    with open(temporary, "wb") as handle:
        half = len(data) // 2
        handle.write(data[:half])
        crash(f"torn write {path.name}")  # a half-written temporary file is left behind
        handle.write(data[half:])
        handle.flush()
        os.fsync(handle.fileno())
    crash(f"rename {path.name}")
    os.replace(temporary, path)
    fsync_folder(path.parent)


def write_json(path: Path, value: Any, crash: CrashPoint = never) -> None:
    write_atomic(path, json.dumps(value, sort_keys=True).encode("utf-8"), crash)


def read_json(path: Path) -> Any:
    """The JSON in `path`, or None when it is missing (or unreadable: never written whole)."""
    try:
        return json.loads(path.read_bytes())
    except (FileNotFoundError, ValueError):
        return None


def remove(path: Path, crash: CrashPoint = never) -> None:
    crash(f"remove {path.name}")
    try:
        path.unlink()
    except FileNotFoundError:
        return
    fsync_folder(path.parent)


def point_link(link: Path, target: str, crash: CrashPoint = never) -> None:
    """Make the symlink `link` point at `target` in one atomic rename."""
    temporary = link.with_name(link.name + ".tmp")
    crash(f"link {link.name}")
    if temporary.is_symlink() or temporary.exists():
        temporary.unlink()
    os.symlink(target, temporary)
    crash(f"switch {link.name}")
    os.replace(temporary, link)
    fsync_folder(link.parent)
