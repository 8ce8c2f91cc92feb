"""C code generation: an IR graph (float or int8), and optionally the recipe's feature blocks in
front of it, as a self-contained C99 library with a two-function API (see `templates/`)."""

import re
from importlib import resources
from typing import Any

import jinja2

from edgeops.compiler import memory
from edgeops.compiler.emit import Emitter, c_float, c_string
from edgeops.compiler.ir import Graph
from edgeops.errors import InvalidInput
from edgeops.recipes.spec import Recipe

RUNTIME_HEADERS = (
    "edgeops_common.h", "edgeops_float.h", "edgeops_int8.h", "edgeops_trees.h",
    "edgeops_anomaly.h",
)  # fmt: skip
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,40}")


def runtime_header(filename: str) -> str:
    """The text of one C runtime header (`compiler/runtime/`)."""
    return resources.files("edgeops.compiler").joinpath("runtime", filename).read_text("utf-8")


def template(filename: str) -> jinja2.Template:
    """A Jinja2 template of `compiler/templates/` (undefined names are errors)."""
    text = resources.files("edgeops.compiler").joinpath("templates", filename).read_text("utf-8")
    environment = jinja2.Environment(
        undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False
    )
    return environment.from_string(text)


def _count(shape: tuple[int, ...]) -> int:
    total = 1
    for dim in shape:
        total *= dim
    return total


def _feature_stage(
    recipe: Recipe, states: list[dict[str, Any] | None] | None, feature_count: int
) -> tuple[int, str, list[tuple[str, int]]]:
    """(input floats per window, the blocks' C, (function, output offset) per block)."""
    from edgeops.blocks import registry
    from edgeops.recipes.spec import signal_spec

    spec = signal_spec(recipe)
    states = list(states) if states is not None else [None] * len(recipe.features)
    if len(states) != len(recipe.features):
        raise InvalidInput(
            f"{len(states)} block states for {len(recipe.features)} feature blocks; pass one "
            "state (or None) per block, in recipe order"
        )
    sources: dict[str, str] = {}
    calls: list[tuple[str, int]] = []
    offset = 0
    for index, (block_spec, state) in enumerate(zip(recipe.features, states, strict=True)):
        block = registry.get(block_spec.name, block_spec.version)(block_spec.params)
        function = block.emit_c(spec, state)
        if function is None:
            raise InvalidInput(
                f"features[{index}] ({block_spec.name}) has no C implementation yet, so the "
                "recipe cannot be compiled for devices"
            )
        sources.setdefault(function.name, function.source)
        calls.append((function.name, offset))
        offset += function.output_len
    if offset != feature_count:
        raise InvalidInput(
            f"the recipe's blocks produce {offset} features but the model takes {feature_count}"
        )
    return spec.window_samples * spec.axes, "\n".join(sources.values()), calls


def generate(
    graph: Graph,
    *,
    recipe: Recipe | None = None,
    states: list[dict[str, Any] | None] | None = None,
    name: str = "edgeops",
) -> dict[str, str]:
    """C sources by file name: `<name>.h` (the API), `<name>.c` (DSP, weights, arena, run)
    and the runtime headers it includes. With a recipe the input is one raw window, step-major,
    through the recipe's feature blocks (`states`: each block's fitted state, in order);
    without one it is the model's feature vector."""
    if not _IDENTIFIER.fullmatch(name):
        raise InvalidInput(f"name {name!r} must be a C identifier of at most 41 characters")
    graph.check()
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise InvalidInput("the C generator takes graphs with one input and one output")
    input_tensor = graph.tensor(graph.inputs[0])
    if input_tensor.dtype != "float32":
        raise InvalidInput("the model input must be float32 (int8 graphs quantize it themselves)")
    feature_count = _count(input_tensor.shape)
    plan = memory.plan(graph)
    emitter = Emitter(graph, plan)
    calls = [call for op in graph.ops if (call := emitter.call(op)) is not None]
    output = graph.tensor(graph.outputs[0])
    input_len, dsp_source = feature_count, ""
    dsp_calls: list[tuple[str, int]] = []
    if recipe is not None:
        input_len, dsp_source, dsp_calls = _feature_stage(recipe, states, feature_count)
    output_int8 = output.dtype == "int8"
    headers = ["edgeops_common.h", *sorted(emitter.headers)]
    if output_int8:
        headers = sorted(set(headers) | {"edgeops_int8.h"})
    description = (
        f"{graph.task} model, {len(graph.ops)} ops, {graph.parameter_count()} parameters"
        + (f", recipe {recipe.name}" if recipe is not None else "")
    )
    context: dict[str, Any] = {
        "name": name,
        "upper": name.upper(),
        "description": description,
        "input_doc": "one raw window, step-major" if recipe is not None else "the features",
        "input_len": input_len,
        "feature_count": feature_count,
        "score_count": _count(output.shape),
        "arena_bytes": plan.arena_bytes,
        "labels": [c_string(label) for label in graph.labels],
        "headers": headers,
        "dsp_source": dsp_source,
        "dsp_calls": dsp_calls,
        "declarations": emitter.declarations,
        "calls": calls,
        "input_offset": plan.offsets[graph.inputs[0]],
        "output": emitter.tensor(graph.outputs[0]),
        "output_int8": output_int8,
        "output_scale": c_float(float(output.quant.scale[0])) if output.quant else "1.0f",
        "output_zero_point": int(output.quant.zero_point[0]) if output.quant else 0,
        "anomaly": graph.task == "anomaly",
        "tree_index_type": emitter.tree_index_type,
    }
    files = {
        f"{name}.h": template("model.h.j2").render(context),
        f"{name}.c": template("model.c.j2").render(context),
    }
    for header in headers:
        files[header] = runtime_header(header)
    return files
