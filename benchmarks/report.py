"""Run the benchmarks and write one report: `make bench` calls this.

    .venv/bin/python benchmarks/report.py run ingest_files ingest_http ...   # run, then report
    .venv/bin/python benchmarks/report.py build                              # report only

Each benchmark is a script that prints one JSON object on stdout (progress goes to stderr, shown
as it runs). `run` executes each in turn with this Python, keeps going when one fails, and
writes benchmarks/results/<name>.json: `{"benchmark", "status": "ok" | "failed", "exit_code",
"seconds", "result": <its JSON>, "error": <the end of its stderr>}`, plus machine.json (CPU,
cores, RAM, load average before and after, Python, numpy, date, git commit).

`build` turns those files into benchmarks/results/report.md: the machine, one line per
benchmark, every ratio against a peer the benchmarks print (keys named `ratio…` or
`speedup…`), and every target with its verdict — the ones a benchmark judges itself (`met`,
`meets_target`, `exact`) and the ones listed in TARGETS below for benchmarks that print a
number and leave the judging to the reader.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections import deque
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"

# (benchmark, what, dotted path to edgeops' number, comparison, threshold): targets for numbers
# the benchmarks print without a verdict of their own (the README's benchmark table).
TARGETS: list[tuple[str, str, str, str, float]] = [
    ("ingest_files", "samples/s, 10,000 EI JSON files", "edgeops_import_samples_per_s", ">=", 1000),
    ("ingest_mqtt", "messages/s acknowledged", "bridge_acknowledged_messages_per_s", ">=", 3000),
    ("ingest_http", "samples/s, 8 clients", "ingest_samples_per_s", ">=", 1500),
    ("ingest_http", "ingest vs no-op endpoint", "ratio_ingest_vs_noop", ">=", 0.5),
    ("fleet", "check-ins/s on PostgreSQL", "postgresql.checkins_per_s", ">=", 2000),
    ("fleet", "delta size, fine-tuned weights", "deltas.cases.fine-tuned weights.ratio", "<=", 0.3),
    ("fleet", "delta size, retrained weights", "deltas.cases.retrained weights.ratio", "<=", 0.3),
    ("drift", "speed-up vs Evidently (detectors)", "speedup_vs_evidently.core", ">=", 10),
    ("drift", "end to end from Parquet, seconds", "ours_end_to_end_parquet.seconds", "<", 2),
]


def machine(started: dict[str, Any] | None = None) -> dict[str, Any]:
    """What the numbers depend on. Called before and after the run: the load average at both
    ends says how much the (often shared) machine disturbed them."""
    info = dict(started or {})
    load = [round(value, 2) for value in os.getloadavg()]
    if started is None:
        info.update({
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "cpu": _cpu_model(),
            "cores": os.cpu_count(),
            "cores_usable": len(os.sched_getaffinity(0)),
            "ram_gib": _ram_gib(),
            "os": platform.platform(),
            "python": platform.python_version(),
            "numpy": _version("numpy"),
            "git_commit": _git_commit(),
            "load_average_start": load,
        })  # fmt: skip
    else:
        info["load_average_end"] = load
    return info


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _ram_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    return None


def _version(package: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return None


def _git_commit() -> str | None:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=HERE, capture_output=True, text=True, check=True
        ).stdout.strip()

    try:
        commit, dirty = git("rev-parse", "--short=12", "HEAD"), git("status", "--porcelain", "-uno")
    except (OSError, subprocess.CalledProcessError):
        return None
    return commit + (" (with uncommitted changes)" if dirty else "")


def last_json(stdout: str) -> Any:
    """The JSON object a benchmark printed: the whole output, or else the last object that
    starts a line (a benchmark may print a few lines of its own first)."""
    try:
        return json.loads(stdout)
    except json.JSONDecodeError:
        pass
    decoder = json.JSONDecoder()
    starts = [
        i for i, char in enumerate(stdout) if char == "{" and (i == 0 or stdout[i - 1] == "\n")
    ]
    for start in reversed(starts):
        try:
            return decoder.raw_decode(stdout, start)[0]
        except json.JSONDecodeError:
            continue
    raise ValueError("printed no JSON object on stdout")


def run_one(name: str, results: Path, scripts: Path = HERE) -> dict[str, Any]:
    """Run benchmarks/<name>.py, showing its progress; its outcome, failed or not, goes to
    results/<name>.json."""
    print(f"== {name}", file=sys.stderr, flush=True)
    started = time.perf_counter()
    outcome: dict[str, Any] = {"benchmark": name}
    tail: deque[str] = deque(maxlen=40)
    with tempfile.TemporaryFile("w+", encoding="utf-8") as stdout:
        try:
            process = subprocess.Popen(
                [sys.executable, str(scripts / f"{name}.py")], cwd=HERE.parent, stdout=stdout,
                stderr=subprocess.PIPE, text=True,
            )  # fmt: skip
        except OSError as exc:
            outcome.update(status="failed", exit_code=None, error=str(exc))
        else:
            assert process.stderr is not None
            for line in process.stderr:
                sys.stderr.write(line)
                tail.append(line)
            outcome["exit_code"] = process.wait()
            stdout.seek(0)
            try:
                if outcome["exit_code"] != 0:
                    raise ValueError(f"exit code {outcome['exit_code']}")
                outcome.update(status="ok", result=last_json(stdout.read()))
            except ValueError as exc:
                outcome.update(status="failed", error=f"{exc}\n{''.join(tail)}".strip())
    outcome["seconds"] = round(time.perf_counter() - started, 1)
    results.mkdir(parents=True, exist_ok=True)
    (results / f"{name}.json").write_text(json.dumps(outcome, indent=2) + "\n", encoding="utf-8")
    return outcome


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts as one level of dotted keys (lists are left whole)."""
    if not isinstance(value, dict):
        return {prefix: value}
    flat: dict[str, Any] = {}
    for key, item in value.items():
        flat.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def ratios(result: Any) -> list[tuple[str, Any]]:
    """Every number a benchmark printed as edgeops against a peer."""
    return [
        (key, value)
        for key, value in flatten(result).items()
        if isinstance(value, int | float) and not isinstance(value, bool)
        and any(word in key for word in ("ratio", "speedup", "speed_up"))
        and "target" not in key
    ]  # fmt: skip


