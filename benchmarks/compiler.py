"""The edge compiler against TensorFlow Lite Micro and emlearn on the same trained weights:
instructions per inference, flash, RAM and accuracy, on the host and on a Cortex-M4.

Models (benchmarks/compiler_models.py, each trained once): an MLP 64-32-16-10 on scikit-learn's
digits, a 1-D conv net on BasicMotions, a small depthwise-separable conv net on MFCC of the
asterisk prompts, and a 25-tree random forest on the digits. Implementations of each:

- ours, int8 and float (`edgeops.compiler`: quantize, generate; `verify` for fidelity);
- TFLite Micro (reference kernels, via the `tflite-micro` package) on the same weights in an
  int8 `.tflite` made with tensorflow-cpu in a throwaway venv (benchmarks/compiler_peers.py);
- emlearn where it has a converter (the MLP, float; the forest).

Per implementation: host instructions per inference (callgrind; gcc -O2 for C), and for C,
Cortex-M4 instructions per inference, flash, static RAM and peak stack under QEMU mps2-an386
(benchmarks/compiler_c.py says how each is measured); accuracy on the held-out rows, on the
host and on the M4. TFLite Micro cannot be cross-compiled here (its C++ sources are not in the
wheel), so its Cortex-M4 figures for the digits MLP are the measured anchors below, and its
host arena is from a 64-bit build (pointers make it larger than on the M4).

Prints the table on stderr and JSON on stdout (`--json FILE` also writes it). Needs
`apt-get install -y valgrind gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm
asterisk-core-sounds-en-wav` and `pip install tflite-micro emlearn` in .venv; tensorflow-cpu
goes into benchmarks/.cache/tensorflow on the first run (or $EDGEOPS_BENCH_TF_PYTHON).

    .venv/bin/python benchmarks/compiler.py [--skip-callgrind] [--skip-m4] [--skip-tflm]
        [--models digits_mlp,motion_conv1d,audio_dscnn,digits_forest] [--json FILE]
"""

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import compiler_models
import numpy as np
from compiler_c import CProgram, host_instructions, host_predictions, m4_measure
from compiler_models import Model
from compiler_peers import emlearn_program, tflm_measure

from edgeops.compiler.codegen import generate
from edgeops.compiler.ir import Graph
from edgeops.compiler.verify import verify

# Measured on a Cortex-M4 for the same digits MLP (int8 for TFLite Micro; emlearn float).
ANCHORS = {
    "tflm_reference": {"flash_bytes": 31_949, "arena_bytes": 1_726,
                       "instructions_per_inference": 43_253},
    "tflm_cmsis_nn": {"flash_bytes": 40_550, "arena_bytes": 1_813,
                      "instructions_per_inference": 18_031},
    "emlearn_float": {"flash_bytes": 12_493, "arena_bytes": 512,
                      "instructions_per_inference": 22_771},
}  # fmt: skip
MODELS = {
    "digits_mlp": compiler_models.digits_mlp,
    "motion_conv1d": compiler_models.motion_conv1d,
    "audio_dscnn": compiler_models.audio_dscnn,
    "digits_forest": compiler_models.digits_forest,
}
OUR_GLUE = """#include "edgeops.h"
void model_init(void) { edgeops_init(); }
int model_predict(const float *row)
{
    edgeops_result result;
    edgeops_run(row, EDGEOPS_INPUT_LEN, &result);
    return result.top;
}
"""


def _accuracy(predictions: np.ndarray, truth: np.ndarray) -> float:
    return round(float(np.mean(predictions == truth)) * 100, 2)


def measure_c(program: CProgram, rows: np.ndarray, truth: np.ndarray,
              options: argparse.Namespace) -> dict[str, Any]:  # fmt: skip
    result: dict[str, Any] = {"accuracy_percent": _accuracy(host_predictions(program, rows),
                                                            truth)}  # fmt: skip
    if options.callgrind:
        result["host_instructions"] = host_instructions(program, rows[0])
    if options.m4:
        m4 = m4_measure(program, rows)
        m4["accuracy_percent"] = _accuracy(m4.pop("predictions"), truth)
        result["cortex_m4"] = m4
    return result


def ours(graph: Graph, model: Model, options: argparse.Namespace) -> dict[str, Any]:
    report = verify(graph, model.x_test, float_graph=model.float_graph, labels=model.y_test)
    program = CProgram("edgeops", {**generate(graph), "glue.c": OUR_GLUE})
    result = measure_c(program, model.x_test, model.y_test, options)
    fidelity = report.as_dict()
    result["verify"] = {k: fidelity[k] for k in (
        "int8_mismatches", "max_abs_error", "label_agreement_percent", "float_accuracy_percent",
        "compiled_accuracy_percent", "macs", "arena_bytes", "host", "cortex_m4")}  # fmt: skip
    return result


