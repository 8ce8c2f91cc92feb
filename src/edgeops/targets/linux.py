"""The `linux` target: the model as a shared library (`lib<name>.so`, gcc -shared -fPIC) with
fixed entry points, and `runner.py` to run it from Python with ctypes (`Runner`)."""

import json
from importlib import resources
from pathlib import Path

from edgeops.targets.compile import gcc
from edgeops.targets.linux_runner import Runner
from edgeops.targets.prepare import Prepared
from edgeops.targets.sources import c_files, device_sources, info

__all__ = ["Runner", "write"]


def write(prepared: Prepared, directory: Path) -> None:
    files = device_sources(prepared)
    for filename, text in files.items():
        (directory / filename).write_text(text, encoding="utf-8")
    library = f"lib{prepared.name}.so"
    gcc(["-shared", "-fPIC", *c_files(files), "-lm", "-o", library], directory,
        "the linux shared library")  # fmt: skip
    runner = resources.files("edgeops.targets").joinpath("linux_runner.py").read_text("utf-8")
    (directory / "runner.py").write_text(runner, encoding="utf-8")
    (directory / "model.json").write_text(json.dumps(info(prepared), indent=2) + "\n")
