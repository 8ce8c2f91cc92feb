"""Where heavy per-item work runs: inline, a local process pool, or a Dask cluster."""

import multiprocessing
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Protocol, TypeVar

from edgeops.errors import InvalidInput, StorageUnavailable

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


def _run_chunk(fn: Callable[[Item], Result], chunk: list[Item]) -> list[Result]:
    return [fn(item) for item in chunk]


class DaskExecutor:
    """Items spread over a Dask distributed cluster (`dask://host:port` or `tcp://…`); results
    come back in the items' order, so they are the same as on any other executor. The client
    connects on first use and is kept for the executor's life (`close` ends it)."""

    def __init__(self, address: str) -> None:
        self.address = "tcp://" + address.removeprefix("dask://").removeprefix("tcp://")
        self._client: Any = None

    def _connect(self) -> Any:
        if self._client is None:
            try:
                from distributed import Client
            except ImportError:
                raise InvalidInput(
                    "EDGEOPS_EXECUTOR names a Dask cluster but Dask is not "
                    'installed: pip install "dask[distributed]"'
                ) from None
            try:
                self._client = Client(self.address, timeout=10, set_as_default=False)  # type: ignore[no-untyped-call]
            except OSError as exc:
                raise StorageUnavailable(
                    f"cannot reach the Dask scheduler at {self.address}: {exc}"
                ) from None
        return self._client

    def map(self, fn: Callable[[Item], Result], items: Iterable[Item]) -> Iterator[Result]:
        batch = list(items)
        if not batch:
            return
        client = self._connect()
        # A few chunks per worker thread: one task per small item costs more in scheduling and
        # transfer than the item's work. pure=False: equal chunks are still separate tasks.
        threads = max(1, sum(client.nthreads().values()))
        size = max(1, len(batch) // (threads * 4))
        chunks = [batch[start : start + size] for start in range(0, len(batch), size)]
        futures = client.map(_run_chunk, [fn] * len(chunks), chunks, pure=False)
        for results in client.gather(futures):
            yield from results

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def executor_for(workers: int | None, items: int, url: str | None = None) -> Executor:
    """The Dask cluster of `url` (default: the EDGEOPS_EXECUTOR setting) if one is named;
    otherwise inline for one worker or a handful of items, where a pool costs more than it
    saves, and a local process pool beyond."""
    if url is None:
        from edgeops.config import load_settings

        url = load_settings().executor
    if url and url.startswith(("dask://", "tcp://")):
        return DaskExecutor(url)
    if url and url != "local":
        raise InvalidInput(f"EDGEOPS_EXECUTOR={url!r}: use 'local' or dask://host:port")
    if workers is None or workers <= 1 or items < 2:
        return InlineExecutor()
    return LocalExecutor(min(workers, items))
