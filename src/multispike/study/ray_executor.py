"""Running the study's tasks as Ray tasks, on a local Ray instance or an existing cluster.

Each task runs :func:`multispike.study.runner.compute_task` in a Ray worker that reserves
``threads`` CPUs and sets numba and torch to that many threads. The result travels back to
the driver, which writes the result file (see :func:`multispike.study.runner.run_tasks`), so
the workers need no shared file system: only ``multispike`` importable, in the same version.
Ray is an optional dependency (``pip install "multispike[distributed]"``).
"""
from __future__ import annotations

from ..extras import require

__all__ = ["RayExecutor", "require_ray", "connect", "with_threads"]


def require_ray():
    """The ``ray`` module, or a :class:`multispike.extras.MissingExtra` that says what to install."""
    return require("ray", "distributed", "the Ray executor")


def connect(address: str | None = None, workers: int | None = None) -> bool:
    """Initialise Ray in this process unless it is already: a local instance with ``workers``
    CPUs (default: all cores) when ``address`` is None, else the cluster at ``address``
    ("auto" or "HOST:PORT"). Returns True when this call started Ray (the caller then shuts
    it down)."""
    ray = require_ray()
    if ray.is_initialized():
        return False
    options = {"include_dashboard": False, "log_to_driver": False}
    if address is None:
        options["num_cpus"] = workers
    ray.init(address=address, **options)
    return True


def with_threads(fn, item, threads: int):
    """Run ``fn(item)`` with ``threads`` numba and torch threads (in a Ray worker)."""
    import numba
    import torch

    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    torch.set_num_threads(threads)
    return fn(item)


class RayExecutor:
    """Map functions over items as Ray tasks.

    ``address``: None starts a local Ray instance with ``workers`` CPUs (default: all cores)
    and shuts it down in :meth:`close`; "auto" or "HOST:PORT" joins a running cluster (then
    ``workers`` is ignored: the cluster's CPUs decide). If Ray is already initialised in this
    process, that instance is used and left running. ``threads``: CPUs and kernel threads per
    task (default 1).
    """

    def __init__(self, address: str | None = None, workers: int | None = None, threads: int = 1):
        ray = require_ray()
        if workers is not None and workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        self.threads = int(threads)
        self._owns_instance = connect(address, workers)
        cpus = int(ray.cluster_resources().get("CPU", 1))
        self.workers = max(cpus // self.threads, 1)
        self._remote = ray.remote(num_cpus=self.threads)(with_threads)

    def as_completed(self, fn, items):
        """Yield ``(item, fn(item))`` in the order the tasks finish."""
        import ray

        items = list(items)
        refs = {self._remote.remote(fn, item, self.threads): i for i, item in enumerate(items)}
        pending = list(refs)
        try:
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                yield items[refs[done[0]]], ray.get(done[0])
        finally:  # interrupted: stop the tasks nobody will collect
            for ref in pending:
                ray.cancel(ref, force=True)

    def map(self, fn, items):
        import ray

        return ray.get([self._remote.remote(fn, item, self.threads) for item in items])

    def close(self) -> None:
        import ray

        if self._owns_instance and ray.is_initialized():
            ray.shutdown()
        self._owns_instance = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
