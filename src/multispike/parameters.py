"""The constants of one LIF layer as one validated record, handed from the layer modules to
the functional layer and, as typed scalars, to the kernels."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from .checks import positive_number
from .kernels import LayerConstants, layer_constants

__all__ = ["LIFParameters"]


@dataclass(frozen=True)
class LIFParameters:
    """Constants of one LIF layer (validated by :meth:`create`)."""

    tau_s: float
    threshold: float
    reset: float
    max_spikes: int
    t_max: float

    @property
    def tau(self) -> float:
        """Membrane time constant, fixed to twice the synaptic one."""
        return 2.0 * self.tau_s

    @classmethod
    def create(cls, tau_s, threshold, reset=None, max_spikes=1, t_max=math.inf) -> "LIFParameters":
        tau_s = positive_number("tau_s", tau_s)
        threshold = positive_number("threshold", threshold)
        reset = threshold if reset is None else positive_number("reset", reset)
        if isinstance(max_spikes, bool) or not isinstance(max_spikes, (int, np.integer)):
            raise TypeError(f"max_spikes must be an int >= 1, got {max_spikes!r}")
        if max_spikes < 1:
            raise ValueError(f"max_spikes must be >= 1 (1 = TTFS), got {max_spikes}")
        if isinstance(t_max, bool) or not isinstance(t_max, (int, float, np.floating, np.integer)):
            raise TypeError(f"t_max must be a number, got {type(t_max).__name__}")
        t_max = float(t_max)
        if math.isnan(t_max) or t_max <= 0:
            raise ValueError(f"t_max must be > 0 (may be inf), got {t_max}")
        return cls(tau_s, threshold, reset, int(max_spikes), t_max)

    def constants(self, dtype: torch.dtype) -> LayerConstants:
        """The kernels' record of this layer's constants, typed like spike times of ``dtype``."""
        return layer_constants(self.tau_s, self.threshold, self.reset, self.t_max,
                               np.float32 if dtype == torch.float32 else np.float64)
