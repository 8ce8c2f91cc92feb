"""Verification by compiling: build the generated C with gcc, run it on given windows or
features, and compare with the Python references; measure flash, RAM and MACs."""

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgeops.compiler import codegen, int8_reference, reference
from edgeops.compiler.cost import macs
from edgeops.compiler.ir import Graph
from edgeops.errors import InvalidInput
from edgeops.recipes.spec import Recipe

GCC_FLAGS = ("-std=c99", "-Wall", "-Wextra", "-Werror", "-O2")
CORTEX_M4_FLAGS = (
    "-std=c99", "-Wall", "-Wextra", "-Werror", "-Os", "-mcpu=cortex-m4", "-mthumb",
    "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16",
)  # fmt: skip


@dataclass
class Footprint:
    """Section sizes of the compiled library (its object file, no libc): flash holds code,
    constants and initial data; RAM holds data and bss (the arena is part of bss)."""

    target: str
    text_bytes: int
    data_bytes: int
    bss_bytes: int

    @property
    def flash_bytes(self) -> int:
        return self.text_bytes + self.data_bytes

    @property
    def ram_bytes(self) -> int:
        return self.data_bytes + self.bss_bytes

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "flash_bytes": self.flash_bytes, "ram_bytes": self.ram_bytes}


@dataclass
class VerifyReport:
    """What the compiled model did on the given rows, next to the Python references."""

    rows: int
    int8: bool
    int8_mismatches: int | None  # output integers differing from int8_reference (must be 0)
    max_abs_error: float  # C outputs vs the reference of the same graph on the C's features
    end_to_end_max_abs_error: float  # C scores vs the same graph in Python on numpy's features
    feature_max_abs_error: float | None  # C feature blocks vs numpy (recipes only)
    label_agreement_percent: float | None  # C top class vs the float model in Python
    float_accuracy_percent: float | None
    compiled_accuracy_percent: float | None
    macs: int
    arena_bytes: int
    host: Footprint | None  # None when verify(measure=False)
    cortex_m4: Footprint | None = None
    sources: dict[str, str] = field(default_factory=dict, repr=False)

    def as_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in asdict(self).items() if k not in ("host", "cortex_m4", "sources")}
        data["host"] = self.host.as_dict() if self.host else None
        data["cortex_m4"] = self.cortex_m4.as_dict() if self.cortex_m4 else None
        return data


def _run(command: list[str], what: str, **kwargs: Any) -> subprocess.CompletedProcess[Any]:
    result = subprocess.run(command, capture_output=True, **kwargs)
    if result.returncode != 0:
        stderr = result.stderr.decode() if isinstance(result.stderr, bytes) else result.stderr
        raise InvalidInput(f"{what} failed (exit {result.returncode}):\n{stderr[-4000:]}")
    return result


def write_sources(files: dict[str, str], directory: Path) -> None:
    for filename, text in files.items():
        (directory / filename).write_text(text, encoding="utf-8")


def section_sizes(obj: Path, size_tool: str = "size", target: str = "host") -> Footprint:
    """text (code + read-only data), data and bss of an object from Berkeley `size`."""
    output = _run([size_tool, str(obj)], f"{size_tool} {obj.name}", text=True).stdout
    numbers = re.findall(r"^\s*(\d+)\s+(\d+)\s+(\d+)", output, re.MULTILINE)
    text, data, bss = (int(v) for v in numbers[0])
    return Footprint(target, text, data, bss)


def footprint(files: dict[str, str], name: str, work: Path) -> tuple[Footprint, Footprint | None]:
    """Host (gcc -O2) and, when arm-none-eabi-gcc is installed, Cortex-M4 (-Os) sizes."""
    obj = work / f"{name}.o"
    _run(["gcc", *GCC_FLAGS, "-c", str(work / f"{name}.c"), "-o", str(obj)], "gcc -c")
    host = section_sizes(obj)
    arm: Footprint | None = None
    if shutil.which("arm-none-eabi-gcc") and shutil.which("arm-none-eabi-size"):
        arm_obj = work / f"{name}.m4.o"
        _run(["arm-none-eabi-gcc", *CORTEX_M4_FLAGS, "-c", str(work / f"{name}.c"), "-o",
              str(arm_obj)], "arm-none-eabi-gcc")  # fmt: skip
        arm = section_sizes(arm_obj, "arm-none-eabi-size", "cortex-m4")
    return host, arm


def build_harness(files: dict[str, str], name: str, work: Path) -> Path:
    """Compile the generated C with a stdin→stdout test main (`templates/verify_main.c.j2`)."""
    harness = codegen.template("verify_main.c.j2").render(name=name, upper=name.upper())
    (work / "verify_main.c").write_text(harness, encoding="utf-8")
    binary = work / "verify_main"
    _run(["gcc", *GCC_FLAGS, "-I", str(work), str(work / "verify_main.c"), "-o", str(binary),
          "-lm"], "gcc (verification harness)")  # fmt: skip
    return binary


def run_compiled(
    binary: Path, rows: np.ndarray, feature_count: int, score_count: int
) -> dict[str, np.ndarray]:
    """features, raw output, scores, top and anomaly per row, from the harness."""
    flat = np.ascontiguousarray(rows, dtype=np.float32).reshape(len(rows), -1)
    result = _run([str(binary)], "the compiled model", input=flat.tobytes())
    width = feature_count + 2 * score_count + 2
    out = np.frombuffer(result.stdout, dtype=np.float32).reshape(len(rows), width)
    scores_end = feature_count + 2 * score_count
    return {
        "features": out[:, :feature_count],
        "raw": out[:, feature_count : feature_count + score_count],
        "scores": out[:, feature_count + score_count : scores_end],
        "top": out[:, scores_end].astype(np.int64),
        "anomaly": out[:, scores_end + 1],
    }


