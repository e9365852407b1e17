"""The fully connected LIF layer as a pure function with an exact backward pass.

The layer's steps (``steps.py``) on tensors: merge each sample's input spikes into one
time-ordered event list, simulate the neurons through it keeping the spike log, and walk the
log backwards for the gradients; without autograd one inference kernel does the merge and the
simulation. The model and the layouts are described in :mod:`multispike.functional`.

Four entry points, each for one caller:

- :func:`lif` (times, weight, constants as numbers) -> spike times, differentiable: the
  pure function for users who keep their own weights;
- :func:`lif_with_saturation`: the same, and the mask of neurons whose spike slots filled up
  (spikes were dropped), for users who size ``max_spikes``;
- :func:`lif_layer` (times, weight, :class:`LIFParameters`) -> (spike times, mask): the same
  with the constants as one validated record, which :class:`multispike.LIF` hands through;
- :func:`infer_lif`: no autograd, a transposed weight computed once for many chunks, and
  event lists handed from layer to layer: :class:`multispike.SpikingNetwork`'s chunked
  inference.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from .checks import all_finite, check_layer_size, check_spike_times
from .kernels import EventRows, LayerConstants, lif_infer
from .parameters import LIFParameters
from .steps import (SpikeLog, backpropagate_events, event_grads_to_slots,
                    merge_spike_events, neuron_blocks, simulate_events, sum_weight_gradient)

__all__ = ["lif", "lif_layer", "lif_with_saturation", "infer_lif", "transposed_weight"]


def _check_weight(weight, in_features) -> None:
    if not isinstance(weight, torch.Tensor):
        raise TypeError(f"weight must be a torch.Tensor, got {type(weight).__name__}")
    if not weight.is_floating_point():
        raise TypeError(f"weight must be a floating-point tensor, got dtype {weight.dtype}")
    if weight.dim() != 2:
        raise ValueError(f"weight must have shape (out_features, in_features), got {tuple(weight.shape)}")
    if weight.shape[1] != in_features:
        raise ValueError(f"weight has in_features = {weight.shape[1]}, but times has {in_features} input neurons")


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


def _merge_events(times: torch.Tensor, k: LayerConstants) -> EventRows:
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
        out, saturated, log = simulate_events(events, weight_t, k, params.max_spikes, n_blocks)
        ctx.params = params
        ctx.in_shape = tuple(times.shape)
        ctx.weight_stored_transposed = weight.t().is_contiguous()
        ctx.save_for_backward(weight_t, events.origin, events.source, events.count,
                              events.decay_s, events.decay, *log)
        ctx.mark_non_differentiable(saturated)
        return out, saturated

    @staticmethod
    def backward(ctx, grad_out, _grad_saturated):
        weight_t, slot, source, count, decay_s, decay, *log = ctx.saved_tensors
        need_times, need_weight = ctx.needs_input_grad[:2]
        events = EventRows(None, slot, source, count, decay_s, decay)
        grad_events, partials = backpropagate_events(
            grad_out, SpikeLog(*log), events, weight_t, ctx.params.constants(weight_t.dtype),
            bool(need_times))
        grad_times = event_grads_to_slots(grad_events, slot, count, ctx.in_shape) if need_times else None
        grad_weight = sum_weight_gradient(partials, ctx.weight_stored_transposed) if need_weight else None
        return grad_times, grad_weight, None


def lif_with_saturation(times, weight, tau_s, threshold, reset=None, max_spikes=1,
                        t_max=math.inf, tau_mem=None):
    """Like :func:`lif`, and also return a (batch, out_features) bool tensor marking the
    neurons that wanted to fire more than ``max_spikes`` times (their later spikes are dropped).
    """
    params = LIFParameters.create(tau_s, threshold, reset, max_spikes, t_max, tau_mem)
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


def infer_lif(times: torch.Tensor | None, weight_t: torch.Tensor, params: LIFParameters,
              events: EventRows | None = None, emit_t_max: float | None = None,
              emit_into: EventRows | None = None, keep_times: bool = True):
    """Inference (no autograd, no backward records) with a precomputed transposed weight, so
    that a network running many chunks of a batch transposes and checks each weight once.
    ``times`` must already be checked (type and shape) and have ``weight_t``'s dtype.
    One kernel call merges each sample's events and simulates it (``kernels.lif_infer``).

    A network passes layer to layer, besides the spike times, the event lists of the layer
    before (:class:`~multispike.kernels.events.EventRows` with times, source and count):
    ``emit_t_max`` (the next layer's t_max) asks for them, ``events`` hands them to
    the next layer, which then skips checking and merging its input (``times`` is then
    not read and may be None). Events are only emitted with one neuron block per sample,
    else None is returned for them (the next layer merges the spike times). With events
    emitted and ``keep_times=False`` (a network that does not return this hidden layer's
    output) the spike times tensor is not written at all and None is returned for it.
    ``emit_into``: event lists returned by an earlier call for the same layer, whose
    buffers are reused (a network's chunks would otherwise have the allocator map and
    fault in fresh memory for every chunk, which costs more than the event lists save).
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
        emitted = EventRows(emit_into.times[:batch], source=emit_into.source[:batch],
                            count=emit_into.count[:batch])
    elif emit:
        emitted = EventRows(torch.empty((batch, n_out * k), dtype=dtype),
                            source=torch.empty((batch, n_out * k), dtype=torch.int32),
                            count=torch.empty(batch, dtype=torch.int64))
    spikes = times.detach().contiguous().numpy() if events is None else None
    invalid = np.zeros(batch, dtype=np.int64)
    lif_infer(spikes, None if events is None else events.numpy(), weight_t.numpy(),
              params.constants(dtype), k, n_blocks, invalid,
              None if out is None else out.numpy(), saturated.numpy(),
              None if emitted is None else emitted.numpy(),
              None if emitted is None else weight_t.numpy().dtype.type(emit_t_max))
    if invalid.any():
        check_spike_times(times, "times")  # raises with the precise message
    return out, saturated, emitted


def lif(times, weight, tau_s, threshold, reset=None, max_spikes=1, t_max=math.inf,
        tau_mem=None):
    """Exact output spike times of a layer of LIF neurons.

    Args:
        times: (batch, in_features, K_in) float32/float64 input spike times, +inf = empty
            slot; slots may be in any order.
        weight: (out_features, in_features) synaptic weights.
        tau_s: synaptic time constant (> 0).
        threshold: firing threshold theta (> 0).
        reset: amount subtracted from u at each spike (> 0); None means ``threshold``.
        max_spikes: spike slots per output neuron (1 = TTFS); later spikes are dropped.
        t_max: spikes after ``t_max`` are dropped.
        tau_mem: membrane time constant (> 0, not equal to tau_s); None means 2 tau_s,
            whose threshold crossings have a closed form (the fastest case).

    Returns:
        (batch, out_features, max_spikes) ascending output spike times, +inf padded,
        differentiable with respect to ``times`` and ``weight``.
    """
    return lif_with_saturation(times, weight, tau_s, threshold, reset, max_spikes, t_max,
                               tau_mem)[0]
