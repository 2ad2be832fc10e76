"""Process pools whose workers end with their parent and leave Ctrl-C to it.

A plain ``ProcessPoolExecutor`` outlives a parent killed with SIGKILL: its
workers (a few hundred MB each here) keep running until they finish their
queue. And Ctrl-C in a terminal signals the whole process group, so every
worker would print its own ``KeyboardInterrupt`` traceback.

Workers of :func:`worker_pool` instead

* ask the kernel for SIGTERM when their parent dies (``prctl(PR_SET_PDEATHSIG)``
  on Linux; elsewhere a daemon thread polls ``os.getppid()`` and exits when the
  worker has been re-parented), and
* ignore SIGINT: the parent gets the ``KeyboardInterrupt`` and stops the pool.
  Workers start with SIGINT blocked (they inherit the mask of the thread that
  starts them), so a Ctrl-C while one boots cannot raise in it either, and the
  parent defers a Ctrl-C that arrives while it starts a worker until the
  executor's bookkeeping is consistent again.

``shutdown(cancel_futures=True)`` also terminates workers still busy with a
call, so an interrupted run ends at once instead of after the replicates in
flight; :func:`stop_workers` does that for every pool not yet shut down (the
command line calls it when a command ends).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor

_PR_SET_PDEATHSIG = 1
_POLL_SECONDS = 0.5
_FLAG_WAIT_SECONDS = 2.0

# Strong references: a pool whose owner was dropped by an exception must still be found and stopped.
_live_pools: set[WorkerPool] = set()


class WorkerPool(ProcessPoolExecutor):
    """A ``ProcessPoolExecutor`` whose workers die with the parent, ignore SIGINT and can be stopped at once."""

    def __init__(self, max_workers: int) -> None:
        super().__init__(max_workers=max_workers, initializer=_init_worker, initargs=(os.getpid(),))
        self._calls: weakref.WeakSet[Future] = weakref.WeakSet()
        _live_pools.add(self)

    def submit(self, fn: Callable, /, *args, **kwargs) -> Future:
        # Workers are started inside submit; an exception half-way would leave a worker without its start-up
        # data and the executor's books wrong.
        with _sigint_deferred():
            future = super().submit(fn, *args, **kwargs)
            self._calls.add(future)
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Shut down; with ``cancel_futures``, calls already running are stopped too (their workers end).

        Args:
            wait: Wait until the workers have exited.
            cancel_futures: Cancel the calls not started yet, and terminate the workers running the others.
        """
        _live_pools.discard(self)
        # These attributes of ProcessPoolExecutor (CPython 3.9+) are cleared by shutdown: read them first.
        processes = list((self._processes or {}).values())
        manager = self._executor_manager_thread
        super().shutdown(wait=False, cancel_futures=cancel_futures)
        if cancel_futures and any(not call.done() for call in list(self._calls)):
            # Wait until the executor's thread has dropped the cancelled calls: if it saw dead workers first,
            # it would try to fail the cancelled futures too and print an InvalidStateError (CPython 3.11).
            deadline = time.monotonic() + _FLAG_WAIT_SECONDS
            while self._cancel_pending_futures and manager is not None and manager.is_alive():
                if time.monotonic() > deadline:
                    break
                time.sleep(0.005)
            # The running calls' results would be thrown away: end them now rather than after a whole
            # replicate. The executor sees its workers gone, fails their futures and cleans up by itself.
            for process in processes:
                with contextlib.suppress(OSError, ValueError):
                    process.terminate()
        if wait and manager is not None:
            manager.join()


def worker_pool(workers: int) -> WorkerPool:
    """A process pool of ``workers`` processes that end with this process and ignore SIGINT.

    Args:
        workers: Number of worker processes (>= 1).

    Returns:
        The pool; use it like any ``ProcessPoolExecutor``. ``shutdown(cancel_futures=True)`` stops it at once,
        terminating workers that are still running a call.
    """
    return WorkerPool(max_workers=workers)


def stop_workers() -> None:
    """Stop every pool of this process not yet shut down: pending calls cancelled, running workers terminated."""
    for pool in list(_live_pools):
        pool.shutdown(wait=False, cancel_futures=True)


@contextlib.contextmanager
def _sigint_deferred() -> Iterator[None]:
    """Hold back SIGINT: blocked in this thread (children inherit it), and, in the main thread, re-raised after."""
    blocking = hasattr(signal, "pthread_sigmask")
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT}) if blocking else None
    # Another thread may take the signal; Python then runs the handler in the main thread, so replace it too.
    # (getsignal is None for a handler installed outside Python, which could not be put back.)
    main = threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGINT) is not None
    caught: list[object] = []
    previous = signal.signal(signal.SIGINT, lambda number, frame: caught.append(frame)) if main else None
    try:
        yield
    finally:
        if main:
            signal.signal(signal.SIGINT, previous)
        if blocking:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
    if caught:
        if previous is signal.default_int_handler:
            raise KeyboardInterrupt
        if callable(previous):
            previous(signal.SIGINT, caught[0])


def _init_worker(parent: int) -> None:
    """Worker initializer: ignore SIGINT and end when ``parent`` ends."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})  # a Ctrl-C pending since start-up is dropped
    if not _die_with_parent():
        original = os.getppid()
        threading.Thread(target=_watch_parent, args=(original,), name="watch-parent", daemon=True).start()
    # The parent may have died before the request above took effect.
    if not _alive(parent):
        os._exit(1)


def _die_with_parent() -> bool:
    """Ask Linux to send SIGTERM when the parent dies; False where that is unavailable."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)  # the process's own symbols include the C library's
        return libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch_parent(original: int) -> None:
    # Re-parenting (to init or a subreaper) is how a child learns its parent died.
    while os.getppid() == original:
        time.sleep(_POLL_SECONDS)
    os._exit(1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