def verdicts(name: str, result: Any) -> list[tuple[str, str, str, bool | None]]:
    """(what, edgeops, target or peer, met) for each target of one benchmark's result: the
    checks it judged itself (`met` beside `ours` and `peer`; `exact` for our drift detectors
    against the injected truth), then the TARGETS on its numbers."""
    rows: list[tuple[str, str, str, bool | None]] = []
    flat = flatten(result)
    for key, value in flat.items():
        parent, _, last = key.rpartition(".")
        if last == "met" and isinstance(value, bool):
            ours, peer = _show(flat.get(f"{parent}.ours")), _show(flat.get(f"{parent}.peer"))
            rows.append((parent, ours, peer, value))
        elif last == "exact" and parent.startswith("ours") and isinstance(value, bool):
            flagged = _show(flat.get(f"{parent}.flagged"))
            rows.append((f"{parent}: flags exactly the injected shifts", flagged, "truth", value))
    for benchmark, what, path, comparison, threshold in TARGETS:
        if benchmark != name:
            continue
        value = flat.get(path)
        measured = isinstance(value, int | float) and not isinstance(value, bool)
        met = _compare(float(value), comparison, threshold) if measured else None
        shown = _show(value) if value is not None else "not measured"
        rows.append((what, shown, f"{comparison} {_show(threshold)}", met))
    return rows


def _compare(value: float, comparison: str, threshold: float) -> bool:
    return {">=": value >= threshold, "<=": value <= threshold, "<": value < threshold,
            ">": value > threshold}[comparison]  # fmt: skip


