"""Whether numba is compiling a kernel now, rather than loading it from its on-disk cache.

Every kernel is compiled with ``cache=True``: the first use after installing or updating
multispike compiles it for this machine and writes the machine code next to the source;
later processes load it. A dispatcher counts a *cache miss* for a signature just before it
compiles it, so a look at those counters tells, while a step runs, whether it is compiling.
"""
from __future__ import annotations

import importlib
import pkgutil
import threading
from contextlib import contextmanager

__all__ = ["cache_misses", "report_compilation"]


def _dispatchers():
    from numba.core.dispatcher import Dispatcher

    from .. import kernels

    for info in pkgutil.iter_modules(kernels.__path__):
        module = importlib.import_module(f"{kernels.__name__}.{info.name}")
        for value in vars(module).values():
            if isinstance(value, Dispatcher) and value.py_func.__module__ == module.__name__:
                yield value


def cache_misses() -> int:
    """How many kernel signatures this process has compiled instead of loading them."""
    return sum(sum(d.stats.cache_misses.values()) for d in _dispatchers())


@contextmanager
def report_compilation(log, poll_s: float = 0.2):
    """Call ``log`` once, as soon as a kernel starts compiling inside the block, with a line
    saying so; and once at the end with the time the block took when it did compile."""
    import time

    before, start = cache_misses(), time.perf_counter()
    done, said = threading.Event(), []

    def watch():
        while not done.wait(poll_s):
            if cache_misses() > before:
                said.append(True)
                log("compiling the spike-time kernels for this machine (once after installing "
                    "or updating multispike; later runs load them from the cache) ...")
                return

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        watcher.join()
    if not said and cache_misses() > before:  # compiled faster than the first look
        said.append(True)
        log("compiled the spike-time kernels for this machine (once after installing or "
            "updating multispike)")
    if said:
        log(f"kernels ready after {time.perf_counter() - start:.0f} s")
