"""Automation overheads on 2 cores: the scheduler's cost per step, and feature extraction on 1
and 2 local workers and on a 2-worker Dask LocalCluster.

- scheduler: one workflow of `--steps` `notify` steps (no webhook: the step itself does nothing)
  run through the real queue of an embedded (SQLite) workspace by `run_until_idle` — every step
  is claimed with a lease, run, finished and the next one queued, each in its own transaction.
  Reported as steps per second and milliseconds per step (median of `--repeat` runs).
- features: BasicMotions (80 recordings, 6 axes) with the demo recipe's blocks (spectral +
  flatten). The feature cache is dropped before each executor so each computes; the content
  hash of the feature matrix must be equal across executors. The Dask client connects before
  the clock starts; task submission and result transfer are timed.

Prints JSON (and nothing else on stdout).

    .venv/bin/python benchmarks/automation.py [--steps 50] [--repeat 3]
"""

import argparse
import hashlib
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

CORES = 2


def scheduler(home: Path, steps: int, repeat: int) -> dict[str, Any]:
    from edgeops.workspace import Workspace

    ws = Workspace(home)
    ws.projects.create("bench")
    ws.settings.project = "bench"
    spec = {
        "name": "empty",
        "steps": [{"id": f"s{i}", "type": "notify", "with": {"message": f"step {i}"}}
                  for i in range(steps)],
    }  # fmt: skip
    ws.automation.apply(spec)
    seconds = []
    for _ in range(repeat):
        now = datetime.now(UTC)
        started = time.perf_counter()
        run = ws.automation.run("empty", now=now)
        assert run is not None
        ws.automation.run_until_idle(now)
        seconds.append(time.perf_counter() - started)
        done = ws.automation.get_run(run["id"])
        assert done["status"] == "succeeded", done["reason"]
        assert len(done["steps"]) == steps
    ws.close()
    median = statistics.median(seconds)
    return {
        "steps": steps,
        "runs": repeat,
        "seconds_per_run": [round(s, 3) for s in seconds],
        "steps_per_second": round(steps / median, 1),
        "ms_per_step": round(1000 * median / steps, 2),
        "database": "sqlite (embedded workspace)",
    }


def features(home: Path, data: Path) -> dict[str, Any]:
    import yaml
    from distributed import LocalCluster

    from edgeops.demo import HMAC_KEY, RECIPE, write_recordings
    from edgeops.recipes.executor import DaskExecutor, InlineExecutor, LocalExecutor
    from edgeops.recipes.extract import extract
    from edgeops.recipes.spec import Recipe
    from edgeops.workspace import Workspace

    ws = Workspace(home)
    ws.projects.create("motion")
    ws.settings.project = "motion"
    report = ws.data.import_files(write_recordings(data), hmac_key=HMAC_KEY)
    version = ws.data.commit("benchmark").id
    recipe = Recipe.model_validate(yaml.safe_load(RECIPE))
    results: dict[str, Any] = {}

    def timed(name: str, executor: Any) -> None:
        cache = f"{ws.blobs.root}/features"
        if ws.blobs.fs.exists(cache):
            ws.blobs.fs.rm(cache, recursive=True)
        started = time.perf_counter()
        found = extract(ws, recipe, version, executor=executor)
        seconds = time.perf_counter() - started
        assert found.hits == 0
        results[name] = {
            "seconds": round(seconds, 3),
            "windows": int(found.X.shape[0]),
            "sha256": hashlib.sha256(found.X.tobytes()).hexdigest(),
        }

    timed("local_1_worker", InlineExecutor())
    timed("local_2_workers", LocalExecutor(2))
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster:  # type: ignore[no-untyped-call]  # fmt: skip
        dask = DaskExecutor(cluster.scheduler_address)
        try:
            dask._connect()  # connecting is not extraction: keep it out of the timing
            timed("dask_2_workers", dask)
        finally:
            dask.close()
    base = results["local_1_worker"]["seconds"]
    for entry in results.values():
        entry["speed_up"] = round(base / entry["seconds"], 2) if entry["seconds"] else None
    hashes = {entry.pop("sha256") for entry in results.values()}
    ws.close()
    return {
        "samples": len(report.imported),
        "recipe": "demo (spectral fft 32 + flatten), BasicMotions",
        "executors": results,
        "same_features": len(hashes) == 1,
        "features_sha256": sorted(hashes)[0][:16],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    cores = sorted(os.sched_getaffinity(0))[:CORES]
    os.sched_setaffinity(0, cores)
    with tempfile.TemporaryDirectory(prefix="edgeops-bench-automation-") as folder:
        root = Path(folder)
        result = {
            "benchmark": "automation",
            "cores": cores,
            "python": sys.version.split()[0],
            "scheduler": scheduler(root / "scheduler", args.steps, args.repeat),
            "features": features(root / "features", root / "recordings"),
        }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
