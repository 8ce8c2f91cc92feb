"""The C every C-based target ships: the generated model (and its anomaly model), and the
fixed-name Linux shim (`templates/device.c.j2`) that the ctypes runner and the .eim server load."""

import json
from importlib import resources
from typing import Any

import jinja2

from edgeops.compiler import codegen
from edgeops.compiler.emit import c_string
from edgeops.targets.prepare import Prepared


def template(filename: str) -> jinja2.Template:
    """A Jinja2 template of `targets/templates/` (undefined names are errors)."""
    text = resources.files("edgeops.targets").joinpath("templates", filename).read_text("utf-8")
    environment = jinja2.Environment(
        undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False
    )
    return environment.from_string(text)


def model_sources(prepared: Prepared) -> dict[str, str]:
    """`<name>.c/.h` (window in, through the recipe's feature blocks), `<name>_anomaly.c/.h`
    (features in) when the model has an anomaly learner, and the runtime headers."""
    files = codegen.generate(
        prepared.graph, recipe=prepared.recipe, states=prepared.states, name=prepared.name
    )
    if prepared.anomaly_graph is not None:
        files.update(codegen.generate(prepared.anomaly_graph, name=f"{prepared.name}_anomaly"))
    return files


def counts(prepared: Prepared) -> dict[str, int]:
    """input_len (floats per window), feature_count and score_count of the model."""
    header = codegen.generate(
        prepared.graph, recipe=prepared.recipe, states=prepared.states, name=prepared.name
    )[f"{prepared.name}.h"]
    upper = prepared.name.upper()
    found: dict[str, int] = {}
    for key in ("INPUT_LEN", "FEATURE_COUNT", "SCORE_COUNT"):
        line = next(t for t in header.splitlines() if t.startswith(f"#define {upper}_{key} "))
        found[key.lower()] = int(line.split()[-1])
    return found


def info(prepared: Prepared) -> dict[str, Any]:
    """What a loader needs to read the model's outputs (the shim's `eo_device_info`)."""
    model, recipe = prepared.model, prepared.recipe
    return {
        "name": prepared.name,
        "model": prepared.ref,
        "model_name": model.name,
        "project": prepared.project.name,
        "project_id": prepared.project.id,
        "task": prepared.graph.task,
        "labels": list(prepared.graph.labels),
        **counts(prepared),
        "precision": prepared.precision,
        "anomaly": prepared.anomaly_graph is not None,
        "anomaly_learner": (recipe.anomaly or recipe.learner).name
        if prepared.anomaly_graph is not None or prepared.graph.task == "anomaly"
        else None,
        "anomaly_threshold": prepared.anomaly_threshold,
        "input": recipe.input.model_dump(mode="json"),
    }


def device_sources(prepared: Prepared) -> dict[str, str]:
    """The model sources plus `eo_device.c`, the shim with fixed names."""
    files = model_sources(prepared)
    found = counts(prepared)
    files["eo_device.c"] = template("device.c.j2").render(
        name=prepared.name,
        upper=prepared.name.upper(),
        anomaly=prepared.anomaly_graph is not None,
        feature_count=found["feature_count"],
        info=c_string(json.dumps(info(prepared), separators=(",", ":"))),
    )
    return files


def c_files(files: dict[str, str]) -> list[str]:
    """The translation units to compile (`.c` files that are not included by another)."""
    return sorted(
        name for name in files if name.endswith(".c") and f'#include "{name}"' not in
        "".join(files.values())
    )  # fmt: skip
