"""Generating and compiling block C: shared headers, literal tables, and a gcc test harness."""

import hashlib
import json
import os
import subprocess
import tempfile
from collections.abc import Iterable
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from edgeops.blocks.base import CFunction, SignalSpec
from edgeops.errors import InvalidInput

GCC_FLAGS = ("-std=c99", "-O2", "-Wall", "-Wextra", "-Werror")
# The memory check: AddressSanitizer catches reads and writes past any static buffer or
# table (globals get red zones), UndefinedBehaviorSanitizer out-of-range indexes of arrays of
# known size; any report aborts the run. -O1 keeps the accesses the C makes.
SANITIZE_FLAGS = (
    "-std=c99",
    "-O1",
    "-g",
    "-fno-omit-frame-pointer",
    "-fsanitize=address,undefined",
    "-fno-sanitize-recover=all",
    "-Wall",
    "-Wextra",
    "-Werror",
)
# No leak check: block C never allocates, and LeakSanitizer refuses to run under ptrace.
_SANITIZER_ENV = {"ASAN_OPTIONS": "detect_leaks=0:abort_on_error=0", "UBSAN_OPTIONS": ""}


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


def fft_tables(name: str, size: int, length: int) -> str:
    """The constant tables `edgeops_rfft` and `edgeops_restore_offset` (c/fft.h) need for a
    `size`-point FFT of `length` samples zero-padded to `size`: twiddles `<name>_cos`,
    `<name>_sin` (k < size/2) and the DFT of `length` ones, `<name>_box_re`, `<name>_box_im`
    (k <= size/2). All computed in double and rounded once to float, so each entry is the
    nearest float to its exact value."""
    angles = 2 * np.pi * np.arange(size // 2) / size
    box = np.fft.rfft(np.ones(length), n=size)
    return (
        float_array(f"{name}_cos", np.cos(angles))
        + float_array(f"{name}_sin", np.sin(angles))
        + float_array(f"{name}_box_re", box.real)
        + float_array(f"{name}_box_im", box.imag)
    )


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


def build(function: CFunction, sanitize: bool = False) -> Path:
    """Compile `function` with a stdin→stdout main (with `sanitize`, under the memory check of
    SANITIZE_FLAGS); the binary is cached by source hash and flags."""
    flags = SANITIZE_FLAGS if sanitize else GCC_FLAGS
    program = function.source + _MAIN % {
        "name": function.name,
        "input_len": function.input_len,
        "output_len": function.output_len,
    }
    digest = hashlib.sha256((program + " ".join(flags)).encode()).hexdigest()[:20]
    binary = _cache_dir() / f"{function.name}-{digest}"
    if binary.exists():
        return binary
    with tempfile.TemporaryDirectory(dir=_cache_dir()) as work:
        source = Path(work) / "block.c"
        source.write_text(program, encoding="utf-8")
        output = Path(work) / "block"
        result = subprocess.run(
            ["gcc", *flags, str(source), "-o", str(output), "-lm"],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise InvalidInput(f"C for {function.name} does not compile:\n{result.stderr}")
        # A rename is atomic, so parallel test workers never run a half-written binary.
        os.replace(output, binary)
    return binary


@cache
def sanitizers_available() -> bool:
    """Whether gcc here can build and run with SANITIZE_FLAGS (it needs libasan and libubsan)."""
    probe = CFunction(
        "edgeops_probe",
        "int edgeops_probe(const float *input, float *output)\n"
        "{\n    output[0] = input[0];\n    return 0;\n}\n",
        1,
        1,
    )
    try:
        compile_and_run(probe, np.zeros((1, 1), dtype=np.float32), sanitize=True)
    except (InvalidInput, OSError):
        return False
    return True


def _sanitizer_summary(stderr: str) -> str:
    """The lines of a sanitizer report that say what went wrong and where, else the tail."""
    markers = ("ERROR: AddressSanitizer", "SUMMARY:", "runtime error", " is located ")
    lines = [line.strip() for line in stderr.splitlines() if any(m in line for m in markers)]
    return "\n".join(lines) if lines else stderr[-2000:]


def compile_and_run(function: CFunction, windows: np.ndarray, sanitize: bool = False) -> np.ndarray:
    """Run the C block on each window (any shape whose rows hold `input_len` floats) and return
    float32 (n, output_len). With `sanitize`, under the memory check (SANITIZE_FLAGS): an
    out-of-bounds access or undefined behaviour raises InvalidInput with the sanitizer's
    report."""
    flat = np.ascontiguousarray(windows, dtype=np.float32).reshape(len(windows), -1)
    if flat.shape[1] != function.input_len:
        raise InvalidInput(
            f"windows hold {flat.shape[1]} values each; {function.name} takes {function.input_len}"
        )
    binary = build(function, sanitize)
    environment = {**os.environ, **_SANITIZER_ENV} if sanitize else None
    result = subprocess.run(
        [str(binary)], input=flat.tobytes(), capture_output=True, env=environment
    )
    if result.returncode != 0 or (sanitize and b"runtime error" in result.stderr):
        report = _sanitizer_summary(result.stderr.decode("utf-8", "replace"))
        raise InvalidInput(
            f"{function.name} failed with exit code {result.returncode}"
            + (f":\n{report}" if report else "")
        )
    outputs = np.frombuffer(result.stdout, dtype=np.float32)
    return outputs.reshape(len(flat), function.output_len).copy()
