"""Importing files: walk paths, parse each file, label and split it, store it in batches.

A bad file never costs the good ones: each file succeeds or fails on its own, and every batch
of good files is durable (blobs synced, rows committed) before the next one starts.
"""

import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from multiprocessing import get_all_start_methods, get_context
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from edgeops.data import samples
from edgeops.data.formats.parse import SUPPORTED_EXTENSIONS, check_size, parse_file
from edgeops.errors import InvalidInput, InvalidSample
from edgeops.governance import audit
from edgeops.store import db
from edgeops.store.blobs import BlobStore
from edgeops.store.tables import Project, Sample

LabelFrom = Literal["name", "folder", "none"]
BATCH = 500
PARALLEL_FROM = 200  # files; fewer are imported in this process
TEST_SHARE = 0.2


@dataclass
class ImportReport:
    imported: list[int] = field(default_factory=list)
    duplicates: list[tuple[str, int]] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "imported": self.imported,
            "duplicates": [{"path": p, "sample_id": i} for p, i in self.duplicates],
            "failures": [{"path": p, "error": e} for p, e in self.failures],
            "skipped": self.skipped,
        }


def collect_files(paths: Sequence[Path]) -> tuple[list[Path], list[str]]:
    """Files to import, sorted (the split depends on order), and the folder entries skipped
    because they are hidden or of an unsupported type. A named file is always tried."""
    files: list[Path] = []
    skipped: list[str] = []
    for path in paths:
        if path.is_dir():
            for root, dirs, names in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(names):
                    full = Path(root) / name
                    if name.startswith(".") or full.suffix.lower() not in SUPPORTED_EXTENSIONS:
                        skipped.append(str(full))
                    else:
                        files.append(full)
        elif path.exists():
            files.append(path)
        else:
            raise InvalidInput(f"{path}: no such file or folder")
    return sorted(set(files)), skipped


def label_for(path: Path, label: str | None, label_from: LabelFrom) -> str | None:
    """An explicit label wins; else Edge Impulse's convention `label.anything.ext` (name) or
    the parent folder's name (folder)."""
    if label is not None:
        return samples.validate_label(label)
    if label_from == "name":
        return samples.validate_label(path.name.split(".", 1)[0])
    if label_from == "folder":
        return samples.validate_label(path.parent.resolve().name)
    return None


class _Splitter:
    """Deterministic stratified split: per label, a sample goes to testing whenever that keeps
    the label's testing share at or under 20% (so every fifth sample of a label is a test one),
    counting what the project already holds."""

    def __init__(self, session: Session, project: Project) -> None:
        rows = session.execute(
            select(Sample.label, Sample.category).where(Sample.project_id == project.id)
        )
        self.total: Counter[str | None] = Counter()
        self.testing: Counter[str | None] = Counter()
        for label, category in rows:
            self.total[label] += 1
            self.testing[label] += category == "testing"

    def assign(self, label: str | None) -> samples.Category:
        self.total[label] += 1
        if self.testing[label] + 1 <= TEST_SHARE * self.total[label] + 1e-9:
            self.testing[label] += 1
            return "testing"
        return "training"


