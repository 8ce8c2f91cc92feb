"""Drift check on 1,000,000 telemetry rows x 32 features against a 100,000-row reference: our
detectors beside Evidently and raw `scipy.stats.ks_2samp`, same data, same run.

The data are seeded and synthetic with shapes a sensor fleet produces (normal, log-normal,
uniform, counts). Known shifts are injected:
- above the minimum effect (0.1 reference std of Wasserstein-1): mean shifts of 0.3 and 0.2 std,
  a 25% gain on a log-normal feature, a 0.15 std shift of a uniform one, a count rate 3 -> 3.6;
- below it (harmless wiggles every test finds significant at this size): mean shifts of 0.05
  and 0.03 std.
Ours must flag exactly the first group. Printed JSON: seconds and the features each flagged
against the ground truth, for
- ours, `core`: binning the live matrix + every per-feature statistic and Holm's correction;
- ours, `end_to_end`: reading the rows back from the Parquet telemetry store (the columns
  `analyse` uses, text dictionary-encoded) + the full `analyse` (per-feature drift of the fleet
  and of each device in one binning pass, multivariate MMD and classifier test, predictions);
  wall and CPU seconds (the machine may be shared: CPU time is the steadier number);
- `scipy.stats.ks_2samp` per feature (flagged: p < 0.01, uncorrected, as usually called);
- Evidently's DataDriftPreset (its defaults: normed Wasserstein >= 0.1 at this size), run in
  its own virtualenv because it needs pandas < 3 (created on first use under ~/.cache, or give
  `--evidently-python`). Times are the best of `--repeat` runs (`--evidently-repeat` for
  Evidently, default 1: a run takes minutes); scipy runs once.

    .venv/bin/python benchmarks/drift.py [--rows 1000000] [--repeat 3] [--skip-evidently]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import venv
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]
from scipy import stats

from edgeops.monitoring import analysis, detectors, reference, telemetry

FEATURES = 32
REFERENCE_ROWS = 100_000
EVIDENTLY = "evidently==0.7.23"
ABOVE = {3: "mean +0.3 std", 9: "mean +0.2 std", 17: "gain x1.25", 25: "mean +0.15 std",
         30: "count rate 3 -> 3.6"}  # fmt: skip
BELOW = {5: "mean +0.05 std", 12: "mean +0.03 std"}

EVIDENTLY_SCRIPT = """
import json, sys, time
import numpy as np, pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset
ref, cur, repeat = np.load(sys.argv[1]), np.load(sys.argv[2]), int(sys.argv[3])
cols = [f"f{i}" for i in range(ref.shape[1])]
best, flagged = float("inf"), []
for _ in range(repeat):
    start = time.perf_counter()
    definition = DataDefinition(numerical_columns=cols)
    snapshot = Report([DataDriftPreset()]).run(
        Dataset.from_pandas(pd.DataFrame(cur, columns=cols), data_definition=definition),
        Dataset.from_pandas(pd.DataFrame(ref, columns=cols), data_definition=definition),
    )
    result = snapshot.dict()
    best = min(best, time.perf_counter() - start)
    flagged = [
        int(m["config"]["column"][1:]) for m in result["metrics"]
        if m["config"].get("type", "").endswith("ValueDrift")
        and m["value"] >= m["config"]["threshold"]
    ]
    method = next(m["config"]["method"] for m in result["metrics"] if "method" in m["config"])