def _show(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def build(results: Path) -> str:
    """report.md from the JSON files in `results`."""
    machine_file = results / "machine.json"
    info = json.loads(machine_file.read_text()) if machine_file.exists() else {}
    order = {name: index for index, name in enumerate(info.get("benchmarks", []))}
    outcomes = sorted(
        (json.loads(path.read_text()) for path in results.glob("*.json") if path != machine_file),
        key=lambda outcome: (order.get(outcome["benchmark"], len(order)), outcome["benchmark"]),
    )
    lines = ["# Benchmark report", "", *_machine_lines(info)]
    lines += ["## Benchmarks", "", "| benchmark | status | seconds | targets met |"]
    lines.append("| --- | --- | ---: | --- |")
    for outcome in outcomes:
        if outcome.get("status") == "ok":
            judged = [row[3] for row in verdicts(outcome["benchmark"], outcome["result"])]
            known = [met for met in judged if met is not None]
            status, met = "ok", f"{sum(known)} of {len(known)}" if known else "—"
        else:
            first = (outcome.get("error") or "").splitlines()[:1]
            status, met = f"**failed**: {_cell(first[0]) if first else ''}", "—"
        lines.append(
            f"| {outcome['benchmark']} | {status} | {outcome.get('seconds', '')} | {met} |"
        )
    lines += [
        "", "## edgeops against its peers", "",
        "Ratios as each benchmark prints them (its docstring says which way round; most are peer "
        "time / edgeops time, so above 1 means edgeops is faster).", "",
        "| benchmark | measure | ratio |", "| --- | --- | ---: |",
    ]  # fmt: skip
    for outcome in outcomes:
        for key, value in ratios(outcome.get("result", {})):
            lines.append(f"| {outcome['benchmark']} | {_cell(key)} | {_show(value)} |")
    lines += ["", "## Targets", "", "| benchmark | target | edgeops | against | met |"]
    lines.append("| --- | --- | ---: | --- | --- |")
    for outcome in outcomes:
        if outcome.get("status") != "ok":
            continue
        for what, ours, against, met in verdicts(outcome["benchmark"], outcome["result"]):
            verdict = "yes" if met else "**no**" if met is False else "not measured"
            cells = [outcome["benchmark"], _cell(what), _cell(ours), _cell(against), verdict]
            lines.append("| " + " | ".join(cells) + " |")
    for outcome in outcomes:
        if outcome.get("status") != "ok":
            error = (outcome.get("error") or "").strip()
            lines += ["", f"## Failed: {outcome['benchmark']}", "", "```", error, "```"]
    return "\n".join(lines).rstrip() + "\n"


def _machine_lines(info: dict[str, Any]) -> list[str]:
    if not info:
        return ["(no machine.json: run `report.py run` to record the machine)", ""]
    get = info.get
    return [
        f"{get('date', '?')} · commit {get('git_commit') or '?'}",
        "",
        f"{get('cpu', '?')}, {get('cores', '?')} cores ({get('cores_usable', '?')} usable), "
        f"{get('ram_gib', '?')} GiB RAM · {get('os', '?')} · Python {get('python', '?')}, "
        f"numpy {get('numpy', '?')}",
        "",
        f"Load average (1, 5, 15 min) at the start {get('load_average_start', '?')}, at the end "
        f"{get('load_average_end', '?')}: on a shared machine, numbers move with it.",
        "",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["run", "build"])
    parser.add_argument("benchmarks", nargs="*", help="names in benchmarks/, without .py")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    args.results.mkdir(parents=True, exist_ok=True)
    if args.command == "run":
        if not args.benchmarks:
            parser.error("name the benchmarks to run, e.g. ingest_files features")
        for stale in args.results.glob("*.json"):
            stale.unlink()
        info = {**machine(), "benchmarks": args.benchmarks}
        for name in args.benchmarks:
            run_one(name, args.results)
        (args.results / "machine.json").write_text(json.dumps(machine(info), indent=2) + "\n")
    report = build(args.results)
    (args.results / "report.md").write_text(report, encoding="utf-8")
    print(report)
    print(f"wrote {args.results / 'report.md'}", file=sys.stderr)


if __name__ == "__main__":
    main()