def python_features(recipe: Recipe, states: list[dict[str, Any] | None] | None,
                    windows: np.ndarray) -> np.ndarray:  # fmt: skip
    """The recipe's feature blocks in numpy, concatenated in recipe order."""
    from edgeops.blocks import registry
    from edgeops.recipes.spec import signal_spec

    spec = signal_spec(recipe)
    chosen = states if states is not None else [None] * len(recipe.features)
    parts = [
        registry.get(b.name, b.version)(b.params).transform(windows, spec, state)
        for b, state in zip(recipe.features, chosen, strict=True)
    ]
    return np.concatenate(parts, axis=1).astype(np.float32)


def _percent(hits: np.ndarray) -> float:
    return round(float(np.mean(hits)) * 100, 3)


def verify(
    graph: Graph,
    inputs: np.ndarray,
    *,
    float_graph: Graph | None = None,
    recipe: Recipe | None = None,
    states: list[dict[str, Any] | None] | None = None,
    labels: np.ndarray | None = None,
    name: str = "edgeops",
    keep_dir: Path | None = None,
    measure: bool = True,
) -> VerifyReport:
    """Compile `graph` (float or int8) and run it on `inputs`: raw windows (n, steps, axes) with
    a recipe, else feature rows (n, *input shape). `float_graph` is the float model an int8
    graph was quantized from (for label agreement and accuracy; without it the int8 model in
    Python stands in); `labels` are true class
    indices. `keep_dir` keeps the sources and binaries there; `measure=False` skips the
    footprint compiles."""
    files = codegen.generate(graph, recipe=recipe, states=states, name=name)
    is_int8 = any(t.dtype == "int8" for t in graph.tensors.values())
    float_model = float_graph if float_graph is not None else graph
    rows = np.asarray(inputs, dtype=np.float32)
    if len(rows) == 0:
        raise InvalidInput("verification needs at least one input row")
    input_shape = graph.tensor(graph.inputs[0]).shape
    output_tensor = graph.tensor(graph.outputs[0])
    feature_count = int(np.prod(input_shape))
    score_count = int(np.prod(output_tensor.shape))
    digest = hashlib.sha256("".join(sorted(files.values())).encode()).hexdigest()[:12]
    with tempfile.TemporaryDirectory(prefix=f"edgeops-verify-{digest}-") as temporary:
        work = keep_dir or Path(temporary)
        os.makedirs(work, exist_ok=True)
        write_sources(files, work)
        binary = build_harness(files, name, work)
        compiled = run_compiled(binary, rows, feature_count, score_count)
        host, arm = footprint(files, name, work) if measure else (None, None)
    c_features = compiled["features"].reshape(len(rows), *input_shape)
    feature_error: float | None = None
    if recipe is not None:
        numpy_features = python_features(recipe, states, rows).reshape(c_features.shape)
        feature_error = float(np.abs(numpy_features.astype(np.float64) - c_features).max())
    else:
        numpy_features = rows.reshape(c_features.shape)
    mismatches: int | None = None
    if is_int8 and output_tensor.dtype == "int8":
        expected = int8_reference.run(graph, c_features).reshape(len(rows), -1)
        mismatches = int((expected != compiled["raw"].astype(np.int64)).sum())
        error = np.abs(int8_reference.dequantized(graph, expected) - compiled["scores"])
    else:  # a float output (of a float graph, or float ops after an int8 part)
        run = int8_reference.run if is_int8 else reference.run
        expected_float = run(graph, c_features).reshape(len(rows), -1)
        error = np.abs(expected_float - compiled["raw"])
    python_scores = (
        int8_reference.dequantized(graph, int8_reference.run(graph, numpy_features))
        if is_int8
        else reference.run(graph, numpy_features)
    )  # dequantized() passes float outputs through
    end_to_end = np.abs(python_scores.reshape(len(rows), -1) - compiled["scores"]).max()
    agreement = float_accuracy = compiled_accuracy = None
    if graph.task == "classification":
        if is_int8 and float_graph is None:  # no float model: the int8 one in Python
            python = int8_reference.run(graph, numpy_features)
        else:
            python = reference.run(float_model, numpy_features)
        python_top = python.reshape(len(rows), -1).argmax(1)
        agreement = _percent(python_top == compiled["top"])
        if labels is not None:
            truth = np.asarray(labels).ravel()
            float_accuracy = _percent(python_top == truth)
            compiled_accuracy = _percent(compiled["top"] == truth)
    return VerifyReport(
        rows=len(rows),
        int8=is_int8,
        int8_mismatches=mismatches,
        max_abs_error=float(error.max()),
        end_to_end_max_abs_error=float(end_to_end),
        feature_max_abs_error=feature_error,
        label_agreement_percent=agreement,
        float_accuracy_percent=float_accuracy,
        compiled_accuracy_percent=compiled_accuracy,
        macs=macs(float_model),
        arena_bytes=int(re.findall(r"_ARENA_BYTES (\d+)", files[f"{name}.h"])[0]),
        host=host,
        cortex_m4=arm,
        sources=files,
    )
