"""Executors: where runs happen. One small interface, three back-ends, all context managers.

``executor.map_unordered(fn, items)`` yields ``(item, result, error)`` as runs finish, in any
order; ``error`` is an exception the *executor* hit (a worker process died, the cluster went
away), never one from the model: ``runs.execute`` turns model errors into failed outcomes itself.
The sweep loop leaves executor errors unrecorded, so ``--resume`` runs those items again.

At most ``max_in_flight`` items are submitted at once (default: 2 per worker), so memory stays
bounded however large the sweep, and a killed sweep loses only the runs in flight.

``SequentialExecutor``
    in this process, in order (``--workers 1``): no start-up, no pickling; easiest to debug.
``ProcessPoolExecutor``
    ``concurrent.futures`` with the ``forkserver`` start method (``spawn`` where there is none):
    never ``fork`` from a process that may hold threads (tqdm, Dask, BLAS). The fork server
    imports marketsim once, so each worker starts warm.
``DaskExecutor``
    a ``distributed.Client`` to an existing scheduler (``--dask tcp://host:8786``) or to a
    ``LocalCluster`` it starts and stops (``--dask-local N``: N single-threaded worker processes).
    Workers need marketsim importable (same environment).

Results depend only on each run's seed, so every executor gives the same tables, run for run.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent import futures
from typing import Any

from marketsim.errors import MarketsimError

# what a worker needs, imported once by the fork server: the run, its store (the function shipped is a
# store.ExecuteAndStore), the model. Not the samplers, Dask or the report (see tests/test_imports.py).
PRELOAD = ["marketsim.experiments.runs", "marketsim.experiments.store", "marketsim.model", "marketsim.runner"]


LOST_RESULT_RETRIES = 2  # recomputations of a run whose result vanished with its worker


def warm_up(_: Any = None) -> int:
    """Import what a run needs (``PRELOAD``), freeze it out of the garbage collector's walks
    (``process_setup.freeze_imports``, in a worker process only) and return this worker's process
    id: submitted once per worker when a pool starts, so the imports overlap with the sweep's own
    preparation."""
    import importlib

    from marketsim import process_setup

    for module in PRELOAD:
        importlib.import_module(module)
    if process_setup.in_worker():  # a worker the pool started: its objects so far are the imports
        process_setup.freeze_imports()
    return os.getpid()


class ExecutorError(MarketsimError):
    """The executor could not be started (bad address, no workers)."""


class Executor:
    name = "executor"
    workers = 1
    shares_disk = True  # workers see the sweep's folder, so they can write their runs' parts themselves

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:  # pragma: no cover - trivial
        pass

    def map_unordered(self, fn: Callable[[Any], Any], items: Iterable[Any],
                      max_in_flight: int | None = None) -> Iterator[tuple[Any, Any, BaseException | None]]:
        """Yield (item, fn(item), None) as runs finish, or (item, None, the error) when the
        executor lost the run: never neither (the engine relies on it)."""
        raise NotImplementedError

    def describe(self) -> str:
        return f"{self.name} ({self.workers} worker{'s' if self.workers != 1 else ''})"


class SequentialExecutor(Executor):
    name = "sequential"

    def map_unordered(self, fn, items, max_in_flight=None):
        for item in items:
            yield item, fn(item), None


def _window(submit, wait_some, items, limit):
    """Keep ``limit`` futures in flight; yield (item, future) as they finish."""
    pending: dict[Any, Any] = {}
    it = iter(items)
    exhausted = False
    while True:
        while not exhausted and len(pending) < limit:
            try:
                item = next(it)
            except StopIteration:
                exhausted = True
                break
            pending[submit(item)] = item
        if not pending:
            return
        for fut in wait_some(list(pending)):
            yield pending.pop(fut), fut


class ProcessPoolExecutor(Executor):
    name = "process pool"

    def __init__(self, workers: int | None = None, start_method: str | None = None):
        self.workers = max(1, workers or os.cpu_count() or 1)
        methods = multiprocessing.get_all_start_methods()
        method = start_method or ("forkserver" if "forkserver" in methods else "spawn")
        if method == "fork":
            raise ExecutorError("executor: the 'fork' start method is not used (it can copy held locks); "
                                "use 'forkserver' or 'spawn'")
        ctx = multiprocessing.get_context(method)
        if method == "forkserver":
            ctx.set_forkserver_preload(PRELOAD)
        self.start_method = method
        self.pool = futures.ProcessPoolExecutor(max_workers=self.workers, mp_context=ctx)
        # start the workers now (the fork server imports PRELOAD once), not at the first run:
        # meanwhile the sweep prepares its folder and plan
        self.warming = [self.pool.submit(warm_up) for _ in range(self.workers)]

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)

    def map_unordered(self, fn, items, max_in_flight=None):
        limit = max_in_flight or 2 * self.workers

        def wait_some(pending):
            done, _ = futures.wait(pending, return_when=futures.FIRST_COMPLETED)
            return done

        def submit(item):
            try:
                return self.pool.submit(fn, item)
            except futures.process.BrokenProcessPool as exc:
                raise ExecutorError(
                    f"process pool: a worker process died ({exc}); runs finished so far are kept, "
                    "run again with --resume. (Started from `python -` or `python -c`? Worker processes "
                    "re-import __main__: use a script file, a notebook, or workers=1.)"
                ) from None

        for item, fut in _window(submit, wait_some, items, limit):
            exc = fut.exception()
            yield item, (None if exc else fut.result()), exc


class DaskExecutor(Executor):
    name = "dask"

    def __init__(self, address: str | None = None, local_workers: int | None = None):
        try:
            from distributed import Client, LocalCluster
        except ImportError as exc:  # pragma: no cover - distributed is a dependency
            raise ExecutorError(f"executor: Dask distributed is not installed ({exc})") from None
        if (address is None) == (local_workers is None):
            raise ExecutorError("executor: give either a scheduler address or a number of local workers")
        self.cluster = None
        if local_workers is not None:
            if local_workers < 1:
                raise ExecutorError(f"--dask-local {local_workers}: needs at least 1 worker")
            import dask

            # no statistical profiler in the workers: it samples the running task's stack every 10 ms
            # for a dashboard this cluster does not serve, and costs a run's Python-bound worker 3-10%
            # (a 40-run sweep: 20.4 -> 18.2 s and 18.0 -> 17.4 s, interleaved). The nannies hand this
            # setting to their workers; a remote cluster (``--dask``) keeps its own configuration.
            with dask.config.set({"distributed.worker.profile.enabled": False}):
                self.cluster = LocalCluster(n_workers=local_workers, threads_per_worker=1, processes=True,
                                            dashboard_address=None, silence_logs=40)
            self.client = Client(self.cluster)
            self.address = self.cluster.scheduler_address
        else:
            self.address = address
            _check_reachable(address)
            try:
                self.client = Client(address, timeout="20s")
            except (OSError, TimeoutError) as exc:
                raise ExecutorError(f"--dask {address}: cannot reach the scheduler ({exc})") from None
        self.shares_disk = self.cluster is not None
        self.workers = max(1, self.threads())
        self.name = "dask LocalCluster" if self.cluster is not None else f"dask {self.address}"

    def threads(self) -> int:
        """Worker threads the scheduler knows now (a remote cluster may still be growing)."""
        return sum(w.get("nthreads", 1) for w in self.client.scheduler_info(n_workers=-1)["workers"].values())

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()

    def map_unordered(self, fn, items, max_in_flight=None):
        from distributed import wait

        limit = max_in_flight or 2 * self.workers

        def submit(item):
            key = f"marketsim-run-{getattr(item, 'run_id', id(item))}-{os.getpid()}-{id(item)}"
            return self.client.submit(fn, item, pure=False, key=key)

        def wait_some(pending):
            return wait(pending, return_when="FIRST_COMPLETED").done

        for item, fut in _window(submit, wait_some, items, limit):
            result, error = _settle(fut)
            # a worker killed just as its run finished can hand back its future without the data
            # (None), or move it back to pending while Dask recomputes it (its status then is not
            # "finished" although wait() listed it as done): result() waits for the recomputation,
            # and a result that is still missing is computed again here, as Dask does for lost tasks
            for attempt in range(LOST_RESULT_RETRIES):
                if error is not None or result is not None:
                    break
                retry = self.client.submit(fn, item, pure=False, key=f"{fut.key}-retry{attempt}")
                result, error = _settle(retry)
                retry.release()
            if error is None and result is None:
                error = ExecutorError(f"run {getattr(item, 'run_id', '?')}: its result was lost "
                                      f"with its worker {LOST_RESULT_RETRIES + 1} times")
            yield item, result, error
            fut.release()


def _settle(fut) -> tuple[Any, BaseException | None]:
    """A Dask future's (result, None), or (None, the exception) when the task failed or was cancelled.

    Reading ``result()`` whatever ``status`` says: a future that ``wait`` listed as done can be back
    to pending by the time it is read (its worker died holding the data), and ``exception()`` of a
    future that did not fail is None, which must not pass for "no error and no result".
    """
    from asyncio import CancelledError

    try:
        return fut.result(), None
    except (Exception, CancelledError) as exc:  # noqa: BLE001 - the executor reports, the engine decides
        return None, exc


def _check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """Fail in seconds, not after Dask's connect retries, when nothing listens at a tcp:// address."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    if parts.scheme != "tcp" or parts.hostname is None or parts.port is None:
        return  # tls://, ucx:// ...: let Dask connect (and time out) itself
    try:
        socket.create_connection((parts.hostname, parts.port), timeout=timeout_s).close()
    except OSError as exc:
        raise ExecutorError(f"--dask {address}: cannot reach the scheduler ({exc})") from None


def make_executor(workers: int | None = None, dask: str | None = None, dask_local: int | None = None) -> Executor:
    """The executor the CLI flags ask for: ``--dask``, ``--dask-local``, else processes (1: in-process)."""
    if dask is not None and dask_local is not None:
        raise ExecutorError("--dask and --dask-local: give one or the other")
    if dask is not None:
        return DaskExecutor(address=dask)
    if dask_local is not None:
        return DaskExecutor(local_workers=dask_local)
    n = workers if workers is not None else (os.cpu_count() or 1)
    if n < 1:
        raise ExecutorError(f"--workers {n}: needs at least 1")
    return SequentialExecutor() if n == 1 else ProcessPoolExecutor(n)
