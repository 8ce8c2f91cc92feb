"""Generating and compiling block C: shared headers, literal tables, and a gcc test harness."""

import hashlib
import json
import os
import subprocess
import tempfile
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from edgeops.blocks.base import CFunction, SignalSpec
from edgeops.errors import InvalidInput

GCC_FLAGS = ("-std=c99", "-O2", "-Wall", "-Wextra", "-Werror")


def header(filename: str) -> str:
    """The text of a shared C header in `blocks/dsp/c/` (include-guarded, `static inline`)."""
    return resources.files("edgeops.blocks.dsp").joinpath("c", filename).read_text("utf-8")


def function_name(
    block: str, version: int, params: Any, spec: SignalSpec, state: dict[str, Any] | None
) -> str:
    """A C identifier unique to a block instance: `eo_<block>_<hash of everything it bakes in>`."""
    identity = json.dumps(
        [block, version, params, repr(spec), state], sort_keys=True, default=str
    ).encode()
    return f"eo_{block}_{hashlib.sha256(identity).hexdigest()[:12]}"


def c_float(value: float, c_type: str = "float") -> str:
    """A finite number as a C literal of `c_type` that reads back to the same value."""
    if not np.isfinite(value):
        raise InvalidInput(f"cannot bake {value} into C: only finite numbers")
    text = f"{np.float32(value).item():.9g}" if c_type == "float" else f"{float(value):.17g}"
    if not any(c in text for c in ".e"):
        text += ".0"
    return text + ("f" if c_type == "float" else "")


def float_array(name: str, values: Iterable[float], c_type: str = "float") -> str:
    """A `static const` C array literal; floats printed with enough digits to round-trip."""
    items = [float(v) for v in values]
    text = [c_float(v, c_type) for v in items]
    body = ",\n    ".join(", ".join(text[i : i + 6]) for i in range(0, len(text), 6))
    return f"static const {c_type} {name}[{max(len(items), 1)}] = {{\n    {body or '0'}\n}};\n"


_MAIN = """
#include <stdio.h>

int main(void)
{
    static float input[%(input_len)d];
    static float output[%(output_len)d];
    while (fread(input, sizeof(float), %(input_len)d, stdin) == %(input_len)d) {
        if (%(name)s(input, output) != 0) {
            return 2;
        }
        if (fwrite(output, sizeof(float), %(output_len)d, stdout) != %(output_len)d) {
            return 3;
        }
    }
    return 0;
}
"""


def _cache_dir() -> Path:
    path = Path(tempfile.gettempdir()) / "edgeops-cbuild"
    path.mkdir(parents=True, exist_ok=True)
    return path


def build(function: CFunction) -> Path:
    """Compile `function` with a stdin→stdout main; the binary is cached by source hash."""
    program = function.source + _MAIN % {
        "name": function.name,
        "input_len": function.input_len,
        "output_len": function.output_len,
    }
    digest = hashlib.sha256(program.encode()).hexdigest()[:20]
    binary = _cache_dir() / f"{function.name}-{digest}"
    if binary.exists():
        return binary
    with tempfile.TemporaryDirectory(dir=_cache_dir()) as work:
        source = Path(work) / "block.c"
        source.write_text(program, encoding="utf-8")
        output = Path(work) / "block"
        result = subprocess.run(
            ["gcc", *GCC_FLAGS, str(source), "-o", str(output), "-lm"],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise InvalidInput(f"C for {function.name} does not compile:\n{result.stderr}")
        # A rename is atomic, so parallel test workers never run a half-written binary.
        os.replace(output, binary)
    return binary


def compile_and_run(function: CFunction, windows: np.ndarray) -> np.ndarray:
    """Run the C block on each window (any shape whose rows hold `input_len` floats) and return
    float32 (n, output_len)."""
    flat = np.ascontiguousarray(windows, dtype=np.float32).reshape(len(windows), -1)
    if flat.shape[1] != function.input_len:
        raise InvalidInput(
            f"windows hold {flat.shape[1]} values each; {function.name} takes {function.input_len}"
        )
    binary = build(function)
    result = subprocess.run([str(binary)], input=flat.tobytes(), capture_output=True)
    if result.returncode != 0:
        raise InvalidInput(f"{function.name} failed with exit code {result.returncode}")
    outputs = np.frombuffer(result.stdout, dtype=np.float32)
    return outputs.reshape(len(flat), function.output_len).copy()
