"""The constants of one LIF layer as the kernels read them: one record of typed scalars."""
import math
from collections import namedtuple

import numpy as np

__all__ = ["LayerConstants", "layer_constants"]

LayerConstants = namedtuple("LayerConstants", [
    "tau_s",            # synaptic time constant
    "tau",              # membrane time constant tau_mem (2 tau_s unless the layer says)
    "t_max",            # end of the simulation
    "c",                # threshold / tau: the 2:1 threshold equation is c z^2 - B z + A = 0
    "inv_2c",           # 1 / 2c
    "four_c",           # 4c
    "reset_over_tau",   # reset / kappa: what a spike removes from B (kappa = tau at 2:1)
    "z_tolerance",      # slightly below 1: a crossing a rounding error before the window counts
    "grad_floor",       # the root x is floored at grad_floor * B in the derivatives
    "inv_tau_s",        # 1 / tau_s
    "inv_tau",          # 1 / tau
    "reset_over_tau2",  # reset / (kappa tau): the reset coupling of the backward pass
    "closed_form",      # 1 where tau = 2 tau_s (the quadratic above), 0 for any other ratio
    "ratio",            # tau / tau_s
    "kappa",            # tau tau_s / (tau - tau_s): u = kappa (B exp(-s/tau) - A exp(-s/tau_s))
    "threshold",        # the firing threshold
])


def layer_constants(tau_s: float, threshold: float, reset: float, t_max: float,
                    dtype, tau_mem: float | None = None,
                    closed_form: bool | None = None) -> LayerConstants:
    """The record for a layer whose spike times have the numpy float ``dtype`` (float32
    kernels stay in float32 because every scalar has the dtype of the data).

    ``tau_mem`` None is 2 tau_s. The quadratic closed form is used exactly when tau_mem
    = 2 tau_s, unless ``closed_form`` says otherwise (False: the general solver at 2:1 too,
    to compare the two). tau_mem = tau_s has no kappa (the potential is then t exp(-t/tau)) and
    is refused here."""
    s = np.dtype(dtype).type
    tau = 2.0 * tau_s if tau_mem is None else float(tau_mem)
    if tau == tau_s:
        raise ValueError(f"tau_mem = tau_s = {tau_s} is not supported yet; any other ratio is")
    if closed_form is None:
        closed_form = tau == 2.0 * tau_s
    elif closed_form and tau != 2.0 * tau_s:
        raise ValueError(f"the closed form needs tau_mem = 2 tau_s, got tau_mem {tau}, tau_s {tau_s}")
    # at 2:1 kappa is tau exactly, and the reset terms are written as the closed form's
    kappa = tau if tau == 2.0 * tau_s else tau * tau_s / (tau - tau_s)
    reset_coupling = reset / tau**2 if tau == 2.0 * tau_s else reset / (kappa * tau)
    c = threshold / tau
    eps = float(np.finfo(dtype).eps)
    return LayerConstants(
        tau_s=s(tau_s), tau=s(tau), t_max=s(t_max), c=s(c), inv_2c=s(0.5 / c),
        four_c=s(4.0 * c), reset_over_tau=s(reset / kappa), z_tolerance=s(1.0 - 8.0 * eps),
        grad_floor=s(10.0 * math.sqrt(eps)), inv_tau_s=s(1.0 / tau_s), inv_tau=s(1.0 / tau),
        reset_over_tau2=s(reset_coupling), closed_form=s(1.0 if closed_form else 0.0),
        ratio=s(tau / tau_s), kappa=s(kappa), threshold=s(threshold))
