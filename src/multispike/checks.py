"""Argument checks shared by the layers, the network and the tools: numbers, spike-train
tensors and weights, each refused with a TypeError or ValueError that names the argument."""
from __future__ import annotations

import math

import numpy as np
import torch

from .kernels import check_log_capacity, count_non_finite

__all__ = ["int_at_least", "positive_int", "positive_number", "check_spike_times",
           "check_layer_size", "all_finite"]


def int_at_least(name, value, minimum: int) -> int:
    """``value`` as an int if it is an integer (Python or numpy, not bool) >= ``minimum``,
    else a ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def positive_int(name, value) -> int:
    """``value`` if it is an int >= 1, else a ValueError naming ``name``."""
    return int_at_least(name, value, 1)


def positive_number(name, value, unit: str | None = None) -> float:
    """``value`` as a float, or a TypeError (not a real number) / ValueError (not finite and
    > 0) naming ``name`` and, if given, the ``unit`` it is counted in."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        of_unit = f" of {unit}" if unit else ""
        raise TypeError(f"{name} must be a positive number{of_unit}, got {value!r}")
    value = float(value)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be finite and > 0, got {value}")
    return value


def check_spike_times(times, name="times", n_neurons=None, values=True) -> None:
    """Raise a clear TypeError/ValueError unless ``times`` is a valid spike-train tensor.

    Valid: a float32/float64 CPU tensor of shape (batch, neurons, slots) whose entries are
    finite non-negative spike times or +inf (empty slot). ``values=False`` checks only the
    type and shape (the layer checks the values while it merges the events).
    """
    if not isinstance(times, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(times).__name__}")
    if times.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"{name} must be float32 or float64 spike times, got dtype {times.dtype}")
    if times.device.type != "cpu":
        raise ValueError(f"{name} must be on the CPU (multispike kernels run on the CPU), got {times.device}")
    if times.dim() != 3:
        raise ValueError(f"{name} must have shape (batch, neurons, slots), got shape {tuple(times.shape)}")
    if n_neurons is not None and times.shape[1] != n_neurons:
        raise ValueError(f"{name} has {times.shape[1]} neurons on axis 1, expected in_features = {n_neurons}")
    if times.shape[2] < 1:
        raise ValueError(f"{name} needs at least one slot per neuron, got shape {tuple(times.shape)}")
    if values and not bool((times >= 0).all()):  # one pass; NaN fails the comparison too
        if torch.isnan(times).any():
            raise ValueError(f"{name} contains NaN; use +inf for empty spike slots")
        raise ValueError(f"{name} contains negative spike times (or -inf); spike times must be >= 0")


def check_layer_size(out_features: int, max_spikes: int) -> None:
    """Spike-log entries pack neuron and slot into an int32 (``kernels/spike_log.py``)."""
    check_log_capacity(out_features, max_spikes)


def all_finite(tensor: torch.Tensor) -> bool:
    """True when a CPU float tensor holds no NaN or inf (one numba pass over its memory, in
    whatever order it is laid out: a transposed weight or its gradient is not copied)."""
    values = tensor.detach()
    if not values.is_contiguous() and values.dim() == 2 and values.t().is_contiguous():
        values = values.t()
    return count_non_finite(values.contiguous().numpy()) == 0
