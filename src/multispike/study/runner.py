"""Running the study's independent tasks: serially, on the local cores, or elsewhere.

A *task* is a JSON-serialisable dictionary

    {"key": "...", "fn": "package.module:function", "kwargs": {...}, "result": "/abs/path.json"}

naming a top-level function, its keyword arguments and the file its (JSON-serialisable)
return value goes to. :func:`execute_task` runs one task in whatever process receives it and
writes the result file atomically, so results land on disk one by one as tasks finish, and a
crashed or interrupted sweep resumes by skipping the tasks whose result file exists.

An *executor* is anything with ``map(fn, items) -> iterable of results`` (the interface of
``concurrent.futures.Executor.map``). :class:`SerialExecutor` runs in the calling process
(tests, debugging); :class:`LocalExecutor` uses a process pool on the local cores with one
kernel thread per worker. A distributed engine (Dask, Ray, a batch queue) plugs in with a
small adapter exposing the same ``map``; the tasks themselves need no change as long as the
workers see the same file system and can import ``multispike``. An executor that also has
``as_completed(fn, items) -> (item, result) pairs`` (such as
:class:`multispike.study.ray_executor.RayExecutor`) gets :func:`compute_task` instead, and the
calling process writes each result file as it arrives: no shared file system is needed.
For Dask, for example::

    class DaskExecutor:
        def __init__(self, client):
            self.client = client

        def map(self, fn, items):
            return self.client.gather(self.client.map(fn, list(items), pure=False))

    run_study(StudyContext(out="study", executor=DaskExecutor(client)))
"""
from __future__ import annotations

import hashlib
import importlib
import json
import os
import time
from pathlib import Path
from typing import Callable, Iterable, Protocol, Sequence

from ..files import read_json, to_jsonable, write_json

__all__ = ["Executor", "SerialExecutor", "LocalExecutor", "make_task", "compute_task", "execute_task",
           "run_tasks", "task_key"]


class Executor(Protocol):
    """Anything that maps a function over items, like ``concurrent.futures.Executor``."""

    def map(self, fn: Callable, items: Iterable) -> Iterable: ...


class SerialExecutor:
    """Runs every task in the calling process, one after the other.

    ``threads``: kernel threads (numba and torch) while tasks run, restored afterwards;
    None keeps the process's setting. Tiny tasks run far faster with 1 thread.
    """

    workers = 1

    def __init__(self, threads: int | None = None):
        self.threads = threads

    def map(self, fn, items):
        if self.threads is None:
            return [fn(item) for item in items]
        import numba
        import torch
        saved = numba.get_num_threads(), torch.get_num_threads()
        numba.set_num_threads(self.threads)
        torch.set_num_threads(self.threads)
        try:
            return [fn(item) for item in items]
        finally:
            numba.set_num_threads(saved[0])
            torch.set_num_threads(saved[1])

    def close(self) -> None:
        pass


def _init_worker() -> None:
    """Each worker uses one kernel thread: parallelism comes from the processes."""
    os.environ["OMP_NUM_THREADS"] = "1"
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        import numba
        numba.set_num_threads(1)
    except Exception:  # pragma: no cover - numba is a dependency, but stay robust
        pass
    import torch
    torch.set_num_threads(1)


class LocalExecutor:
    """A pool of ``workers`` processes (default: the number of cores) on this machine.

    Workers start with the ``spawn`` method (no inherited OpenMP state) and set numba and
    torch to one thread each. The pool is created on first use and reused until
    :meth:`close`; use it as a context manager.
    """

    def __init__(self, workers: int | None = None):
        workers = (os.cpu_count() or 1) if workers is None else int(workers)
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.workers = workers
        self._pool = None

    def _get_pool(self):
        if self._pool is None:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor
            self._pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=_init_worker)
        return self._pool

    def map(self, fn, items):
        items = list(items)
        if not items:
            return []
        pool = self._get_pool()
        futures = [pool.submit(fn, item) for item in items]
        return [f.result() for f in futures]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def task_key(*parts, **kwargs) -> str:
    """A short stable hash of JSON-serialisable values (for result file names)."""
    text = json.dumps([to_jsonable(parts, False), to_jsonable(kwargs, False)], sort_keys=True)
    return hashlib.sha1(text.encode()).hexdigest()[:10]


def make_task(fn: Callable | str, kwargs: dict, result, key: str | None = None) -> dict:
    """A task dictionary for the top-level function ``fn`` (or its "module:name")."""
    if callable(fn):
        if "<locals>" in fn.__qualname__ or fn.__name__ == "<lambda>":
            raise ValueError("tasks need a top-level function (workers import it by name)")
        fn = f"{fn.__module__}:{fn.__qualname__}"
    kwargs = to_jsonable(kwargs, strict=False)
    json.loads(json.dumps(kwargs))  # fail here, not in a worker
    return {"key": key or Path(str(result)).stem, "fn": fn, "kwargs": kwargs,
            "result": str(Path(result).absolute())}


def _resolve(name: str) -> Callable:
    module, _, attr = name.partition(":")
    obj = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def compute_task(task: dict):
    """Run one task and return its result as plain JSON values (no file written)."""
    t0 = time.perf_counter()
    result = _resolve(task["fn"])(**task["kwargs"])
    if isinstance(result, dict):
        result = {**result, "_seconds": time.perf_counter() - t0}
    return to_jsonable(result)


def execute_task(task: dict):
    """Run one task and write its result file; returns the result. Safe in any process."""
    result = compute_task(task)
    write_json(task["result"], result)
    return result


def run_tasks(tasks: Sequence[dict], executor: Executor | None = None, log=None) -> dict:
    """Run the tasks whose result file does not exist yet; return {key: result} for all.

    Tasks with the same result file are run once.
    """
    executor = executor or SerialExecutor()
    unique = {}
    for task in tasks:
        unique.setdefault(task["result"], task)
    pending = [t for t in unique.values() if not Path(t["result"]).is_file()]
    if log and unique:
        log(f"  {len(unique)} tasks, {len(unique) - len(pending)} already done, "
            f"running {len(pending)} on {getattr(executor, 'workers', '?')} worker(s)")
    as_completed = getattr(executor, "as_completed", None)
    if pending and as_completed is None:  # the workers write the result files
        list(executor.map(execute_task, pending))
    elif pending:  # results come back here and are written as each task finishes
        for task, result in as_completed(compute_task, pending):
            write_json(task["result"], result)
    return {t["key"]: read_json(t["result"]) for t in tasks}
