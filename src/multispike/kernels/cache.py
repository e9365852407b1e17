"""Keeping numba's on-disk cache of the kernels in step with their sources.

numba keys a cached kernel on the source of the file that defines it, but the kernels inline
functions from the package's other files (``crossing``, ``events``, ``spike_log``): after a
change to one of those alone, the cache would still hand out the old machine code. So a
digest of every kernel source file is kept beside the cache, and the cache is cleared when the
sources no longer match it. A read-only install (numba then caches elsewhere, keyed by the
installed files, which change together on an upgrade) is left alone.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

__all__ = ["clear_stale_cache"]

_STAMP = "kernel-sources.sha256"


def clear_stale_cache(folder: Path) -> bool:
    """Remove the numba cache files in ``folder/__pycache__`` unless they were made from the
    kernel sources now in ``folder``; returns whether files were removed."""
    digest = hashlib.sha256()
    for source in sorted(folder.glob("*.py")):
        digest.update(source.name.encode() + b"\0" + source.read_bytes())
    cache, expected = folder / "__pycache__", digest.hexdigest()
    stamp = cache / _STAMP
    try:
        if stamp.read_text() == expected:
            return False
    except OSError:
        pass
    removed = False
    try:
        for stale in [*cache.glob("*.nbi"), *cache.glob("*.nbc")]:
            stale.unlink()
            removed = True
        cache.mkdir(exist_ok=True)
        stamp.write_text(expected)
    except OSError:
        pass  # not writable: numba keeps its cache elsewhere
    return removed
