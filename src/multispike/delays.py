"""Learnable transmission delays: in an event-driven layer a delay only shifts spike times.

An axonal delay d_j moves every spike of input neuron j to t_j + d_j, for all the neurons it
reaches; a dendritic delay d_n moves every output spike of neuron n to t + d_n. Both are one
addition around the functional layer, so autograd gives their exact gradients from the
layer's exact gradient with respect to spike times:

    dL/dd_j = sum over j's spikes of dL/d(arrival time)   (summed over its targets),
    dL/dd_n = sum over n's output spikes of dL/dt.

Empty slots (+inf) stay +inf and give their delay no gradient, whatever gradient the loss
hands to them. Delays are kept in [0, max_delay] by projection (:func:`project_delays`):
the gradient is the plain one above, and a step that leaves the range is pulled back to its
bound, which is projected gradient descent.
"""
from __future__ import annotations

import math

import torch

__all__ = ["DELAY_KINDS", "check_delay_kind", "check_delay_settings", "initial_delays",
           "project_delays", "shift_spikes"]

#: The kinds of delay a layer can learn.
DELAY_KINDS = ("axonal", "dendritic")


def check_delay_kind(delays) -> str | None:
    """``delays`` checked: None, "axonal" or "dendritic"; "synaptic" and anything else are
    refused with a ValueError (synaptic: NotImplementedError) that names the argument."""
    if delays is None or delays in DELAY_KINDS:
        return delays
    if delays == "synaptic":
        raise NotImplementedError("delays='synaptic' (one delay per weight) is not available "
                                  "yet; use delays='axonal' or delays='dendritic'")
    raise ValueError(f"delays must be None, 'axonal' or 'dendritic', got {delays!r}")


def check_delay_settings(delay_init, max_delay) -> tuple[tuple[str, float, float], float]:
    """(("uniform", low, high), max_delay) from ``delay_init`` (a number d, the same as
    ("uniform", d, d), or ("uniform", low, high)) and ``max_delay`` (None: no maximum);
    ValueError unless 0 <= low <= high <= max_delay, all finite but max_delay."""
    if max_delay is None:
        max_delay = math.inf
    elif isinstance(max_delay, bool) or not isinstance(max_delay, (int, float)) \
            or math.isnan(max_delay) or max_delay <= 0:
        raise ValueError(f"max_delay must be a number > 0 or None, got {max_delay!r}")
    if isinstance(delay_init, (int, float)) and not isinstance(delay_init, bool):
        delay_init = ("uniform", delay_init, delay_init)
    if not (isinstance(delay_init, (tuple, list)) and len(delay_init) == 3
            and delay_init[0] == "uniform"
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in delay_init[1:])):
        raise ValueError(f"delay_init must be a number or ('uniform', low, high), got {delay_init!r}")
    _, low, high = delay_init
    if not (math.isfinite(low) and math.isfinite(high) and 0 <= low <= high <= max_delay):
        raise ValueError(f"delay_init needs finite 0 <= low <= high <= max_delay = {max_delay}, "
                         f"got {tuple(delay_init)!r}")
    return ("uniform", float(low), float(high)), float(max_delay)


def initial_delays(n: int, delay_init: tuple[str, float, float], dtype) -> torch.Tensor:
    """``n`` delays drawn from ("uniform", low, high) (all equal to low when low == high)."""
    _, low, high = delay_init
    values = torch.full((n,), low, dtype=dtype)
    if high > low:
        values.uniform_(low, high)
    return values


def project_delays(delay: torch.Tensor, max_delay: float) -> None:
    """Clamp ``delay`` in place into [0, max_delay] (outside autograd, like an optimizer)."""
    with torch.no_grad():
        delay.clamp_(0.0, max_delay)


def shift_spikes(times: torch.Tensor, delay: torch.Tensor) -> torch.Tensor:
    """Spike trains (batch, neurons, ..., slots) with every spike of neuron i moved later by
    ``delay[i]`` (``delay`` of shape (neurons,)); +inf slots stay +inf and pass no gradient
    to ``delay``. Differentiable in ``times`` (identity) and in ``delay`` (the sum of the
    gradients of neuron i's finite slots)."""
    if delay.dim() != 1 or times.dim() < 3 or times.shape[1] != delay.shape[0]:
        raise ValueError(f"delay of shape {tuple(delay.shape)} does not match the neurons "
                         f"(axis 1) of spike times of shape {tuple(times.shape)}")
    per_slot = delay.to(times.dtype).reshape(delay.shape[0], *([1] * (times.dim() - 2)))
    return times + torch.where(torch.isfinite(times), per_slot, torch.zeros((), dtype=times.dtype))