print(json.dumps({"seconds": best, "flagged": sorted(flagged), "method": method}))
"""


def make_rows(rng: np.random.Generator, n: int) -> np.ndarray:
    X = np.empty((n, FEATURES), np.float32)
    X[:, :16] = rng.standard_normal((n, 16))
    X[:, 16:24] = rng.lognormal(0, 0.5, (n, 8))
    X[:, 24:28] = rng.uniform(-1, 1, (n, 4))
    X[:, 28:] = rng.poisson(3, (n, 4))
    return X


def inject(rng: np.random.Generator, live: np.ndarray, std: np.ndarray) -> None:
    live[:, 3] += 0.3 * std[3]
    live[:, 9] += 0.2 * std[9]
    live[:, 17] *= 1.25
    live[:, 25] += 0.15 * std[25]
    live[:, 30] = rng.poisson(3.6, len(live))
    live[:, 5] += 0.05 * std[5]
    live[:, 12] += 0.03 * std[12]


def best_of(repeat: int, run: Callable[[], Any]) -> tuple[float, float, Any]:
    """Best wall seconds, the CPU seconds of that run (all threads of this process: on a
    shared machine wall time includes waiting for a core, CPU time does not), the result."""
    best, cpu, result = float("inf"), float("inf"), None
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = run()
        wall = time.perf_counter() - start
        if wall < best:
            best, cpu = wall, time.process_time() - start_cpu
    return best, cpu, result


def verdict(flagged: list[int]) -> dict[str, Any]:
    return {
        "flagged": flagged,
        "missed": sorted(set(ABOVE) - set(flagged)),
        "false_alarms": sorted(set(flagged) - set(ABOVE)),
        "exact": sorted(flagged) == sorted(ABOVE),
    }


def telemetry_table(live: np.ndarray, labels: list[str], rng: np.random.Generator) -> pa.Table:
    n = len(live)
    features = pa.FixedSizeListArray.from_arrays(pa.array(live.reshape(-1)), FEATURES)
    columns = {
        "time": pa.array(np.arange(n, dtype="int64") + 1_767_225_600_000, pa.int64()).cast(
            pa.timestamp("ms", tz="UTC")
        ),
        "device": pa.array(np.array(["bench"] * n, dtype=object)),
        "model": pa.array(np.ones(n, np.int32)),
        "label": pa.array(np.array(labels, dtype=object)[rng.integers(0, len(labels), n)]),
        "features": features.cast(pa.list_(pa.float32())),
    }
    return pa.table(
        [columns.get(f.name, pa.nulls(n, f.type)) for f in telemetry.SCHEMA],
        schema=telemetry.SCHEMA,
    )


def evidently_python(given: str | None) -> str:
    if given:
        return given
    folder = Path.home() / ".cache" / "edgeops-bench" / EVIDENTLY.replace("==", "-")
    python = folder / "bin" / "python"
    if not python.exists():
        print(f"creating a virtualenv for {EVIDENTLY} in {folder}", file=sys.stderr)
        venv.create(folder, with_pip=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", EVIDENTLY, "pandas<3"], check=True
        )
    return str(python)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--evidently-repeat", type=int, default=1, help="its runs are slow")
    parser.add_argument("--skip-evidently", action="store_true")
    parser.add_argument("--evidently-python", help="a Python with evidently and pandas < 3")
    args = parser.parse_args()

    rng = np.random.default_rng(2026)
    ref = make_rows(rng, REFERENCE_ROWS)
    names = [f"f{i}" for i in range(FEATURES)]
    labels = ["idle", "walk", "run", "fall"]
    scores = rng.dirichlet(np.ones(4), 20_000)
    start = time.perf_counter()
    profile = reference.build(ref, names, labels=labels, y=scores.argmax(axis=1), scores=scores)
    profile_seconds = time.perf_counter() - start
    live = make_rows(rng, args.rows)
    inject(rng, live, profile.features.std)
    sketch = profile.features

    def core() -> list[int]:
        counts = detectors.histogram(live, sketch.layout)
        drift = detectors.compare_numeric(sketch.counts, counts, sketch.layout, sketch.std)
        return [int(i) for i in np.flatnonzero(drift.flagged)]

    core_seconds, core_cpu, ours = best_of(args.repeat, core)

    with tempfile.TemporaryDirectory() as folder:
        store = telemetry.TelemetryStore(Path(folder))
        store.append("bench", telemetry_table(live, labels, rng))

        def end_to_end() -> list[int]:
            table = store.read("bench", model=1, columns=analysis.COLUMNS)
            result = analysis.analyse(profile, table, {"min_rows": 100})
            return [i for i, row in enumerate(result.checks["features"]) if row["flagged"]]

        def read_only() -> int:
            return int(store.read("bench", model=1, columns=analysis.COLUMNS).num_rows)

        e2e_seconds, e2e_cpu, ours_e2e = best_of(args.repeat, end_to_end)
        read_seconds, read_cpu, _ = best_of(args.repeat, read_only)

    def scipy_ks() -> list[int]:
        return [j for j in range(FEATURES) if stats.ks_2samp(ref[:, j], live[:, j]).pvalue < 0.01]

    ks_seconds, ks_cpu, ks_flagged = best_of(1, scipy_ks)
    report: dict[str, Any] = {
        "rows": args.rows,
        "reference_rows": REFERENCE_ROWS,
        "features": FEATURES,
        "threads": 2,
        "injected_above_min_effect": {f"f{k}": v for k, v in ABOVE.items()},
        "injected_below_min_effect": {f"f{k}": v for k, v in BELOW.items()},
        "min_effect_std": detectors.DEFAULT_MIN_EFFECT,
        "alpha_holm": detectors.DEFAULT_ALPHA,
        "reference_profile_seconds": round(profile_seconds, 3),
        "ours_core": {
            "seconds": round(core_seconds, 3),
            "cpu_seconds": round(core_cpu, 3),
            **verdict(ours),
        },
        "ours_end_to_end_parquet": {
            "seconds": round(e2e_seconds, 3),
            "cpu_seconds": round(e2e_cpu, 3),
            "of_which_parquet_read_seconds": round(read_seconds, 3),
            "of_which_parquet_read_cpu_seconds": round(read_cpu, 3),
            **verdict(ours_e2e),
        },
        "load_average_1min": round(os.getloadavg()[0], 2),
        "scipy_ks_2samp": {
            "seconds": round(ks_seconds, 3),
            "cpu_seconds": round(ks_cpu, 3),
            "rule": "p < 0.01",
            **verdict(ks_flagged),
        },
    }
    if not args.skip_evidently:
        python = evidently_python(args.evidently_python)
        with tempfile.TemporaryDirectory() as folder:
            np.save(Path(folder) / "ref.npy", ref)
            np.save(Path(folder) / "cur.npy", live)
            script = Path(folder) / "run.py"
            script.write_text(EVIDENTLY_SCRIPT)
            out = subprocess.run(
                [python, str(script), f"{folder}/ref.npy", f"{folder}/cur.npy",
                 str(args.evidently_repeat)],
                check=True, capture_output=True, text=True,
            )  # fmt: skip
        found = json.loads(out.stdout.strip().splitlines()[-1])
        report["evidently"] = {
            "version": EVIDENTLY.split("==")[1],
            "method": found["method"],
            "seconds": round(found["seconds"], 3),
            **verdict(found["flagged"]),
        }
        report["speedup_vs_evidently"] = {
            "core": round(found["seconds"] / core_seconds, 1),
            "end_to_end": round(found["seconds"] / e2e_seconds, 1),
        }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
