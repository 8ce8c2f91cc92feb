"""Feature extraction for a dataset version: windows → feature blocks, cached per sample.

Cache: one entry per sample, keyed by the SHA-256 of canonical JSON holding the sample's content
hash, the recipe's input section and every block's (name, version, params, state hash). The
blob store is content-addressed (a blob's name is the hash of its bytes), which cannot look an
entry up by *our* key, so entries live beside the blobs at `<blob root>/features/ab/<key>.npy`
through the blob store's fsspec file system: the same local folder or bucket, no database rows.
A local write goes to a temporary name and is renamed into place; an object store PUT is atomic
by itself. Either way a reader sees a whole entry or none, so workers racing on one key are
harmless (both write the same bytes).
"""

import hashlib
import io
import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from fsspec.implementations.local import LocalFileSystem

from edgeops.blocks import registry
from edgeops.blocks.base import FeatureBlock
from edgeops.errors import InvalidInput
from edgeops.recipes.executor import Executor, executor_for
from edgeops.recipes.spec import Recipe, signal_spec, validate
from edgeops.recipes.windows import check_sample, windows_of
from edgeops.store.blobs import BlobStore

if TYPE_CHECKING:
    from edgeops.workspace import Workspace

CACHE_FORMAT = 1
BATCH_PER_WORKER = 8  # samples loaded into memory per worker at a time


@dataclass
class FeatureSet:
    """Features of every window of a dataset version, one row per window, samples in id order."""

    X: np.ndarray  # float32 (n_windows, n_features)
    y: list[str | None]  # the sample's label, per window
    sample_ids: np.ndarray  # int64, per window
    categories: list[str]  # 'training' / 'testing', per window
    feature_names: list[str]
    hits: int = 0
    misses: int = 0
    seconds: float = 0.0
    states: list[dict[str, Any] | None] = field(default_factory=list)  # per block, from `fit`

    def summary(self) -> dict[str, Any]:
        return {
            "windows": int(self.X.shape[0]),
            "features": int(self.X.shape[1]),
            "samples": len(set(self.sample_ids.tolist())),
            "cache_hits": self.hits,
            "cache_misses": self.misses,
            "seconds": round(self.seconds, 3),
        }


@dataclass(frozen=True)
class _Job:
    """One sample's work, sent to a worker: plain data only."""

    sample_id: int
    values: np.ndarray
    interval_ms: float | None
    sample_rate: int | None
    recipe: Recipe
    states: tuple[dict[str, Any] | None, ...]


def _blocks(recipe: Recipe) -> list[FeatureBlock]:
    return [registry.get(b.name, b.version)(b.params) for b in recipe.features]


def _needs_fit(block: FeatureBlock) -> bool:
    return type(block).fit is not FeatureBlock.fit


def _canonical(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), default=str).encode()


def state_hash(state: dict[str, Any] | None) -> str | None:
    return None if state is None else hashlib.sha256(_canonical(state)).hexdigest()


def cache_key(content_hash: str, recipe: Recipe, states: tuple[dict[str, Any] | None, ...]) -> str:
    """SHA-256 of what one sample's features depend on (the recipe's learner is not part)."""
    document = {
        "format": CACHE_FORMAT,
        "sample": content_hash,
        "input": recipe.input.model_dump(mode="json"),
        "blocks": [
            [block.name, block.version, block.params, state_hash(state)]
            for block, state in zip(recipe.features, states, strict=True)
        ],
    }
    return hashlib.sha256(_canonical(document)).hexdigest()


class FeatureCache:
    """Feature matrices by cache key, under `<blob root>/features/` (see the module docstring)."""

    def __init__(self, blobs: BlobStore) -> None:
        self.fs = blobs.fs
        self.root = f"{blobs.root}/features"
        self._local = isinstance(self.fs, LocalFileSystem)

    def _path(self, key: str) -> str:
        return f"{self.root}/{key[:2]}/{key}.npy"

    def get(self, key: str) -> np.ndarray | None:
        """The cached matrix, or None when missing or unreadable (then it is recomputed)."""
        try:
            data = self.fs.cat_file(self._path(key))
            matrix: np.ndarray = np.load(io.BytesIO(data), allow_pickle=False)
        except (FileNotFoundError, ValueError, OSError, EOFError):
            return None
        if matrix.ndim != 2 or matrix.dtype != np.float32:
            return None
        return matrix

    def put(self, key: str, matrix: np.ndarray) -> None:
        buffer = io.BytesIO()
        np.save(buffer, np.ascontiguousarray(matrix, dtype=np.float32), allow_pickle=False)
        path = self._path(key)
        if not self._local:
            self.fs.pipe_file(path, buffer.getvalue())
            return
        self.fs.makedirs(f"{self.root}/{key[:2]}", exist_ok=True)
        temp = f"{self.root}/tmp-{uuid.uuid4().hex}"
        self.fs.pipe_file(temp, buffer.getvalue())
        self.fs.mv(temp, path)


