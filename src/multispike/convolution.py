"""Convolutional LIF layers and spike pooling as pure functions with exact backward passes.

A convolutional LIF layer is the LIF neuron of :func:`multispike.functional.lif` (same
equation, closed form, reset, saturation and t_max rules) whose input weights are shared
kernels: output neuron (o, oy, ox) receives input neuron (c, y, x) through
W[o, c, y + padding - oy stride, x + padding - ox stride] when that index lies in the
kernel, and nothing otherwise. The computation is event-driven: each input spike is handed
only to the output positions whose receptive field contains it (``kernels/conv.py``), and
the simulation and backward pass are the fully connected layer's steps (``steps.py``) run
on those positions.

Layouts: spike trains (batch, channels, height, width, slots), +inf in empty slots; weights
(out_channels, in_channels, kH, kW) as in ``torch.nn.Conv2d``.
"""
from __future__ import annotations

import math

import torch

from .checks import all_finite, check_layer_size, check_spike_times, int_at_least
from .kernels import EventRows
from .kernels.conv import ConvGeometry, count_position_events, gather_position_grads, spread_events
from .kernels.pool import pool_spike_trains, route_pool_grads
from .parameters import LIFParameters
from .steps import (SpikeLog, backpropagate_events, event_grads_to_slots, merge_spike_events,
                    simulate_events, sum_weight_gradient)

__all__ = ["conv_lif", "conv_lif_layer", "conv_lif_with_saturation", "spike_pool2d",
           "check_spike_maps"]


def check_spike_maps(times, name="times", channels=None) -> None:
    """Raise a clear TypeError/ValueError unless ``times`` is a (batch, channels, height,
    width, slots) spike-train tensor (float32/float64 on the CPU) with ``channels``
    channels (when given). Values are checked while the events are merged."""
    if not isinstance(times, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(times).__name__}")
    if times.dim() != 5:
        raise ValueError(f"{name} must have shape (batch, channels, height, width, slots), "
                         f"got shape {tuple(times.shape)}")
    batch, c, h, w, slots = times.shape
    check_spike_times(times.reshape(batch, c * h * w, slots), name, values=False)
    if channels is not None and times.shape[1] != channels:
        raise ValueError(f"{name} has {times.shape[1]} channels on axis 1, expected "
                         f"in_channels = {channels}")


