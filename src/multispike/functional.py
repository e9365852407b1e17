"""The exact event-driven LIF layer as a pure function with an exact backward pass.

Current-based leaky integrate-and-fire neurons with membrane time constant tau (``tau_mem``,
2 tau_s unless given, any other value except tau_s):

    du/dt = -u/tau + g,    dg/dt = -g/tau_s + sum_j w_nj sum_{t_j} delta(t - t_j)

A neuron spikes when u reaches ``threshold`` from below, and u then drops by ``reset``.
Spike times are found between input events in closed form at tau = 2 tau_s, to float
precision by a bracketed solver at other ratios (see ``kernels/forward.py``), and
the gradients with respect to weights and input spike times are exact (``kernels/backward.py``).

Data layout: spike trains are float tensors (batch, neurons, slots), +inf in empty slots.
``max_spikes=1`` is the time-to-first-spike (TTFS) regime, larger values the multi-spike one.

This module is the front door of the functional layer; each part has its own home: the fully
connected layer in ``dense.py``, the convolutional layer and spike pooling in
``convolution.py``, the layer's constants in ``parameters.py`` and the argument checks in
``checks.py`` (importable from here as well).
"""
from __future__ import annotations

from .checks import (all_finite, check_layer_size, check_spike_times, int_at_least,  # noqa: F401
                     positive_int, positive_number)
from .convolution import conv_lif, conv_lif_layer, conv_lif_with_saturation, spike_pool2d
from .dense import infer_lif, lif, lif_layer, lif_with_saturation, transposed_weight
from .parameters import LIFParameters

__all__ = ["LIFParameters", "lif", "lif_layer", "lif_with_saturation", "infer_lif",
           "check_spike_times", "conv_lif", "conv_lif_layer", "conv_lif_with_saturation",
           "spike_pool2d"]
