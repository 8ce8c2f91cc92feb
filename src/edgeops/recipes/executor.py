"""Where heavy per-item work runs: inline, or a local process pool (Dask plugs in here later)."""

import multiprocessing
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import Protocol, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class Executor(Protocol):
    """Runs `fn` on every item and yields the results in the items' order. `fn` and the items
    must be picklable (a module-level function and plain data) for executors across processes."""

    def map(self, fn: Callable[[Item], Result], items: Iterable[Item]) -> Iterator[Result]: ...


class InlineExecutor:
    """In this process, one item after another: no start-up cost, for small jobs and debugging."""

    def map(self, fn: Callable[[Item], Result], items: Iterable[Item]) -> Iterator[Result]:
        return map(fn, items)


class LocalExecutor:
    """A pool of `workers` forked processes; items travel in chunks so that many small items
    do not each pay a round trip. Fork (not spawn) shares the parent's loaded modules and
    block registry, so workers start in milliseconds."""

    def __init__(self, workers: int, chunksize: int | None = None) -> None:
        self.workers = max(1, workers)
        self.chunksize = chunksize

    def map(self, fn: Callable[[Item], Result], items: Iterable[Item]) -> Iterator[Result]:
        batch = list(items)
        if not batch:
            return
        chunk = self.chunksize or max(1, len(batch) // (self.workers * 4))
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(self.workers, mp_context=context) as pool:
            yield from pool.map(fn, batch, chunksize=chunk)


def executor_for(workers: int | None, items: int) -> Executor:
    """Inline for one worker or a handful of items, where a pool costs more than it saves."""
    if workers is None or workers <= 1 or items < 2:
        return InlineExecutor()
    return LocalExecutor(min(workers, items))
