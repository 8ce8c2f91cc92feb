"""The tuner: a small search over a recipe's feature-block and model sizes. Every trial is fitted
on the training split minus a held-out 20% of its samples, scored on that hold-out (the testing
split stays untouched for the model trained afterwards), and sized from its IR (estimates.py:
no compiler runs per trial). Trials run through an executor, so in parallel on a local pool or
a Dask cluster."""

import itertools
import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from edgeops.automation import estimates
from edgeops.automation.pareto import front
from edgeops.blocks import registry as blocks
from edgeops.blocks.learn.base import FitContext
from edgeops.errors import InvalidInput
from edgeops.recipes.executor import Executor, InlineExecutor
from edgeops.recipes.spec import Recipe, canonical_data, recipe_hash, validate

if TYPE_CHECKING:
    from edgeops.workspace import Workspace

DEFAULT_TRIALS = 8
MAX_TRIALS = 32
HOLD_OUT = 0.2
SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|KB|KIB|K|MB|MIB|M)?\s*$", re.IGNORECASE)
DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|us|µs|s)?\s*$", re.IGNORECASE)
TREE_SIZES = [(trees, depth) for trees in (5, 10, 20) for depth in (3, 5, 8)]
WIDTH_FACTORS = (0.5, 1.0, 2.0)
WIDTH_KEYS = ("dense", "conv1d", "conv2d", "dsconv2d")


def parse_size(text: str) -> int:
    """`64KB`, `64KiB`, `1.5MB`, `4096` → bytes (K and M are 1024 and 1024², as for flash)."""
    match = SIZE.match(text)
    if match is None:
        raise InvalidInput(f"size {text!r}: expected bytes like 64KB, 1MB or 4096")
    number, unit = float(match.group(1)), (match.group(2) or "B").upper()
    return int(number * {"B": 1, "K": 1024, "KB": 1024, "KIB": 1024}.get(unit, 1024**2))


def parse_latency(text: str) -> float:
    """`50ms`, `500us`, `0.1s` → milliseconds."""
    match = DURATION.match(text)
    if match is None:
        raise InvalidInput(f"latency {text!r}: expected a time like 50ms, 500us or 0.1s")
    number, unit = float(match.group(1)), (match.group(2) or "ms").lower()
    return number * {"ms": 1.0, "us": 0.001, "µs": 0.001, "s": 1000.0}[unit]


@dataclass(frozen=True)
class Budget:
    ram_bytes: int | None = None
    flash_bytes: int | None = None
    latency_ms: float | None = None
    profile: str = "cortex-m4f"

    def misses(self, trial: dict[str, Any]) -> list[str]:
        """What `trial` exceeds, e.g. ['flash 70,000 B > 65,536 B']."""
        limits = (("ram_bytes", self.ram_bytes), ("flash_bytes", self.flash_bytes),
                  ("latency_ms", self.latency_ms))  # fmt: skip
        return [f"{name} {trial[name]:,} > {limit:,}" for name, limit in limits
                if limit is not None and trial[name] > limit]  # fmt: skip


