"""`make bench`'s report: benchmark outcomes (good, failing, silent) become one Markdown table.

The real benchmarks take many minutes; these feed the runner tiny scripts and the report
builder sample results shaped like the real ones.
"""

import json
import textwrap
from pathlib import Path

from benchmarks import report

SAMPLES = {
    "ingest_files": {
        "edgeops_import_samples_per_s": 1200.5,
        "json_loads_only_samples_per_s": 7500.0,
        "ratio_import_vs_json_loads": 0.16,
        "target_samples_per_s": 1000,
        "meets_target": True,
    },
    "ingest_http": {"ingest_samples_per_s": 470.0, "ratio_ingest_vs_noop": 0.16},
    "compiler": {
        "targets_digits_mlp_int8": {
            "m4_flash_vs_tflm": {"ours": 6980, "peer": 31200, "met": True},
            "m4_instructions_vs_cmsis_nn_stretch": {"ours": 25059, "peer": 18031, "met": False},
        }
    },
    "drift": {
        "ours_core": {"seconds": 0.4, "flagged": [0, 1, 2, 3, 4], "exact": True},
        "evidently": {"seconds": 310.0, "exact": True},
        "speedup_vs_evidently": {"core": 775.0, "end_to_end": 40.1},
    },
}


def write(results: Path, name: str, outcome: dict[str, object]) -> None:
    results.mkdir(parents=True, exist_ok=True)
    (results / f"{name}.json").write_text(json.dumps({"benchmark": name, **outcome}))


def test_report_lists_benchmarks_ratios_targets_and_failures(tmp_path: Path) -> None:
    for name, result in SAMPLES.items():
        write(tmp_path, name, {"status": "ok", "exit_code": 0, "seconds": 12.5, "result": result})
    write(tmp_path, "fleet", {"status": "failed", "exit_code": 1, "seconds": 3.0,
                              "error": "exit code 1\nRuntimeError: wrk not found"})  # fmt: skip
    (tmp_path / "machine.json").write_text(json.dumps(
        {"cpu": "Test CPU 9000", "cores": 2, "cores_usable": 2, "ram_gib": 7.8, "python": "3.11.7",
         "numpy": "2.3.0", "git_commit": "abc123def456", "date": "2026-11-30 10:00 UTC",
         "load_average_start": [1.0, 2.0, 3.0], "load_average_end": [4.0, 5.0, 6.0]}
    ))  # fmt: skip

    text = report.build(tmp_path)

    assert "Test CPU 9000, 2 cores (2 usable), 7.8 GiB RAM" in text
    assert "commit abc123def456" in text and "[1.0, 2.0, 3.0]" in text and "[4.0, 5.0, 6.0]" in text
    assert "| ingest_files | ok | 12.5 | 1 of 1 |" in text
    assert "| ingest_http | ok | 12.5 | 0 of 2 |" in text  # below both of its targets
    assert "| compiler | ok | 12.5 | 1 of 2 |" in text
    assert "| drift | ok | 12.5 | 2 of 2 |" in text  # end to end: not measured
    assert "| fleet | **failed**: exit code 1 | 3.0 | — |" in text
    assert "RuntimeError: wrk not found" in text
    assert "| ingest_files | ratio_import_vs_json_loads | 0.16 |" in text
    assert "| drift | speedup_vs_evidently.core | 775 |" in text
    assert "| ingest_files | samples/s, 10,000 EI JSON files | 1,200 | >= 1,000 | yes |" in text
    assert "| ingest_http | samples/s, 8 clients | 470 | >= 1,500 | **no** |" in text
    assert (
        "| compiler | targets_digits_mlp_int8.m4_instructions_vs_cmsis_nn_stretch | 25,059 | "
        "18,031 | **no** |"
    ) in text
    assert (
        "| drift | end to end from Parquet, seconds | not measured | < 2 | not measured |" in text
    )
    # a peer's own exactness is not an edgeops target
    assert "evidently: flags" not in text


def test_runner_keeps_going_after_a_failure(tmp_path: Path) -> None:
    scripts, results = tmp_path / "scripts", tmp_path / "results"
    scripts.mkdir()
    (scripts / "good.py").write_text(textwrap.dedent("""
        import json, sys
        print("warming up", file=sys.stderr)
        print("a line of its own")
        print(json.dumps({"ratio_x_vs_y": 2.5}, indent=2))
    """))  # fmt: skip
    (scripts / "crash.py").write_text("import sys\nprint('boom', file=sys.stderr)\nsys.exit(3)\n")
    (scripts / "silent.py").write_text("print('no json here')\n")

    outcomes = {
        name: report.run_one(name, results, scripts) for name in ("crash", "good", "silent")
    }

    assert outcomes["good"]["status"] == "ok" and outcomes["good"]["result"] == {
        "ratio_x_vs_y": 2.5
    }
    assert outcomes["crash"]["status"] == "failed" and outcomes["crash"]["exit_code"] == 3
    assert "boom" in outcomes["crash"]["error"]
    assert outcomes["silent"]["status"] == "failed"
    assert "no JSON" in outcomes["silent"]["error"]
    stored = json.loads((results / "good.json").read_text())
    assert stored["result"] == {"ratio_x_vs_y": 2.5} and stored["seconds"] >= 0
    assert "| good | ratio_x_vs_y | 2.5 |" in report.build(results)
