"""The exact event-driven LIF layer as a pure function with an exact backward pass.

Current-based leaky integrate-and-fire neurons with tau = 2 tau_s:

    du/dt = -u/tau + g,    dg/dt = -g/tau_s + sum_j w_nj sum_{t_j} delta(t - t_j)

A neuron spikes when u reaches ``threshold`` from below, and u then drops by ``reset``.
Spike times are found in closed form between input events (see ``kernels/forward.py``) and
the gradients with respect to weights and input spike times are exact (``kernels/backward.py``).

Data layout: spike trains are float tensors (batch, neurons, slots), +inf in empty slots.
``max_spikes=1`` is the time-to-first-spike (TTFS) regime, larger values the multi-spike one.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from .kernels import (EventBuffers, LayerConstants, check_log_capacity, count_non_finite,
                      infer_events, infer_times, layer_constants)
from .steps import (MergedEvents, SpikeLog, backpropagate_events, event_grads_to_slots,
                    merge_spike_events, neuron_blocks, simulate_events, sum_weight_gradient)

__all__ = ["LIFParameters", "lif", "lif_layer", "lif_with_saturation", "infer_lif",
           "check_spike_times", "conv_lif", "conv_lif_layer", "conv_lif_with_saturation",
           "spike_pool2d"]


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


def _check_weight(weight, in_features) -> None:
    if not isinstance(weight, torch.Tensor):
        raise TypeError(f"weight must be a torch.Tensor, got {type(weight).__name__}")
    if not weight.is_floating_point():
        raise TypeError(f"weight must be a floating-point tensor, got dtype {weight.dtype}")
    if weight.dim() != 2:
        raise ValueError(f"weight must have shape (out_features, in_features), got {tuple(weight.shape)}")
    if weight.shape[1] != in_features:
        raise ValueError(f"weight has in_features = {weight.shape[1]}, but times has {in_features} input neurons")


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


def transposed_weight(weight: torch.Tensor, dtype=None) -> torch.Tensor:
    """W^T (in, out) as a contiguous tensor of ``dtype`` (default: the weight's), the
    kernels' layout, as taken by :meth:`multispike.LIF.infer`; refuses NaN or inf weights.

    A weight stored in memory as its transpose (as :class:`multispike.LIF` keeps it) is
    returned as a view, without a copy; any other layout is copied."""
    weight = weight.detach() if dtype is None else weight.detach().to(dtype)
    weight_t = weight.t()
    if not weight_t.is_contiguous():
        weight_t = weight_t.contiguous()
    if not all_finite(weight_t):
        raise ValueError("weight contains NaN or inf")
    return weight_t


def _merge_events(times: torch.Tensor, k: LayerConstants) -> MergedEvents:
    """Each sample's input spikes in time order; raises ValueError (the message of
    :func:`check_spike_times`) on NaN or negative spike times."""
    return merge_spike_events(times, k, lambda: check_spike_times(times, "times"))


class _LIFFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, times, weight, params: LIFParameters):
        weight_t = transposed_weight(weight)
        k = params.constants(times.dtype)
        events = _merge_events(times.detach(), k)
        n_blocks = neuron_blocks(times.shape[0], weight_t.shape[1])
        out, saturated, log = simulate_events(
            events.times, events.source, events.count, events.decay_s, events.decay,
            events.z_end, weight_t, k, params.max_spikes, n_blocks)
        ctx.params = params
        ctx.in_shape = tuple(times.shape)
        ctx.weight_stored_transposed = weight.t().is_contiguous()
        ctx.save_for_backward(weight_t, events.slot, events.source, events.count,
                              events.decay_s, events.decay, *log)
        ctx.mark_non_differentiable(saturated)
        return out, saturated

    @staticmethod
    def backward(ctx, grad_out, _grad_saturated):
        weight_t, slot, source, count, decay_s, decay, *log = ctx.saved_tensors
        need_times, need_weight = ctx.needs_input_grad[:2]
        grad_events, partials = backpropagate_events(
            grad_out, SpikeLog(*log), source, count, decay_s, decay, weight_t,
            ctx.params.constants(weight_t.dtype), bool(need_times))
        grad_times = event_grads_to_slots(grad_events, slot, count, ctx.in_shape) if need_times else None
        grad_weight = sum_weight_gradient(partials, ctx.weight_stored_transposed) if need_weight else None
        return grad_times, grad_weight, None


def lif_with_saturation(times, weight, tau_s, threshold, reset=None, max_spikes=1,
                        t_max=math.inf):
    """Like :func:`lif`, and also return a (batch, out_features) bool tensor marking the
    neurons that wanted to fire more than ``max_spikes`` times (their later spikes are dropped).
    """
    params = LIFParameters.create(tau_s, threshold, reset, max_spikes, t_max)
    return lif_layer(times, weight, params)


def lif_layer(times, weight, params: LIFParameters):
    """:func:`lif_with_saturation` with the layer's constants as one validated
    :class:`LIFParameters` record (as :class:`multispike.LIF` keeps them)."""
    if not isinstance(params, LIFParameters):
        raise TypeError(f"params must be LIFParameters, got {type(params).__name__}")
    check_spike_times(times, "times", values=False)  # values: while merging the events
    _check_weight(weight, times.shape[1])
    check_layer_size(weight.shape[0], params.max_spikes)
    weight = weight.to(times.dtype)
    if torch.is_grad_enabled() and (times.requires_grad or weight.requires_grad):
        return _LIFFunction.apply(times, weight, params)
    return infer_lif(times, transposed_weight(weight), params)[:2]


@dataclass(frozen=True)
class _Events:
    """A batch of time-ordered input events handed from one layer's inference to the next:
    times and source neurons (batch, S), and counts (batch,)."""

    times: torch.Tensor
    source: torch.Tensor
    count: torch.Tensor


def infer_lif(times: torch.Tensor | None, weight_t: torch.Tensor, params: LIFParameters,
           events: _Events | None = None, emit_t_max: float | None = None,
           emit_into: _Events | None = None, keep_times: bool = True):
    """Inference (no autograd, no backward records) with a precomputed transposed weight, so
    that a network running many chunks of a batch transposes and checks each weight once.
    ``times`` must already be checked (type and shape) and have ``weight_t``'s dtype.
    One kernel call merges each sample's events and simulates it (``kernels.infer_times``).

    A network passes layer to layer, besides the spike times, the event lists of the layer
    before: ``emit_t_max`` (the next layer's t_max) asks for them, ``events`` hands them to
    the next layer, which then skips checking and merging its input (``times`` is then
    not read and may be None). Events are only emitted with one neuron block per sample,
    else None is returned for them (the next layer merges the spike times). With events
    emitted and ``keep_times=False`` (a network that does not return this hidden layer's
    output) the spike times tensor is not written at all and None is returned for it.
    ``emit_into``: event lists returned by an earlier call for the same layer, whose
    buffers are reused (a network's chunks would otherwise have the allocator map and
    fault in ~20 MB of fresh memory per MNIST chunk, more than the event lists save).
    Returns (spike times or None, saturated, events or None).
    """
    dtype = weight_t.dtype
    batch = times.shape[0] if events is None else events.count.shape[0]
    n_out, k = weight_t.shape[1], params.max_spikes
    n_blocks = neuron_blocks(batch, n_out)
    emit = emit_t_max is not None and n_blocks == 1
    write_times = keep_times or not emit
    out = torch.empty((batch, n_out, k), dtype=dtype) if write_times else None
    saturated = torch.empty((batch, n_out), dtype=torch.bool)
    emitted = None
    if emit and (emit_into is not None and emit_into.times.dtype == dtype
          and emit_into.times.shape[0] >= batch and emit_into.times.shape[1] == n_out * k):
        emitted = _Events(emit_into.times[:batch], emit_into.source[:batch],
                          emit_into.count[:batch])
    elif emit:
        emitted = _Events(torch.empty((batch, n_out * k), dtype=dtype),
                          torch.empty((batch, n_out * k), dtype=torch.int32),
                          torch.empty(batch, dtype=torch.int64))
    emit_buffers = None if emitted is None else EventBuffers(
        emitted.times.numpy(), emitted.source.numpy(), emitted.count.numpy(), emit_t_max)
    out_np = None if out is None else out.numpy()
    constants = params.constants(dtype)
    if events is None:
        invalid = np.zeros(batch, dtype=np.int64)
        infer_times(times.detach().contiguous().numpy(), weight_t.numpy(), constants, n_blocks,
                    invalid, out_np, saturated.numpy(), emit=emit_buffers)
        if invalid.any():
            check_spike_times(times, "times")  # raises with the precise message
    else:
        infer_events(EventBuffers(events.times.numpy(), events.source.numpy(),
                                  events.count.numpy()), weight_t.numpy(), constants, n_blocks,
                     out_np, saturated.numpy(), emit=emit_buffers)
    return out, saturated, emitted


def lif(times, weight, tau_s, threshold, reset=None, max_spikes=1, t_max=math.inf):
    """Exact output spike times of a layer of LIF neurons.

    Args:
        times: (batch, in_features, K_in) float32/float64 input spike times, +inf = empty
            slot; slots may be in any order.
        weight: (out_features, in_features) synaptic weights.
        tau_s: synaptic time constant (> 0); the membrane one is tau = 2 tau_s.
        threshold: firing threshold theta (> 0).
        reset: amount subtracted from u at each spike (> 0); None means ``threshold``.
        max_spikes: spike slots per output neuron (1 = TTFS); later spikes are dropped.
        t_max: spikes after ``t_max`` are dropped.

    Returns:
        (batch, out_features, max_spikes) ascending output spike times, +inf padded,
        differentiable with respect to ``times`` and ``weight``.
    """
    return lif_with_saturation(times, weight, tau_s, threshold, reset, max_spikes, t_max)[0]


# The convolutional layer and pooling, built on this module's validation (so imported last).
from .convolution import (conv_lif, conv_lif_layer, conv_lif_with_saturation,  # noqa: E402
                          spike_pool2d)
