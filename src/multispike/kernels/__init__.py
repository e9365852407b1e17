"""Numba CPU kernels of the exact event-driven LIF layer (forward solve, backward errors)."""
from .backward import lif_backward
from .events import window_factors
from .forward import lif_forward

__all__ = ["lif_forward", "lif_backward", "window_factors"]
