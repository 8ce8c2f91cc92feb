"""Wall time and peak memory to train the motion/audio/image templates on 2 cores, with accuracy
beside scikit-learn baselines on the same windows of the same split.

Each template runs in a fresh process pinned to 2 cores (torch: 2 threads), which imports the
files into a new embedded workspace, commits a dataset version and trains the template through
`Workspace.train` (seed 0, the CLI's defaults). Training time is reported without the one-off
module imports a fresh process pays first (torch, torch._dynamo on the first optimiser,
scipy.stats through edgeops.training.train), which are timed on their own. The template's
blocks and learner are kept; only what must fit the data changes (the input section, and the
image size and FFT length inside the blocks): each result lists those changes under `adapted`.
Peak memory is the process's `ru_maxrss` after import + commit and after training (import
workers, forked for 200 files or more, are reported separately).

Baselines are fitted afterwards in the same process on the same windows (cut by edgeops' own
windowing) of the same dataset version, and scored per window like the model. Neural networks
hold out 20% of the training samples for validation; baselines train on all of them. For audio
the augmented copies are samples of their own, so that hold-out has siblings of training
recordings and the validation accuracy is optimistic (testing is not affected).

- motion: BasicMotions → random forest on the raw windows, and on the recipe's own features.
- image: all 1,797 scikit-learn digits as PNG → SVC (RBF) on the pixels.
- audio: asterisk-core-sounds-en-wav words labelled by folder, split by recording, augmented
  in training only (see training_data.py) → logistic regression and random forest on mean + std
  of librosa MFCCs. Skipped unless the package is installed:
  `apt-get install -y asterisk-core-sounds-en-wav`.

Prints JSON (one object per template and a summary) and a table on stderr.

    .venv/bin/python benchmarks/training.py [--templates motion image audio] [--copies 4]
                                            [--workers 1] [--torch-threads 2]
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import training_data as data  # benchmarks/ is on sys.path when this script runs
import yaml

CORES = 2
TEMPLATE_NAMES = ("motion", "image", "audio")
PUBLISHED = {
    "motion": {
        "source": "UEA multivariate archive (Bagnall et al., 2018), its own 40/40 split of "
        "whole 100-step series, not this one",
        "1nn_dtw_accuracy": 1.0,
    }
}


def adapted_recipe(template: str) -> dict[str, Any]:
    """The template's recipe with its input (and size-bound block params) fitted to the data."""
    from edgeops.demo import RECIPE
    from edgeops.recipes.templates import TEMPLATES

    recipe = yaml.safe_load(TEMPLATES[template])
    if template == "motion":  # the demo's input section for BasicMotions
        recipe["input"] = yaml.safe_load(RECIPE)["input"]
    elif template == "image":
        recipe["input"] = {"kind": "image", "width": 8, "height": 8, "channels": 1}
        recipe["features"][0]["params"].update(width=8, height=8)
    elif template == "audio":
        recipe["input"]["frequency_hz"] = data.SPEECH_RATE
        recipe["features"][0]["params"].update(frame_length_s=0.02, fft_length=256)
    return recipe


def changes(before: Any, after: Any, path: str = "") -> list[str]:
    """Where two recipe documents differ, as `path: old → new`."""
    if isinstance(before, dict) and isinstance(after, dict):
        return [
            line
            for key in dict.fromkeys([*before, *after])
            for line in changes(before.get(key), after.get(key), f"{path}.{key}".lstrip("."))
        ]
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        return [line for i, (b, a) in enumerate(zip(before, after, strict=True))
                for line in changes(b, a, f"{path}[{i}]")]  # fmt: skip
    return [] if before == after else [f"{path}: {before!r} → {after!r}"]


def peak_mib(who: int = resource.RUSAGE_SELF) -> float:
    return round(resource.getrusage(who).ru_maxrss / 1024, 1)  # Linux reports KiB


def pin_to_cores() -> list[int]:
    cores = sorted(os.sched_getaffinity(0))[:CORES]
    os.sched_setaffinity(0, cores)
    return cores


def import_and_commit(ws: Any, template: str, files: Path) -> dict[str, Any]:
    from edgeops.demo import HMAC_KEY

    ws.projects.create(template)
    if template == "audio":
        batches = [(files / "training", "training"), (files / "testing", "testing")]
    else:
        batches = [(files, None)]
    key = HMAC_KEY if template == "motion" else None
    imported = duplicates = 0
    for folder, category in batches:
        report = ws.data.import_files([folder], category=category, hmac_key=key)
        assert not report.failures, report.failures[:3]
        imported += len(report.imported)
        duplicates += len(report.duplicates)
    version = ws.data.commit(f"{template} benchmark")
    return {"samples": imported, "duplicates_skipped": duplicates, "version": version.id}