def features_of(job: _Job) -> np.ndarray:
    """One sample's feature matrix: (its windows, all blocks' features side by side)."""
    windows = windows_of(job.values, job.interval_ms, job.sample_rate, job.recipe, job.sample_id)
    spec = signal_spec(job.recipe)
    parts = [
        block.transform(windows, spec, state)
        for block, state in zip(_blocks(job.recipe), job.states, strict=True)
    ]
    return np.concatenate(parts, axis=1).astype(np.float32)


def _fit_states(
    ws: "Workspace", recipe: Recipe, entries: list[dict[str, Any]]
) -> tuple[dict[str, Any] | None, ...]:
    """Each block's state, fitted on the training split's windows only (none if no block fits).
    States are not cached: a recipe with a fitting block reads the training samples every run."""
    blocks = _blocks(recipe)
    if not any(_needs_fit(block) for block in blocks):
        return tuple(None for _ in blocks)
    training = [entry for entry in entries if entry["category"] == "training"]
    if not training:
        raise InvalidInput("the recipe has blocks that fit on training data, but the version "
                           "has no training samples")  # fmt: skip
    windows = np.concatenate([
        windows_of(ws.data.values(e), e["interval_ms"], e["sample_rate"], recipe, e["id"])
        for e in training
    ])  # fmt: skip
    spec = signal_spec(recipe)
    return tuple(block.fit(windows, spec) if _needs_fit(block) else None for block in blocks)


def _batches(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def extract(
    ws: "Workspace",
    recipe: Recipe,
    version_ref: str,
    *,
    project: str | None = None,
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
    executor: Executor | None = None,
    states: list[dict[str, Any] | None] | None = None,
) -> FeatureSet:
    """Features of every window of every sample of a dataset version.

    Cached samples are read back; the rest are computed by `executor` (default: a local process
    pool of `workers`, inline for one). `progress(total)` is called once, then `progress(-1)`
    per sample done. `states`: the blocks' fitted states to use (a trained model's) instead of
    fitting them on this version's training split."""
    started = time.perf_counter()
    recipe = validate(recipe)
    entries = sorted(ws.data.read_version(version_ref, project=project), key=lambda e: e["id"])
    for entry in entries:
        if entry["kind"] != recipe.input.kind:
            raise InvalidInput(f"sample {entry['id']} is {entry['kind']} but the recipe reads "
                               f"{recipe.input.kind}")  # fmt: skip
        check_sample(entry["shape"], entry["interval_ms"], entry["sample_rate"], recipe,
                     entry["id"])  # fmt: skip
    if progress is not None:
        progress(len(entries))
    fitted = tuple(states) if states is not None else _fit_states(ws, recipe, entries)
    cache = FeatureCache(ws.blobs)
    keys = [cache_key(entry["content_hash"], recipe, fitted) for entry in entries]
    matrices: list[np.ndarray | None] = []
    for key in keys:
        matrices.append(cache.get(key))
        if matrices[-1] is not None and progress is not None:
            progress(-1)
    missing = [index for index, matrix in enumerate(matrices) if matrix is None]
    runner = executor or executor_for(workers, len(missing))
    for batch in _batches(missing, max(1, workers or 1) * BATCH_PER_WORKER):
        jobs = [
            _Job(entries[i]["id"], ws.data.values(entries[i]), entries[i]["interval_ms"],
                 entries[i]["sample_rate"], recipe, fitted)
            for i in batch
        ]  # fmt: skip
        for index, matrix in zip(batch, runner.map(features_of, jobs), strict=True):
            cache.put(keys[index], matrix)
            matrices[index] = matrix
            if progress is not None:
                progress(-1)
    done = [m for m in matrices if m is not None]
    counts = [len(m) for m in done]
    width = _feature_names(recipe, fitted)
    return FeatureSet(
        X=np.concatenate(done) if done else np.zeros((0, len(width)), dtype=np.float32),
        y=[e["label"] for e, n in zip(entries, counts, strict=True) for _ in range(n)],
        sample_ids=np.repeat(np.array([e["id"] for e in entries], dtype=np.int64), counts),
        categories=[e["category"] for e, n in zip(entries, counts, strict=True) for _ in range(n)],
        feature_names=width,
        hits=len(entries) - len(missing),
        misses=len(missing),
        seconds=time.perf_counter() - started,
        states=list(fitted),
    )


def _feature_names(recipe: Recipe, states: tuple[dict[str, Any] | None, ...]) -> list[str]:
    """`<block>.<index>` per output column: found by running each block on one zero window."""
    spec = signal_spec(recipe)
    zeros = np.zeros((1, spec.window_samples, spec.axes), dtype=np.float32)
    names: list[str] = []
    for block, state in zip(_blocks(recipe), states, strict=True):
        width = block.transform(zeros, spec, state).shape[1]
        names += [f"{block.name}.{index}" for index in range(width)]
    return names