def _geometry(times, weight, stride, padding) -> ConvGeometry:
    if not isinstance(weight, torch.Tensor):
        raise TypeError(f"weight must be a torch.Tensor, got {type(weight).__name__}")
    if not weight.is_floating_point():
        raise TypeError(f"weight must be a floating-point tensor, got dtype {weight.dtype}")
    if weight.dim() != 4:
        raise ValueError(f"weight must have shape (out_channels, in_channels, kH, kW), got "
                         f"{tuple(weight.shape)}")
    stride = int_at_least("stride", stride, 1)
    padding = int_at_least("padding", padding, 0)
    _, channels, height, width, _ = times.shape
    if weight.shape[1] != channels:
        raise ValueError(f"weight has in_channels = {weight.shape[1]}, but times has "
                         f"{channels} channels")
    k_h, k_w = weight.shape[2], weight.shape[3]
    if k_h > height + 2 * padding or k_w > width + 2 * padding:
        raise ValueError(f"kernel {k_h}x{k_w} is larger than the padded input "
                         f"{height + 2 * padding}x{width + 2 * padding}")
    return ConvGeometry(channels, height, width, k_h, k_w, stride, padding,
                        (height + 2 * padding - k_h) // stride + 1,
                        (width + 2 * padding - k_w) // stride + 1)


def _patch_weight(weight: torch.Tensor) -> torch.Tensor:
    """The kernels' transposed weight: row (c kH + ky) kW + kx, column o."""
    weight = weight.detach()
    if not all_finite(weight):
        raise ValueError("weight contains NaN or inf")
    return weight.permute(1, 2, 3, 0).reshape(-1, weight.shape[0]).contiguous()


def _spread(times, g: ConvGeometry, k):
    """Merge each sample's spikes and copy them to the positions that see them. Returns the
    merged events, the per-position counts (batch, P) and the position rows
    (:class:`~multispike.kernels.events.EventRows` of batch * P rows, counted by ``counts``)."""
    batch = times.shape[0]
    flat = times.detach().reshape(batch, -1, times.shape[-1])
    events = merge_spike_events(flat, k, lambda: check_spike_times(flat, "times"))
    n_pos = g.out_height * g.out_width
    counts = torch.empty((batch, n_pos), dtype=torch.int64)
    count_position_events(events.source.numpy(), events.count.numpy(), g, counts.numpy())
    width = max(1, int(counts.max())) if counts.numel() else 1
    rows = batch * n_pos
    pos_times, decay_s, decay, z_end = (torch.empty((rows, width), dtype=times.dtype)
                                        for _ in range(4))
    pos_event, pos_patch = (torch.empty((rows, width), dtype=torch.int32) for _ in range(2))
    positions = EventRows(pos_times, pos_event, pos_patch, counts.view(-1), decay_s, decay, z_end)
    spread_events(events.numpy(), g, k, counts.numpy(), positions.numpy())
    return events, counts, positions


def _to_maps(values: torch.Tensor, batch: int, g: ConvGeometry) -> torch.Tensor:
    """(batch * P, C_out, ...) position rows -> (batch, C_out, H_out, W_out, ...)."""
    rest = values.shape[2:]
    maps = values.view(batch, g.out_height, g.out_width, values.shape[1], *rest)
    return maps.permute(0, 3, 1, 2, *range(4, 4 + len(rest))).contiguous()


def _simulate(times, weight, params: LIFParameters, g: ConvGeometry):
    """The forward pass: (spike times and saturation as position rows, what the backward
    pass needs). Inference uses it too: the spike log costs less than the inference
    kernel's per-row set-up on the many short rows of a convolution."""
    k = params.constants(times.dtype)
    weight_t = _patch_weight(weight)
    events, counts, positions = _spread(times, g, k)
    out, saturated, log = simulate_events(positions, weight_t, k, params.max_spikes, 1)
    saved = (weight_t, events.origin, events.count, counts, positions.source, positions.origin,
             positions.decay_s, positions.decay, *log)
    return out, saturated, saved


class _ConvLIFFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, times, weight, params: LIFParameters, g: ConvGeometry):
        batch = times.shape[0]
        out, saturated, saved = _simulate(times, weight, params, g)
        ctx.params = params
        ctx.in_shape = tuple(times.shape)
        ctx.weight_shape = tuple(weight.shape)
        ctx.save_for_backward(*saved)
        saturated = _to_maps(saturated, batch, g)
        ctx.mark_non_differentiable(saturated)
        return _to_maps(out, batch, g), saturated

    @staticmethod
    def backward(ctx, grad_out, _grad_saturated):
        (weight_t, slot, count, counts, pos_patch, pos_event, decay_s, decay,
         *log) = ctx.saved_tensors
        need_times, need_weight = ctx.needs_input_grad[:2]
        batch, channels, height, width, slots = ctx.in_shape
        n_out = weight_t.shape[1]
        grad_rows = grad_out.permute(0, 2, 3, 1, 4).reshape(-1, n_out, grad_out.shape[-1])
        positions = EventRows(None, pos_event, pos_patch, counts.view(-1), decay_s, decay)
        grad_pos, partials = backpropagate_events(
            grad_rows, SpikeLog(*log), positions, weight_t, ctx.params.constants(weight_t.dtype),
            bool(need_times))
        grad_times = grad_weight = None
        if need_times:
            grad_events = torch.empty(slot.shape, dtype=weight_t.dtype)
            gather_position_grads(grad_pos.numpy(), pos_event.numpy(), counts.numpy(),
                                  grad_events.numpy())
            grad_times = event_grads_to_slots(grad_events, slot, count,
                                              (batch, channels * height * width, slots))
            grad_times = grad_times.view(ctx.in_shape)
        if need_weight:
            grad_weight = sum_weight_gradient(partials, stored_transposed=True)
            grad_weight = grad_weight.reshape(ctx.weight_shape)
        return grad_times, grad_weight, None, None


