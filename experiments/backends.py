"""Where batches of runs execute: in this process, in local worker processes, or on a Dask cluster.

Every backend takes a function and a list of batches and yields
``(batch index, result)`` as batches finish, in whatever order they finish.
Callers place results by index, so nothing depends on the backend, the
number of workers or the order of completion.

* ``serial``: one after another, in this process.
* ``processes``: a local pool (``experiments.parallel.worker_pool``) whose
  workers end with their parent and leave Ctrl-C to it.
* ``dask``: ``dask.distributed``. With no scheduler address a
  ``LocalCluster`` of single-threaded worker processes; with one, the
  existing cluster at that address. A batch lost with a dying worker is
  recomputed by Dask on another worker.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from sim.errors import UserError

BACKENDS = ("serial", "processes", "dask")


class BackendError(UserError):
    """A backend cannot be used as requested (one-line message)."""


def default_workers() -> int:
    return min(2, os.cpu_count() or 1)


class SerialBackend:
    name = "serial"
    workers = 1

    def run(self, function: Callable, batches: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        for index, batch in enumerate(batches):
            yield index, function(batch)

    def close(self) -> None:
        pass


class ProcessBackend:
    name = "processes"

    def __init__(self, workers: int) -> None:
        from experiments.parallel import worker_pool

        self.workers = workers
        self.pool = worker_pool(workers)

    def run(self, function: Callable, batches: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        from concurrent.futures import as_completed

        futures = {self.pool.submit(function, batch): index for index, batch in enumerate(batches)}
        try:
            for future in as_completed(futures):
                yield futures[future], future.result()
        except BaseException:
            self.pool.shutdown(wait=False, cancel_futures=True)
            raise

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


class DaskBackend:
    name = "dask"

    def __init__(self, workers: int, scheduler: str | None) -> None:
        try:
            from distributed import Client, LocalCluster
        except ImportError:  # pragma: no cover - a declared dependency
            raise BackendError("--backend: dask needs the package 'distributed'") from None
        self.cluster = None
        if scheduler is None:
            self.cluster = LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0", silence_logs=40
            )
            self.client = Client(self.cluster)
        else:
            try:
                self.client = Client(scheduler, timeout="10s")
            except (OSError, TimeoutError) as err:
                raise BackendError(f"--scheduler: cannot reach a Dask scheduler at {scheduler} ({err})") from None
        self.workers = max(len(self.client.scheduler_info().get("workers", {})), 1)
        self.dashboard = self.client.dashboard_link

    def run(self, function: Callable, batches: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        from distributed import as_completed

        futures = [self.client.submit(function, batch, pure=False) for batch in batches]
        index = {future.key: i for i, future in enumerate(futures)}
        try:
            for future in as_completed(futures):
                yield index[future.key], future.result()
        except BaseException:
            self.client.cancel(futures)
            raise

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def make_backend(kind: str, workers: int | None = None, scheduler: str | None = None):
    """A backend by name (``serial``, ``processes`` or ``dask``)."""
    if kind not in BACKENDS:
        raise BackendError(f"--backend: must be one of {', '.join(BACKENDS)}, got {kind!r}")
    if scheduler is not None and kind != "dask":
        raise BackendError("--scheduler: only the dask backend takes a scheduler address")
    workers = workers or default_workers()
    if kind == "serial":
        return SerialBackend()
    if kind == "processes":
        return ProcessBackend(workers)
    return DaskBackend(workers, scheduler)


def batches_of(items: Sequence[Any], workers: int, largest: int = 50) -> list[list[Any]]:
    """Consecutive batches: about four per worker, so that thousands of small runs share little overhead
    while the load still balances, and no batch is so large that a kill loses much work."""
    size = max(1, min(largest, -(-len(items) // (4 * max(workers, 1)))))
    return [list(items[start : start + size]) for start in range(0, len(items), size)]
