"""What the edge compiler's C costs: instructions per inference (callgrind), flash and RAM, and
how faithful it is, for a digits MLP (64-32-16-10, float and int8) and a digits random forest.

Prints JSON, per model:
- instructions_per_inference: callgrind's Ir for the program running K=11 inferences minus
  K=1, divided by 10, so process start-up is excluded (deterministic; skipped without valgrind);
- host / cortex_m4: text, data, bss, flash (text + data) and RAM (data + bss) bytes of the
  model's object file (gcc -O2 on this machine; arm-none-eabi-gcc -Os for Cortex-M4 when
  installed); arena_bytes: the static activation arena inside bss;
- int8_mismatches (bit-exactness against the Python int8 reference, must be 0),
  label_agreement_percent (C vs the float model in Python), accuracies on the held-out rows,
  and MACs per inference.

TFLite Micro's interpreter on the same int8 model is the peer still to add.

    .venv/bin/python benchmarks/compiler.py [--skip-callgrind]
"""

import argparse
import json
import re
import shutil
import subprocess
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.datasets import load_digits
from sklearn.ensemble import RandomForestClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier

from edgeops.compiler.codegen import generate
from edgeops.compiler.from_sklearn import forest_to_ir
from edgeops.compiler.ir import Graph, GraphBuilder
from edgeops.compiler.quantize import quantize
from edgeops.compiler.verify import GCC_FLAGS, verify, write_sources

BENCH_MAIN = r"""
#include <stdio.h>
#include <stdlib.h>
#include "edgeops.h"

int main(int argc, char **argv)
{
    static float x[EDGEOPS_INPUT_LEN];
    edgeops_result result;
    float total = 0.0f;
    int k, i;
    if (argc != 2 || fread(x, sizeof(float), EDGEOPS_INPUT_LEN, stdin) != EDGEOPS_INPUT_LEN) {
        return 1;
    }
    k = atoi(argv[1]);
    edgeops_init();
    for (i = 0; i < k; i++) {
        if (edgeops_run(x, EDGEOPS_INPUT_LEN, &result) != 0) {
            return 2;
        }
        total += result.scores[0];
    }
    printf("%f\n", total);
    return 0;
}
"""


def digits() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x, y = load_digits(return_X_y=True)
    train = np.zeros(len(x), dtype=bool)
    train[np.random.default_rng(0).permutation(len(x))[:1200]] = True
    return x.astype(np.float32), y, train


def digits_mlp(x: np.ndarray, y: np.ndarray, train: np.ndarray) -> Graph:
    mean, std = x[train].mean(axis=0), x[train].std(axis=0)
    std[std == 0] = 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp = MLPClassifier((32, 16), max_iter=300, random_state=0)
        mlp.fit((x[train] - mean) / std, y[train])
    builder = GraphBuilder((64,))
    builder.op("scale", (64,), {"mean": mean, "std": std})
    for index, (weight, bias) in enumerate(zip(mlp.coefs_, mlp.intercepts_, strict=True)):
        builder.op("dense", (len(bias),), {"w": weight.T, "b": bias})
        builder.op("relu" if index < len(mlp.coefs_) - 1 else "softmax", (len(bias),))
    return builder.build("classification", [str(c) for c in mlp.classes_])


def instructions_per_inference(graph: Graph, row: np.ndarray, work: Path) -> int:
    write_sources(generate(graph), work)
    (work / "bench.c").write_text(BENCH_MAIN, encoding="utf-8")
    binary = work / "bench"
    subprocess.run(
        ["gcc", *GCC_FLAGS, str(work / "edgeops.c"), str(work / "bench.c"), "-o", str(binary),
         "-lm"], check=True,
    )  # fmt: skip
    counts = []
    for k in (1, 11):
        result = subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={work}/callgrind.{k}",
             str(binary), str(k)],
            input=row.astype(np.float32).tobytes(), capture_output=True, check=True,
        )  # fmt: skip
        counts.append(int(re.findall(rb"Collected : (\d+)", result.stderr)[0]))
    return (counts[1] - counts[0]) // 10


def measure(
    graph: Graph, float_graph: Graph, x: np.ndarray, y: np.ndarray, callgrind: bool
) -> dict[str, Any]:
    report = verify(graph, x, float_graph=float_graph, labels=y).as_dict()
    if callgrind:
        with tempfile.TemporaryDirectory() as work:
            report["instructions_per_inference"] = instructions_per_inference(
                graph, x[0], Path(work)
            )
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--skip-callgrind", action="store_true")
    args = parser.parse_args()
    callgrind = not args.skip_callgrind and shutil.which("valgrind") is not None
    x, y, train = digits()
    test = ~train
    mlp = digits_mlp(x, y, train)
    mlp_int8 = quantize(mlp, x[train][:300])
    forest = RandomForestClassifier(n_estimators=25, random_state=0).fit(x[train], y[train])
    trees = forest_to_ir(forest, [str(c) for c in forest.classes_])
    results = {
        "digits_mlp_float": measure(mlp, mlp, x[test], y[test], callgrind),
        "digits_mlp_int8": measure(mlp_int8, mlp, x[test], y[test], callgrind),
        "digits_forest_25_trees": measure(trees, trees, x[test], y[test], callgrind),
    }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
