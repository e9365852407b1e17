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
    """Constants of one LIF layer, checked and normalised when the record is made.

    ``tau_s``: synaptic time constant (> 0); ``tau_mem``: membrane time constant (> 0 and not
    equal to tau_s; None means 2 tau_s, the closed form);
    ``threshold``: firing threshold (> 0); ``reset``: what a spike subtracts from u (> 0;
    None means ``threshold``); ``max_spikes``: spike slots per neuron (int >= 1, 1 = TTFS);
    ``t_max``: end of the simulation (> 0, may be inf). Numbers are stored as float (int for
    ``max_spikes``); a bad value raises TypeError (not a number) or ValueError (out of range).
    """

    tau_s: float
    threshold: float
    reset: float | None = None
    max_spikes: int = 1
    t_max: float = math.inf
    tau_mem: float | None = None

    def __post_init__(self):
        tau_s = positive_number("tau_s", self.tau_s)
        threshold = positive_number("threshold", self.threshold)
        checked = dict(
            tau_s=tau_s,
            threshold=threshold,
            reset=threshold if self.reset is None else positive_number("reset", self.reset),
            max_spikes=_slot_count(self.max_spikes),
            t_max=_end_time(self.t_max),
            tau_mem=2.0 * tau_s if self.tau_mem is None else _membrane_time_constant(self.tau_mem, tau_s))
        for name, value in checked.items():
            object.__setattr__(self, name, value)

    @property
    def tau(self) -> float:
        """Membrane time constant (``tau_mem``)."""
        return self.tau_mem

    @classmethod
    def create(cls, tau_s, threshold, reset=None, max_spikes=1, t_max=math.inf,
               tau_mem=None) -> "LIFParameters":
        """``LIFParameters(...)`` under the name the layers and their callers use."""
        return cls(tau_s, threshold, reset, max_spikes, t_max, tau_mem)

    def constants(self, dtype: torch.dtype) -> LayerConstants:
        """The kernels' record of this layer's constants, typed like spike times of ``dtype``."""
        return layer_constants(self.tau_s, self.threshold, self.reset, self.t_max,
                               np.float32 if dtype == torch.float32 else np.float64,
                               tau_mem=self.tau_mem)


def _slot_count(max_spikes) -> int:
    if isinstance(max_spikes, bool) or not isinstance(max_spikes, (int, np.integer)):
        raise TypeError(f"max_spikes must be an int >= 1, got {max_spikes!r}")
    if max_spikes < 1:
        raise ValueError(f"max_spikes must be >= 1 (1 = TTFS), got {max_spikes}")
    return int(max_spikes)


def _end_time(t_max) -> float:
    if isinstance(t_max, bool) or not isinstance(t_max, (int, float, np.floating, np.integer)):
        raise TypeError(f"t_max must be a number, got {type(t_max).__name__}")
    t_max = float(t_max)
    if math.isnan(t_max) or t_max <= 0:
        raise ValueError(f"t_max must be > 0 (may be inf), got {t_max}")
    return t_max


def _membrane_time_constant(tau_mem, tau_s: float) -> float:
    tau_mem = positive_number("tau_mem", tau_mem)
    if tau_mem == tau_s:
        raise ValueError(f"tau_mem = tau_s = {tau_s} (the t exp(-t/tau) kernel) is not "
                         f"supported yet; any other ratio of the time constants is")
    return tau_mem
