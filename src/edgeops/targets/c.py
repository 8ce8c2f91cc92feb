"""The `c` target: the generated C99 library with a Makefile, a CMakeLists.txt and an example
program that reads one CSV window from stdin and prints each label's score."""

import json
from pathlib import Path

from edgeops.targets.prepare import Prepared
from edgeops.targets.sources import c_files, info, model_sources, template


def write(prepared: Prepared, directory: Path) -> None:
    files = model_sources(prepared)
    sources = c_files(files)
    context = {"name": prepared.name, "upper": prepared.name.upper(), "sources": sources}
    files["example_main.c"] = template("example_main.c.j2").render(context)
    files["Makefile"] = template("Makefile.j2").render(context)
    files["CMakeLists.txt"] = template("CMakeLists.txt.j2").render(context)
    files["model.json"] = json.dumps(info(prepared), indent=2) + "\n"
    for filename, text in files.items():
        (directory / filename).write_text(text, encoding="utf-8")
