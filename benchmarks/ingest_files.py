"""Import 10,000 small Edge Impulse JSON files into a fresh embedded workspace.

Prints JSON: samples/s for `edgeops data import` (parse, verify the HMAC, store blobs durably,
commit rows) beside the raw cost of `json.loads` alone on the same files, and their ratio.
Target: >= 1,000 samples/s on the embedded default (SQLite + local blobs).

    .venv/bin/python benchmarks/ingest_files.py [--count 10000] [--database-url URL]
"""

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from edgeops.data.formats.ei import sign_ei
from edgeops.workspace import Workspace

KEY = "benchmark-key"


def write_files(folder: Path, count: int) -> list[Path]:
    rng = np.random.default_rng(0)
    sensors = [{"name": f"acc{axis}", "units": "m/s2"} for axis in "XYZ"]
    paths = []
    for index in range(count):
        values = rng.normal(size=(50, 3)).astype(np.float32).round(3)
        payload = {"device_name": "bench", "device_type": "BENCH", "interval_ms": 10,
                   "sensors": sensors, "values": values.tolist()}  # fmt: skip
        path = folder / f"{'abcd'[index % 4]}.{index:05d}.json"
        path.write_bytes(sign_ei(payload, KEY))
        paths.append(path)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--database-url", default=None, help="default: SQLite in the home")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="edgeops-bench-") as tmp:
        folder = Path(tmp) / "files"
        folder.mkdir()
        paths = write_files(folder, args.count)
        os.sync()  # the files existed before the import; don't charge their writeback to it

        start = time.perf_counter()
        for path in paths:
            json.loads(path.read_bytes())
        json_seconds = time.perf_counter() - start

        with Workspace(Path(tmp) / "home", database_url=args.database_url) as ws:
            ws.projects.create("bench")
            start = time.perf_counter()
            report = ws.data.import_files([folder], hmac_key=KEY)
            import_seconds = time.perf_counter() - start
            assert len(report.imported) == args.count, report.failures[:3]
            backend = ws.engine.dialect.name

    print(json.dumps({
        "benchmark": "ingest_files",
        "files": args.count,
        "backend": backend,
        "edgeops_import_samples_per_s": round(args.count / import_seconds, 1),
        "json_loads_only_samples_per_s": round(args.count / json_seconds, 1),
        "ratio_import_vs_json_loads": round(json_seconds / import_seconds, 4),
        "target_samples_per_s": 1000,
        "meets_target": args.count / import_seconds >= 1000,
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