def conv_lif_layer(times, weight, params: LIFParameters, stride=1, padding=0):
    """:func:`conv_lif_with_saturation` with the layer's constants as one validated
    :class:`~multispike.functional.LIFParameters` record (as :class:`multispike.ConvLIF`
    keeps them)."""
    if not isinstance(params, LIFParameters):
        raise TypeError(f"params must be LIFParameters, got {type(params).__name__}")
    check_spike_maps(times)
    g = _geometry(times, weight, stride, padding)
    check_layer_size(weight.shape[0], params.max_spikes)
    weight = weight.to(times.dtype)
    if torch.is_grad_enabled() and (times.requires_grad or weight.requires_grad):
        return _ConvLIFFunction.apply(times, weight, params, g)
    out, saturated, _ = _simulate(times.detach(), weight.detach(), params, g)
    return _to_maps(out, times.shape[0], g), _to_maps(saturated, times.shape[0], g)


def conv_lif_with_saturation(times, weight, tau_s, threshold, reset=None, max_spikes=1,
                             t_max=math.inf, stride=1, padding=0, tau_mem=None):
    """Like :func:`conv_lif`, and also return the (batch, C_out, H_out, W_out) bool tensor of
    the neurons that wanted to fire more than ``max_spikes`` times."""
    params = LIFParameters.create(tau_s, threshold, reset, max_spikes, t_max, tau_mem)
    return conv_lif_layer(times, weight, params, stride, padding)


def conv_lif(times, weight, tau_s, threshold, reset=None, max_spikes=1, t_max=math.inf,
             stride=1, padding=0, tau_mem=None):
    """Exact output spike times of a convolutional layer of LIF neurons.

    Args:
        times: (batch, C_in, H, W, K_in) float32/float64 input spike times, +inf = empty.
        weight: (C_out, C_in, kH, kW) shared kernels.
        tau_s, threshold, reset, max_spikes, t_max, tau_mem: as in
            :func:`multispike.functional.lif`.
        stride: step between receptive fields (int >= 1, both directions).
        padding: silent input neurons added on every side (int >= 0).

    Returns:
        (batch, C_out, H_out, W_out, max_spikes) ascending spike times, +inf padded, with
        H_out = (H + 2 padding - kH) // stride + 1 (likewise W_out); differentiable with
        respect to ``times`` and ``weight``.
    """
    return conv_lif_with_saturation(times, weight, tau_s, threshold, reset, max_spikes, t_max,
                                    stride, padding, tau_mem)[0]


def _pool(times, s):
    """(pooled spike trains, the flat input index each output slot is a copy of)."""
    batch, channels, height, width, slots = times.shape
    shape = (batch, channels, height // s, width // s, s * s * slots)
    out = torch.empty(shape, dtype=times.dtype)
    source = torch.empty(shape, dtype=torch.int64)
    pool_spike_trains(times.detach().contiguous().numpy(), s, out.numpy(), source.numpy())
    return out, source


class _SpikePoolFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, times, s):
        out, source = _pool(times, s)
        ctx.save_for_backward(source)
        ctx.in_shape = tuple(times.shape)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        (source,) = ctx.saved_tensors
        grad_in = torch.empty(ctx.in_shape, dtype=grad_out.dtype)
        slots = source.shape[-1]
        route_pool_grads(grad_out.contiguous().view(-1, slots).numpy(),
                         source.view(-1, slots).numpy(), grad_in.numpy())
        return grad_in, None


def spike_pool2d(times, kernel_size=2):
    """Pooling of spike trains: each output neuron carries the union of the spike trains of
    its kernel_size x kernel_size input neurons (non-overlapping windows).

    ``times`` (batch, C, H, W, K) -> (batch, C, H // s, W // s, s * s * K), each train
    ascending and +inf padded (a stable sort: equal times keep the window's order). H and W
    must be multiples of ``kernel_size`` (ValueError otherwise: no input neuron is silently
    dropped). The gradient of each output spike goes unchanged to the input spike it is a
    copy of (``kernels/pool.py``).
    """
    check_spike_maps(times)
    s = int_at_least("kernel_size", kernel_size, 1)
    height, width = times.shape[2:4]
    if height % s or width % s:
        raise ValueError(f"spike_pool2d needs height and width divisible by kernel_size = {s}, "
                         f"got {height}x{width}")
    if torch.is_grad_enabled() and times.requires_grad:
        return _SpikePoolFunction.apply(times, s)
    return _pool(times, s)[0]
