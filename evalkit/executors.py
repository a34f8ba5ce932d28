"""Where the work units of ``evalkit compress`` and ``evalkit metrics`` run.

Two executors share one method, ``run(fn, units)``, which yields ``(index, outcome)`` as units
finish, in any order:

* :class:`LocalExecutor` — this machine: in this process (one worker) or in a pool of spawned
  processes (``concurrent.futures.ProcessPoolExecutor``), as evalkit always ran;
* :class:`DaskExecutor` — a Dask distributed cluster, through ``distributed.Client`` (Dask's
  own futures API, https://distributed.dask.org/en/stable/client.html): a scheduler started with
  ``dask scheduler`` and ``dask worker`` by hand, a ``dask_jobqueue.SLURMCluster``, a
  Kubernetes one. Units go out in batches of ``batch`` units per Dask task, so the scheduler's
  cost per task (about a millisecond) is shared. When a worker dies, the scheduler gives its
  tasks to the other workers (``distributed.scheduler.allowed-failures``, 3 by default), so a
  killed worker loses nothing.

An outcome is what ``fn`` returned, or a :class:`Failure` that says what failed and where (this
process, or which worker), so that a unit which cannot run — a codec or network weights missing
on one worker — is reported and the other units go on. ``fn`` and the units must pickle; a
worker needs the package and the files the units name (the run folder, on a shared filesystem),
nothing else.
"""

from __future__ import annotations

import os
import socket
import traceback
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from multiprocessing import get_context

from .errors import InputError

#: The environment variable that names the Dask scheduler when ``--scheduler`` is not given.
SCHEDULER_ENV = "EVALKIT_DASK_SCHEDULER"
#: Units per Dask task when not told otherwise (see ``bench/scale.py`` for the overhead it gives).
DEFAULT_BATCH = 4


@dataclass(frozen=True)
class Failure:
    """A unit that raised: where it ran, the error in one line, and its traceback."""

    where: str
    error: str
    input_error: bool  # the cause is an InputError: the input or the worker's setup, not a bug
    traceback: str = ""

    def __str__(self) -> str:
        return f"{self.error} (on {self.where})"


def _here() -> str:
    try:
        from distributed import get_worker

        return f"Dask worker {get_worker().address}"
    except (ImportError, ValueError):  # ValueError: not inside a Dask worker
        return f"process {os.getpid()} on {socket.gethostname()}"


def guarded(fn: Callable, unit):
    """``fn(unit)``, or a :class:`Failure` describing what it raised and where."""
    try:
        return fn(unit)
    except Exception as exc:
        return Failure(
            _here(), f"{type(exc).__name__}: {exc}", isinstance(exc, InputError), traceback.format_exc()
        )


def _guarded_batch(fn: Callable, units: list) -> list:
    return [guarded(fn, unit) for unit in units]


class LocalExecutor:
    """This machine: ``workers`` spawned processes (default: every core), or this process when
    there is one worker (or one unit)."""

    def __init__(self, workers: int | None = None):
        if workers is not None and workers < 1:
            raise InputError(f"workers must be at least 1, got {workers}")
        self.workers = workers or len(os.sched_getaffinity(0))

    def run(self, fn: Callable, units: Sequence) -> Iterator[tuple[int, object]]:
        workers = max(1, min(self.workers, len(units)))
        if workers == 1:
            for i, unit in enumerate(units):
                yield i, guarded(fn, unit)
            return
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            futures = {pool.submit(guarded, fn, unit): i for i, unit in enumerate(units)}
            try:
                for future in as_completed(futures):
                    yield futures[future], future.result()
            except BaseException:
                pool.shutdown(wait=False, cancel_futures=True)
                raise

    def close(self) -> None:
        pass


class DaskExecutor:
    """A Dask distributed cluster at ``address`` (``tcp://HOST:8786``), or an existing
    ``distributed.Client``. An unreachable scheduler is an :class:`InputError`."""

    def __init__(
        self, address: str | None = None, batch: int = DEFAULT_BATCH, client=None, timeout: float = 10.0
    ):
        if batch < 1:
            raise InputError(f"the batch must be at least 1 unit, got {batch}")
        self.batch = batch
        self._own = client is None
        if client is None:
            from distributed import Client

            try:
                client = Client(address, timeout=timeout, set_as_default=False)
            except (OSError, TimeoutError, ValueError) as exc:
                raise InputError(
                    f"cannot reach the Dask scheduler at {address!r} ({exc}); start one "
                    "with `dask scheduler` (and workers with `dask worker ADDRESS`), or "
                    f"check --scheduler / ${SCHEDULER_ENV}"
                ) from None
        self.client = client

    def run(self, fn: Callable, units: Sequence) -> Iterator[tuple[int, object]]:
        run_id = uuid.uuid4().hex[:8]
        name = getattr(fn, "__name__", "unit")
        futures = {}
        for n, start in enumerate(range(0, len(units), self.batch)):
            indices = list(range(start, min(start + self.batch, len(units))))
            future = self.client.submit(
                _guarded_batch,
                fn,
                [units[i] for i in indices],
                key=f"evalkit-{name}-{run_id}-{n}",
                pure=False,
            )
            futures[future] = indices
        from distributed import as_completed as dask_completed

        try:
            for future in dask_completed(list(futures)):
                indices = futures[future]
                try:
                    outcomes = future.result()
                except Exception as exc:  # e.g. KilledWorker: the task took down workers repeatedly
                    failure = Failure("the Dask cluster", f"{type(exc).__name__}: {exc}", False)
                    outcomes = [failure] * len(indices)
                yield from zip(indices, outcomes)
                future.release()
        finally:
            self.client.cancel([f for f in futures if not f.done()])

    def close(self) -> None:
        if self._own:
            self.client.close()


def executor_for(
    scheduler: str | None = None, workers: int | None = None, batch: int | None = None
) -> LocalExecutor | DaskExecutor:
    """The executor a command asked for: Dask when ``scheduler`` or ``$EVALKIT_DASK_SCHEDULER``
    names one, else :class:`LocalExecutor` with ``workers`` processes (``local`` is this machine
    too). ``workers`` concerns the local executor only; a cluster has its own."""
    scheduler = scheduler or os.environ.get(SCHEDULER_ENV) or "local"
    if scheduler == "local":
        return LocalExecutor(workers)
    return DaskExecutor(scheduler, batch or DEFAULT_BATCH)