def _learner_variants(name: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    if name == "trees":
        return [{**params, "trees": t, "max_depth": d} for t, d in TREE_SIZES]
    layers = params.get("layers")
    if name.startswith("nn-") and isinstance(layers, list) and layers:
        shapes = [layers]
        if len(layers) > 1 and all(set(layer) <= {"dense", "dropout"} for layer in layers):
            shapes.append(layers[:1])  # one layer fewer, then none but the first
        found = []
        for shape, factor in itertools.product(shapes, WIDTH_FACTORS):
            scaled = [
                {k: max(2, round(v * factor)) if k in WIDTH_KEYS and v else v
                 for k, v in layer.items()}
                for layer in shape
            ]  # fmt: skip
            found.append({**params, "layers": scaled})
        return found
    return [params]


def _feature_variants(recipe: dict[str, Any]) -> list[list[dict[str, Any]]]:
    """Per block, its parameter choices: `fft_length` halved and doubled where it has one."""
    choices = []
    for block in recipe["features"]:
        params = dict(block.get("params") or {})
        resolved = blocks.get(block["name"], block.get("version")).Params.model_fields
        if "fft_length" not in resolved:
            choices.append([params])
            continue
        current = int(params.get("fft_length", resolved["fft_length"].default))
        options = []
        for length in (current // 2, current, current * 2):
            if 16 <= length <= 4096:
                options.append({**params, "fft_length": length})
        choices.append(options)
    return choices


def candidates(recipe: Recipe, count: int, seed: int = 0) -> list[Recipe]:
    """`count` distinct variants of `recipe`: the recipe itself first, then a seeded sample of
    its feature-by-model grid (variants a block refuses are left out)."""
    base = canonical_data(validate(recipe))
    features = [list(c) for c in itertools.product(*_feature_variants(base))]
    learners = _learner_variants(base["learner"]["name"], base["learner"].get("params") or {})
    grid = []
    for params, learner in itertools.product(features, learners):
        data = json.loads(json.dumps(base))
        for block, chosen in zip(data["features"], params, strict=True):
            block["params"] = chosen
        data["learner"]["params"] = learner
        grid.append(data)
    order = [0, *(np.random.default_rng(seed).permutation(len(grid) - 1) + 1).tolist()]
    chosen_recipes: list[Recipe] = []
    seen: set[str] = set()
    for index in [-1, *order]:
        data = base if index == -1 else grid[index]
        try:
            variant = validate(Recipe.model_validate(data))
        except (InvalidInput, ValueError):
            continue
        key = recipe_hash(variant)
        if key not in seen:
            seen.add(key)
            chosen_recipes.append(variant)
        if len(chosen_recipes) == count:
            break
    return chosen_recipes


@dataclass(frozen=True)
class TrialJob:
    """One trial as plain data, so that any executor can run it."""

    index: int
    learner: str
    version: int
    params: dict[str, Any]
    X_fit: np.ndarray
    y_fit: np.ndarray
    X_held: np.ndarray
    y_held: np.ndarray
    context: FitContext
    profile: str


def run_trial(job: TrialJob) -> dict[str, Any]:
    learner = blocks.get_learner(job.learner, job.version)(job.params)
    learner.fit(job.X_fit, job.y_fit, job.context)
    accuracy = float((learner.predict(job.X_held).argmax(axis=1) == job.y_held).mean())
    guess = estimates.of_model(learner.to_ir(), job.X_fit, job.profile)
    return {"index": job.index, "accuracy": round(accuracy, 4), **guess.as_dict()}


@dataclass
class TuneResult:
    trials: list[dict[str, Any]]  # per trial: recipe, changes, accuracy, estimates, fits
    front: list[int]  # indices of the Pareto-optimal trials
    chosen: int | None  # the most accurate trial within the budget
    budget: Budget
    data: str
    held_out_samples: int
    notes: list[str] = field(default_factory=list)

    @property
    def recipe(self) -> dict[str, Any] | None:
        return None if self.chosen is None else self.trials[self.chosen]["recipe"]

    def as_dict(self) -> dict[str, Any]:
        return {
            "trials": self.trials, "front": self.front, "chosen": self.chosen,
            "budget": self.budget.__dict__, "data": self.data,
            "held_out_samples": self.held_out_samples, "notes": self.notes,
        }  # fmt: skip


def _hold_out(sample_ids: np.ndarray, seed: int) -> np.ndarray:
    samples = np.unique(sample_ids)
    count = max(1, round(len(samples) * HOLD_OUT))
    held = np.random.default_rng(seed).choice(samples, size=count, replace=False)
    return np.isin(sample_ids, held)


def _changes(base: dict[str, Any], variant: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for a, b in zip(base["features"], variant["features"], strict=True):
        found |= {f"{b['name']}.{k}": v for k, v in (b.get("params") or {}).items()
                  if (a.get("params") or {}).get(k) != v}  # fmt: skip
    params = variant["learner"].get("params") or {}
    found |= {f"learner.{k}": v for k, v in params.items()
              if (base["learner"].get("params") or {}).get(k) != v}  # fmt: skip
    return found


def tune(
    ws: "Workspace",
    recipe: Recipe,
    data: str | None = None,
    *,
    project: str | None = None,
    budget: Budget | None = None,
    trials: int = DEFAULT_TRIALS,
    seed: int = 0,
    executor: Executor | None = None,
) -> TuneResult:
    """Search around `recipe` on dataset version `data` (default: the newest)."""
    from edgeops.recipes.extract import extract

    budget = budget or Budget()
    if not 1 <= trials <= MAX_TRIALS:
        raise InvalidInput(f"trials: between 1 and {MAX_TRIALS}, got {trials}")
    learner_type = blocks.get_learner(recipe.learner.name)
    if learner_type.task != "classification":
        raise InvalidInput(f"the tuner scores accuracy: {recipe.learner.name} is no classifier")
    versions = ws.data.versions(project=project)
    if data is None and not versions:
        raise InvalidInput("no dataset version to tune on: run `edgeops data commit` first")
    version = ws.data.version(data or versions[0].id, project=project).id
    variants = candidates(recipe, trials, seed)
    base = canonical_data(variants[0])
    executor = executor or InlineExecutor()
    jobs: list[TrialJob] = []
    held_samples = 0
    for index, variant in enumerate(variants):
        found = extract(ws, variant, version, project=project, executor=executor)
        training = np.array([c == "training" for c in found.categories], dtype=bool)
        labelled = training & np.array([y is not None for y in found.y], dtype=bool)
        labels = sorted({y for y, t in zip(found.y, labelled, strict=True) if t and y})
        held = labelled & _hold_out(found.sample_ids, seed) if labelled.any() else labelled
        fit_rows = labelled & ~held
        if len(labels) < 2 or not held.any() or not fit_rows.any():
            raise InvalidInput(
                f"dataset version {version[:12]} has too few labelled training samples to hold "
                f"{HOLD_OUT:.0%} of them out for tuning (labels: {labels or 'none'})"
            )
        held_samples = len(np.unique(found.sample_ids[held]))
        y = np.array([labels.index(v) if v in labels else -1 for v in found.y], dtype=np.int64)
        from edgeops.training.train import input_shape

        context = FitContext(labels=tuple(labels), seed=seed,
                             input_shape=input_shape(variant, found.X.shape[1]))  # fmt: skip
        jobs.append(TrialJob(index, variant.learner.name, learner_type.version,
                             variant.learner.params, found.X[fit_rows], y[fit_rows],
                             found.X[held], y[held], context, budget.profile))  # fmt: skip
    rows = []
    for result, variant in zip(executor.map(run_trial, jobs), variants, strict=True):
        data_of = canonical_data(variant)
        result |= {"recipe": data_of, "recipe_hash": recipe_hash(variant),
                   "changes": _changes(base, data_of)}  # fmt: skip
        result["misses"] = budget.misses(result)
        result["fits"] = not result["misses"]
        rows.append(result)
    points = [(r["accuracy"], r["flash_bytes"], r["ram_bytes"], r["latency_ms"]) for r in rows]
    fitting = [i for i, r in enumerate(rows) if r["fits"]]
    chosen = min(fitting, key=lambda i: (-points[i][0], *points[i][1:], i), default=None)
    notes = ["sizes are IR estimates of the model only (no DSP): build the result to measure"]
    return TuneResult(rows, front(points), chosen, budget, version, held_samples, notes)
