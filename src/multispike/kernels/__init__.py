"""Numba CPU kernels of the exact event-driven LIF layer (forward solve, backward errors)."""
from .backward import lif_backward, scatter_event_grads, sum_partials, sum_transpose
from .events import count_events, merge_events
from .forward import lif_forward, lif_infer, lif_infer_events
from .checks import count_non_finite

__all__ = ["count_events", "count_non_finite", "lif_backward", "lif_forward", "lif_infer", "lif_infer_events",
           "merge_events",
           "scatter_event_grads", "sum_partials", "sum_transpose"]