def measure_model(model: Model, options: argparse.Namespace) -> dict[str, Any]:
    started = time.perf_counter()
    results: dict[str, Any] = {}
    if model.int8_graph is not None:
        results["ours_int8"] = ours(model.int8_graph, model, options)
    results["ours_float"] = ours(model.float_graph, model, options)
    if options.tflm and model.int8_graph is not None:
        tflm = tflm_measure(model, options.callgrind)
        tflm["accuracy_percent"] = _accuracy(tflm.pop("predictions"), model.y_test)
        results["tflm_reference"] = tflm
    peer = emlearn_program(model)
    if peer is not None:
        rows = model.standardised(model.x_test)
        results["emlearn"] = measure_c(peer, rows, model.y_test, options)
    return {"description": model.description, "train_rows": len(model.x_train),
            "test_rows": len(model.x_test), "implementations": results,
            "seconds": round(time.perf_counter() - started, 1)}  # fmt: skip


def targets(digits: dict[str, Any]) -> dict[str, Any]:
    """The digits MLP's int8 build against TFLite Micro's (anchors on the M4, same run on the
    host): RAM <= 50%, flash <= 60%, fewer instructions (stretch: fewer than CMSIS-NN's)."""
    ours_int8, tflm = digits["implementations"]["ours_int8"], digits["implementations"].get(
        "tflm_reference", {})  # fmt: skip
    reference, cmsis = ANCHORS["tflm_reference"], ANCHORS["tflm_cmsis_nn"]
    checks: dict[str, Any] = {}
    m4 = ours_int8.get("cortex_m4")
    if m4:
        ram = m4["ram_bytes"] + m4["stack_bytes"]
        checks["m4_ram_static_plus_stack_vs_tflm_arena"] = [
            ram,
            reference["arena_bytes"],
            ram <= 0.5 * reference["arena_bytes"],
        ]
        checks["m4_flash_vs_tflm"] = [
            m4["flash_bytes"],
            reference["flash_bytes"],
            m4["flash_bytes"] <= 0.6 * reference["flash_bytes"],
        ]
        instructions = m4["instructions_per_inference"]
        checks["m4_instructions_vs_tflm_reference"] = [
            instructions,
            reference["instructions_per_inference"],
            instructions < reference["instructions_per_inference"],
        ]
        checks["m4_instructions_vs_cmsis_nn_stretch"] = [
            instructions, cmsis["instructions_per_inference"],
            instructions < cmsis["instructions_per_inference"]]  # fmt: skip
    if "host_instructions" in tflm and "host_instructions" in ours_int8:
        checks["host_instructions_vs_tflm_same_run"] = [
            ours_int8["host_instructions"], tflm["host_instructions"],
            ours_int8["host_instructions"] < tflm["host_instructions"]]  # fmt: skip
    if tflm:
        checks["accuracy_vs_tflm_same_run"] = [
            ours_int8["accuracy_percent"], tflm["accuracy_percent"],
            ours_int8["accuracy_percent"] >= tflm["accuracy_percent"]]  # fmt: skip
    return {name: dict(zip(("ours", "peer", "met"), values, strict=True))
            for name, values in checks.items()}  # fmt: skip


def _number(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else ("—" if value is None else str(value))


def table(results: dict[str, Any]) -> str:
    header = ("model", "implementation", "host instr/inf", "M4 instr/inf", "M4 flash B",
              "M4 RAM B (static+stack)", "accuracy % host / M4")  # fmt: skip
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for name, model in results["models"].items():
        for implementation, row in model["implementations"].items():
            m4 = row.get("cortex_m4") or {}
            if implementation == "tflm_reference":
                flash = f"model {row['model_bytes']:,} + interpreter"
                ram = f"arena {row['arena_bytes_host_64bit']:,} (x86-64)"
            else:
                flash = _number(m4.get("flash_bytes"))
                ram = f"{m4['ram_bytes']:,} + {m4['stack_bytes']:,}" if m4 else "—"
            accuracy = f"{row['accuracy_percent']} / {_number(m4.get('accuracy_percent'))}"
            host, m4_count = row.get("host_instructions"), m4.get("instructions_per_inference")
            cells = (name, implementation, _number(host), _number(m4_count), flash, ram, accuracy)
            lines.append("| " + " | ".join(cells) + " |")
    for peer, anchor in ANCHORS.items():
        lines.append(f"| digits_mlp | {peer} (anchor, not this run) | — | "
                     f"{anchor['instructions_per_inference']:,} | {anchor['flash_bytes']:,} | "
                     f"arena {anchor['arena_bytes']:,} | — |")  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--skip-callgrind", action="store_true")
    parser.add_argument("--skip-m4", action="store_true")
    parser.add_argument("--skip-tflm", action="store_true")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    args.callgrind = not args.skip_callgrind and shutil.which("valgrind") is not None
    args.m4 = not args.skip_m4 and all(
        shutil.which(tool) for tool in ("arm-none-eabi-gcc", "qemu-system-arm")
    )
    args.tflm = not args.skip_tflm
    started = time.perf_counter()
    results: dict[str, Any] = {"models": {}}
    for name in args.models.split(","):
        print(f"{name} ...", file=sys.stderr, flush=True)
        results["models"][name] = measure_model(MODELS[name](), args)
    results["anchors_cortex_m4_digits_mlp"] = ANCHORS
    if "digits_mlp" in results["models"]:
        results["targets_digits_mlp_int8"] = targets(results["models"]["digits_mlp"])
    results["seconds"] = round(time.perf_counter() - started, 1)
    print(table(results), file=sys.stderr)
    text = json.dumps(results, indent=2)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