def window_matrix(ws: Any, recipe: Any, version: str) -> tuple[Any, Any, Any]:
    """Every window of the version as the model saw it: (windows, labels, is-training)."""
    import numpy as np

    from edgeops.recipes.windows import windows_of

    windows, labels, training = [], [], []
    for entry in sorted(ws.data.read_version(version), key=lambda e: e["id"]):
        cut = windows_of(ws.data.values(entry), entry["interval_ms"], entry["sample_rate"],
                         recipe, entry["id"])  # fmt: skip
        windows.append(cut)
        labels += [entry["label"]] * len(cut)
        training += [entry["category"] == "training"] * len(cut)
    return np.concatenate(windows), np.array(labels), np.array(training)


def baselines(ws: Any, template: str, recipe: Any, version: str, seed: int) -> list[dict[str, Any]]:
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    from edgeops.recipes.extract import extract

    windows, labels, training = window_matrix(ws, recipe, version)
    flat = windows.reshape(len(windows), -1)
    forest = RandomForestClassifier(n_estimators=300, random_state=seed, n_jobs=CORES)
    if template == "motion":
        features = extract(ws, recipe, version).X  # same rows: samples in id order
        runs = [("random forest (300 trees)", "raw windows (50 steps x 6 axes)", forest, flat),
                ("random forest (300 trees)", "the recipe's spectral + flatten features",
                 forest, features)]  # fmt: skip
    elif template == "image":
        runs = [("SVC (RBF, C=1, gamma=scale)", "pixels / 255", SVC(), flat / 255)]
    else:
        statistics = data.mfcc_statistics(windows)
        logistic = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))
        runs = [("logistic regression (standardised)", "librosa MFCC mean + std (26)",
                 logistic, statistics),
                ("random forest (300 trees)", "librosa MFCC mean + std (26)", forest,
                 statistics)]  # fmt: skip
    results = []
    for model, inputs, estimator, X in runs:
        started = time.perf_counter()
        estimator.fit(X[training], labels[training])
        accuracy = float((estimator.predict(X[~training]) == labels[~training]).mean())
        results.append({"model": f"scikit-learn {model}", "input": inputs,
                        "accuracy": round(accuracy, 4), "testing_windows": int((~training).sum()),
                        "fit_seconds": round(time.perf_counter() - started, 2)})  # fmt: skip
    return results


def run_template(
    template: str, files: Path, home: Path, args: argparse.Namespace
) -> dict[str, Any]:
    """The measurement itself, in the child process."""
    cores = pin_to_cores()
    from edgeops.recipes.spec import Recipe
    from edgeops.recipes.templates import TEMPLATES
    from edgeops.workspace import Workspace

    started = time.perf_counter()
    with Workspace(home) as ws:
        imported = import_and_commit(ws, template, files)
        import_seconds = time.perf_counter() - started
        rss_import = peak_mib()
        document = adapted_recipe(template)
        recipe = Recipe.model_validate(document)
        started = time.perf_counter()
        import torch

        import edgeops.training.train  # noqa: F401 - imports scipy.stats via monitoring

        torch.set_num_threads(args.torch_threads)
        torch.optim.Adam([torch.zeros(1, requires_grad=True)])  # its first use imports dynamo
        module_seconds = time.perf_counter() - started
        rss_modules = peak_mib()
        started = time.perf_counter()
        model = ws.train(recipe, imported["version"], seed=args.seed, workers=args.workers)
        train_seconds = time.perf_counter() - started
        rss_train = peak_mib()
        testing = model.metrics["testing"]
        extract_seconds = float(model.training["seconds"])
        result = {
            "cores": cores,
            "torch_threads": torch.get_num_threads(),
            "extract_workers": args.workers,
            **imported,
            "adapted": changes(yaml.safe_load(TEMPLATES[template]), document),
            "import_commit_seconds": round(import_seconds, 2),
            "module_import_seconds": round(module_seconds, 2),
            "train_seconds": round(train_seconds, 2),
            "extract_seconds": round(extract_seconds, 2),
            "fit_test_register_seconds": round(train_seconds - extract_seconds, 2),
            "peak_rss_mib": {
                "after_import_commit": rss_import,
                "after_module_imports": rss_modules,
                "after_training": rss_train,
                "import_workers": peak_mib(resource.RUSAGE_CHILDREN),
            },
            "windows": {
                "training": model.training["windows"],
                "testing": testing["windows"],
                "validation": model.metrics.get("validation", {}).get("windows"),
            },
            "features": model.training["features"],
            "epochs": {
                "configured": recipe.learner.params.get("epochs"),
                "run": len(model.training["history"]),
            },
            "accuracy": testing["accuracy"],
            "training_accuracy": model.metrics.get("training", {}).get("accuracy"),
            "validation_accuracy": model.metrics.get("validation", {}).get("accuracy"),
            "macro_f1": testing["macro"]["f1"],
            "labels": model.labels,
        }
        result["baselines"] = baselines(ws, template, recipe, imported["version"], args.seed)
        assert all(b["testing_windows"] == testing["windows"] for b in result["baselines"])
    return result


