"""Compiling a build's C with the host's gcc (the linux and eim targets ship binaries)."""

import shutil
import subprocess
from pathlib import Path

from edgeops.errors import InvalidInput

FLAGS = ("-std=c99", "-Wall", "-Wextra", "-Werror", "-O2")


def gcc(arguments: list[str], directory: Path, what: str) -> None:
    """Run gcc in `directory`; a failure is an InvalidInput with gcc's message."""
    if shutil.which("gcc") is None:
        raise InvalidInput(f"{what} needs gcc on this machine (apt-get install gcc)")
    result = subprocess.run(
        ["gcc", *FLAGS, *arguments], cwd=directory, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise InvalidInput(f"{what}: gcc failed (exit {result.returncode}):\n"
                           f"{result.stderr[-4000:]}")  # fmt: skip
