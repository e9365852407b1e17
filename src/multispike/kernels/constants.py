"""The constants of one LIF layer as the kernels read them: one record of typed scalars."""
import math
from collections import namedtuple

import numpy as np

__all__ = ["LayerConstants", "layer_constants"]

LayerConstants = namedtuple("LayerConstants", [
    "tau_s",            # synaptic time constant
    "tau",              # membrane time constant, 2 tau_s
    "t_max",            # end of the simulation
    "c",                # threshold / tau: the threshold equation is c z^2 - B z + A = 0
    "inv_2c",           # 1 / 2c
    "four_c",           # 4c
    "reset_over_tau",   # reset / tau: what a spike removes from B
    "z_tolerance",      # slightly below 1: a crossing a rounding error before the window counts
    "grad_floor",       # the root x is floored at grad_floor * B in the derivatives
    "inv_tau_s",        # 1 / tau_s
    "inv_tau",          # 1 / tau
    "reset_over_tau2",  # reset / tau^2: the reset coupling of the backward pass
])


def layer_constants(tau_s: float, threshold: float, reset: float, t_max: float,
                    dtype) -> LayerConstants:
    """The record for a layer whose spike times have the numpy float ``dtype`` (float32
    kernels stay in float32 because every scalar has the dtype of the data)."""
    s = np.dtype(dtype).type
    tau = 2.0 * tau_s
    c = threshold / tau
    eps = float(np.finfo(dtype).eps)
    return LayerConstants(
        tau_s=s(tau_s), tau=s(tau), t_max=s(t_max), c=s(c), inv_2c=s(0.5 / c),
        four_c=s(4.0 * c), reset_over_tau=s(reset / tau), z_tolerance=s(1.0 - 8.0 * eps),
        grad_floor=s(10.0 * math.sqrt(eps)), inv_tau_s=s(1.0 / tau_s), inv_tau=s(1.0 / tau),
        reset_over_tau2=s(reset / tau**2))