def measure(template: str, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Write the template's data, then run it in a fresh process; the child's JSON back."""
    files = work / template / "files"
    if template == "motion":
        written = data.write_motion(files)
    elif template == "image":
        written = data.write_digits(files)
    else:
        written = data.write_speech(files, args.copies, args.seed)
    env = {**os.environ, **{name: str(CORES) for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS",
                                                         "OPENBLAS_NUM_THREADS")}}  # fmt: skip
    started = time.perf_counter()
    child = subprocess.run(
        [sys.executable, __file__, "--child", template, "--files", str(files),
         "--home", str(work / template / "home"), "--workers", str(args.workers),
         "--seed", str(args.seed), "--torch-threads", str(args.torch_threads)],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    if child.returncode != 0:
        raise SystemExit(f"{template}: the child process failed:\n{child.stderr}")
    result = {**written, **json.loads(child.stdout)}
    result["process_seconds"] = round(time.perf_counter() - started, 2)
    if template in PUBLISHED:
        result["published"] = PUBLISHED[template]
    return result


def table(report: dict[str, Any]) -> str:
    head = ("template", "samples", "windows", "import s", "train s", "peak MiB", "accuracy",
            "baseline")  # fmt: skip
    rows = [head]
    for name in TEMPLATE_NAMES:
        result = report.get(name)
        if result is None:
            continue
        if "skipped" in result:
            rows.append((name, "skipped", "", "", "", "", "", ""))
            continue
        best = max(result["baselines"], key=lambda b: b["accuracy"])
        peer = best["model"].removeprefix("scikit-learn ")
        rows.append((name, str(result["samples"]),
                     f"{result['windows']['training']}/{result['windows']['testing']}",
                     f"{result['import_commit_seconds']:.1f}", f"{result['train_seconds']:.1f}",
                     f"{result['peak_rss_mib']['after_training']:.0f}",
                     f"{result['accuracy']:.3f}",
                     f"{best['accuracy']:.3f} {peer}"))  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True))
                     for row in rows)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--templates", nargs="+", choices=TEMPLATE_NAMES, default=TEMPLATE_NAMES)
    parser.add_argument("--copies", type=int, default=4, help="augmented copies per training "
                        "recording (audio)")  # fmt: skip
    parser.add_argument("--workers", type=int, default=1, help="feature extraction processes "
                        "(the CLI's default: 1)")  # fmt: skip
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--torch-threads", type=int, default=CORES)
    parser.add_argument("--child", choices=TEMPLATE_NAMES, help=argparse.SUPPRESS)
    parser.add_argument("--files", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--home", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_template(args.child, args.files, args.home, args)))
        return
    started = time.perf_counter()
    load_start = round(os.getloadavg()[0], 2)  # other work on the machine skews every time
    report: dict[str, Any] = {"benchmark": "training"}
    with tempfile.TemporaryDirectory(prefix="edgeops-bench-training-") as tmp:
        for template in args.templates:
            if template == "audio" and not data.speech_available():
                report[template] = {"skipped": f"{data.ASTERISK_SOUNDS} not found: "
                                    f"apt-get install -y {data.ASTERISK_PACKAGE}"}  # fmt: skip
                continue
            report[template] = measure(template, Path(tmp), args)
            print(f"{template}: done", file=sys.stderr)
    report["summary"] = {
        "total_seconds": round(time.perf_counter() - started, 1),
        "cores": CORES,
        "load_average_1min": {"start": load_start, "end": round(os.getloadavg()[0], 2)},
        "templates": {
            name: {"accuracy": r["accuracy"], "train_seconds": r["train_seconds"],
                   "peak_rss_mib": r["peak_rss_mib"]["after_training"],
                   "baselines": {b["model"] + " on " + b["input"]: b["accuracy"]
                                 for b in r["baselines"]}}
            if "skipped" not in r else r
            for name in args.templates
            if (r := report[name])
        },
    }  # fmt: skip
    print(json.dumps(report, indent=2))
    print(table(report), file=sys.stderr)


if __name__ == "__main__":
    main()
