"""Numba CPU kernels of the exact event-driven LIF layer (forward solve, backward errors)."""
from pathlib import Path

from .backward import lif_backward, scatter_event_grads, sum_partials, sum_transpose
from .cache import clear_stale_cache
from .checks import count_non_finite
from .constants import LayerConstants, layer_constants
from .events import EventRows, count_events, merge_events
from .forward import lif_forward, lif_infer
from .spike_log import check_log_capacity, record_width

__all__ = ["EventRows", "LayerConstants", "check_log_capacity", "count_events",
           "count_non_finite", "layer_constants", "lif_backward", "lif_forward", "lif_infer",
           "merge_events", "record_width", "scatter_event_grads", "sum_partials", "sum_transpose"]

# numba reads its cache when a kernel is first called, so this runs before any can load
clear_stale_cache(Path(__file__).parent)