def import_files(
    session: Session,
    blobs: BlobStore,
    project: Project,
    paths: Sequence[Path],
    *,
    actor: str,
    label: str | None = None,
    label_from: LabelFrom = "name",
    category: str | None = None,
    hmac_key: str | None = None,
    interval_ms: float | None = None,
    subject_id: str | None = None,
    max_bytes: int = 50 * 1024 * 1024,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Import every file under `paths`. `category` None means the automatic 80/20 split;
    `subject_id` names the person recorded (privacy: erasure requests find samples by it).
    `progress(total)` is called once with the file count, then `progress(-1)` per file done.

    Large imports read, parse and store blobs in worker processes (one per core); this process
    deduplicates, splits and commits, in file order, so the result is the same either way."""
    options = _Options(
        project_id=project.id,
        label=samples.validate_label(label) if label is not None else None,
        label_from=label_from,
        hmac_key=hmac_key,
        interval_ms=interval_ms,
        subject_id=samples.validate_subject(subject_id) if subject_id is not None else None,
        max_bytes=max_bytes,
    )
    fixed = samples.validate_category(category) if category is not None else None
    files, skipped = collect_files(paths)
    if progress:
        progress(len(files))
    batch = _Batch(session, blobs, project, actor, fixed)
    batch.report.skipped = skipped
    prepare = partial(_prepare, blobs, options)
    with _pool(len(files)) as pool:
        for result in pool.map(prepare, files, chunksize=32) if pool else map(prepare, files):
            batch.add(result)
            if progress:
                progress(-1)
    batch.flush()
    return batch.report


@dataclass(frozen=True)
class _Options:
    project_id: int
    label: str | None
    label_from: LabelFrom
    hmac_key: str | None
    interval_ms: float | None
    subject_id: str | None
    max_bytes: int


@dataclass(frozen=True)
class _Prepared:
    """A file parsed and its blobs written (not yet durable); `row` lacks only the category."""

    path: Path
    content_hash: str
    row: dict[str, Any]


@dataclass(frozen=True)
class _Failed:
    path: Path
    error: str


def _prepare(blobs: BlobStore, options: _Options, path: Path) -> _Prepared | _Failed:
    try:
        label = label_for(path, options.label, options.label_from)
        original = _read(path, options.max_bytes)
        parsed = parse_file(
            path.name, original, hmac_key=options.hmac_key, interval_ms=options.interval_ms,
            max_bytes=options.max_bytes,
        )  # fmt: skip
    except (InvalidSample, InvalidInput) as exc:
        return _Failed(path, str(exc))
    # Both blobs are written even for a duplicate: they are content-addressed, so this costs
    # space only for a duplicate's original bytes, and keeps the workers free of any state.
    content_hash = blobs.put(samples.canonical_bytes(parsed.values))
    row = samples.new_row(
        options.project_id, parsed, content_hash=content_hash, original_hash=blobs.put(original),
        filename=path.name, label=label, source=f"file:{path.name}", subject_id=options.subject_id,
    )  # fmt: skip
    return _Prepared(path, content_hash, row)


@contextmanager
def _pool(file_count: int) -> Iterator[ProcessPoolExecutor | None]:
    """Worker processes when there is enough work to repay starting them (fork is quick)."""
    workers = os.cpu_count() or 1
    if file_count < PARALLEL_FROM or workers < 2 or "fork" not in get_all_start_methods():
        yield None
        return
    with ProcessPoolExecutor(workers, mp_context=get_context("fork")) as pool:
        yield pool


class _Batch:
    """Prepared samples waiting to be inserted and committed together."""

    def __init__(
        self,
        session: Session,
        blobs: BlobStore,
        project: Project,
        actor: str,
        category: samples.Category | None,
    ) -> None:
        self.session, self.blobs, self.project, self.actor = session, blobs, project, actor
        self.category = category
        self.report = ImportReport()
        self.known = samples.content_hashes(session, project)  # content hash → sample id
        self.pending: dict[str, dict[str, Any]] = {}  # content hash → row not yet committed
        self.splitter = _Splitter(session, project)

    def add(self, result: _Prepared | _Failed) -> None:
        if isinstance(result, _Failed):
            self.report.failures.append((str(result.path), result.error))
            return
        if result.content_hash in self.pending:  # a duplicate within the batch: store the first
            self.flush()
        if result.content_hash in self.known:
            self.report.duplicates.append((str(result.path), self.known[result.content_hash]))
            return
        category = self.category or self.splitter.assign(result.row["label"])
        self.pending[result.content_hash] = {**result.row, "category": category}
        if len(self.pending) >= BATCH:
            self.flush()

    def flush(self) -> None:
        """Insert the rows in one statement, make them durable, remember their hashes."""
        if not self.pending:
            return
        ids = samples.insert(self.session, list(self.pending.values()))
        details = {"ids": ids}
        audit.record(self.session, self.actor, "sample.import", f"{len(ids)} samples",
                     self.project.id, details)  # fmt: skip
        db.commit(self.session, self.blobs)
        self.report.imported.extend(ids)
        self.known.update(zip(self.pending, ids, strict=True))
        self.pending.clear()


def _read(path: Path, max_bytes: int) -> bytes:
    try:
        with path.open("rb") as handle:
            check_size(os.fstat(handle.fileno()).st_size, max_bytes)
            return handle.read()
    except OSError as exc:
        raise InvalidSample(f"cannot read the file ({exc.strerror})") from exc


def summary(report: ImportReport) -> Iterable[str]:
    yield f"{len(report.imported)} imported"
    if report.duplicates:
        yield f"{len(report.duplicates)} duplicates skipped"
    if report.skipped:
        yield f"{len(report.skipped)} unsupported files skipped"
    if report.failures:
        yield f"{len(report.failures)} failed"
