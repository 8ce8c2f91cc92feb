"""The `arduino` target: an Arduino library (library.properties, the sources under src/, an
example sketch reading a window over Serial). Any board's core compiles it: plain C99."""

import json
from pathlib import Path

from edgeops.targets.prepare import Prepared
from edgeops.targets.sources import counts, info, model_sources, template


def write(prepared: Prepared, directory: Path) -> None:
    from edgeops import __version__

    name = prepared.name
    (directory / "src").mkdir(parents=True, exist_ok=True)
    example = directory / "examples" / name
    example.mkdir(parents=True, exist_ok=True)
    for filename, text in model_sources(prepared).items():
        (directory / "src" / filename).write_text(text, encoding="utf-8")
    version = ".".join(str(int(part)) for part in __version__.split(".")[:2] if part.isdigit())
    (directory / "library.properties").write_text(
        template("library.properties.j2").render(
            library=f"{name}_inferencing",
            version=f"{version or '0.0'}.{prepared.model.number}",
            sentence=f"{prepared.model.name} ({prepared.graph.task}, {prepared.precision})",
            model=prepared.ref,
            precision=prepared.precision,
            name=name,
        ),
        encoding="utf-8",
    )
    (example / f"{name}.ino").write_text(
        template("example.ino.j2").render(
            name=name, upper=name.upper(), input_len=counts(prepared)["input_len"]
        ),
        encoding="utf-8",
    )
    (directory / "model.json").write_text(json.dumps(info(prepared), indent=2) + "\n")
