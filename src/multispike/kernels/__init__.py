"""Numba CPU kernels of the exact event-driven LIF layer (forward solve, backward errors)."""
from .backward import lif_backward
from .events import count_events, merge_events, window_factors
from .forward import lif_forward

__all__ = ["count_events", "lif_backward", "lif_forward", "merge_events", "window_factors"]
