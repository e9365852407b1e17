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

import numba
import numpy as np
import torch

from .kernels import (count_events, count_non_finite, lif_backward, lif_forward, lif_infer,
                      lif_infer_events, merge_events, scatter_event_grads, sum_partials,
                      sum_transpose)

__all__ = ["LIFParameters", "lif", "lif_with_saturation", "check_spike_times"]


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
        tau_s = _positive_number("tau_s", tau_s)
        threshold = _positive_number("threshold", threshold)
        reset = threshold if reset is None else _positive_number("reset", reset)
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


def _positive_number(name, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise TypeError(f"{name} must be a positive number, got {type(value).__name__}")
    value = float(value)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value}")
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
    """Spike-log entries pack (neuron << shift) | slot into an int32 (``kernels/forward.py``)."""
    if out_features << (max_spikes - 1).bit_length() >= 2**31:
        raise ValueError(f"out_features = {out_features} with max_spikes = {max_spikes} is too "
                         f"large: out_features * 2**ceil(log2(max_spikes)) must stay below 2**31")


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


def _merge_events(times: torch.Tensor, t_max: float, tau_s: float):
    """All input spikes (< t_max) of each sample in time order, with their window factors.

    Returns (event times, flat slot, source neuron, count, decay_s, decay, z_end), each
    (batch, S) but count (batch,); see ``kernels/events.py``. Rows are padded with +inf
    times after their count. Raises ValueError (via :func:`check_spike_times`) on NaN or
    negative spike times.
    """
    batch, n_in, slots = times.shape
    dtype = times.dtype
    times_np = times.contiguous().numpy()
    n_events = torch.empty(batch, dtype=torch.int64)
    ordered = np.empty(batch, dtype=np.bool_)
    t_max = _scalar(dtype, t_max)
    if count_events(times_np, t_max, n_events.numpy(), ordered):
        check_spike_times(times, "times")  # raises with the precise message
    width = max(1, int(n_events.max())) if batch else 1
    event_times, decay_s, decay, z_end = (torch.empty((batch, width), dtype=dtype) for _ in range(4))
    slot, source = (torch.empty((batch, width), dtype=torch.int32) for _ in range(2))
    merge_events(times_np, t_max, _scalar(dtype, tau_s), _scalar(dtype, 2.0 * tau_s),
                 n_events.numpy(), ordered, event_times.numpy(), slot.numpy(), source.numpy(),
                 decay_s.numpy(), decay.numpy(), z_end.numpy())
    return event_times, slot, source, n_events, decay_s, decay, z_end


def _scalar(dtype, value):
    return np.float32(value) if dtype == torch.float32 else np.float64(value)


def _n_blocks(batch: int, n_out: int) -> int:
    """How many neuron blocks per sample, so that small batches still use every core."""
    threads = numba.get_num_threads()
    if batch >= 2 * threads:
        return 1
    return max(1, min(math.ceil(n_out / 32), math.ceil(2 * threads / max(batch, 1))))


def _kernel_constants(params: LIFParameters, dtype):
    """The forward kernels' scalar arguments c ... grad_floor, typed like the spike times."""
    s = lambda v: _scalar(dtype, v)  # noqa: E731 - typed scalars keep float32 kernels in float32
    tau = params.tau
    c = params.threshold / tau
    eps = float(torch.finfo(dtype).eps)
    return (s(c), s(0.5 / c), s(4.0 * c), s(params.reset / tau), s(tau),
            s(1.0 - 8.0 * eps), s(10.0 * math.sqrt(eps)))  # z_tolerance, grad_floor


def _simulate(times: torch.Tensor, weight_t: torch.Tensor, params: LIFParameters):
    """Training forward: run the forward kernel with the transposed weight ``weight_t``
    (in, out) from :func:`transposed_weight`, writing the spike log for the backward pass.
    Returns (spike times, saturated, tensors for the backward pass)."""
    dtype = times.dtype
    batch, n_out = times.shape[0], weight_t.shape[1]
    k = params.max_spikes
    event_times, slot, source, n_events, decay_s, decay, z_end = _merge_events(
        times.detach(), params.t_max, params.tau_s)
    out = torch.empty((batch, n_out, k), dtype=dtype)  # the kernel initialises the outputs
    saturated = torch.empty((batch, n_out), dtype=torch.bool)
    # the spike log (only its used part is ever written or read)
    n_blocks = _n_blocks(batch, n_out)
    log_slot = torch.empty((batch, n_out * k), dtype=torch.int32)
    log_record = torch.empty((batch, n_out * k, 2), dtype=dtype)  # (z', f2') per spike
    window_start = torch.empty((batch, n_blocks, event_times.shape[1] + 1), dtype=torch.int32)
    lif_forward(event_times.numpy(), source.numpy(), n_events.numpy(), decay_s.numpy(),
                decay.numpy(), z_end.numpy(), weight_t.numpy(),
                *_kernel_constants(params, dtype), n_blocks, True, out.numpy(), saturated.numpy(),
                log_slot.numpy(), log_record.numpy(), window_start.numpy())
    saved = (weight_t, slot, source, n_events, decay_s, decay, log_slot, log_record, window_start)
    return out, saturated, saved


def _backward_chunks(batch: int) -> int:
    """Sample chunks of the backward pass (one per thread, each with its own partial weight
    gradient). Splitting by output neurons instead was measured slower on MNIST."""
    return max(1, min(numba.get_num_threads(), batch))


class _LIFFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, times, weight, params: LIFParameters):
        out, saturated, saved = _simulate(times, transposed_weight(weight), params)
        ctx.params = params
        ctx.in_shape = tuple(times.shape)
        ctx.weight_stored_transposed = weight.t().is_contiguous()
        ctx.save_for_backward(*saved)
        ctx.mark_non_differentiable(saturated)
        return out, saturated

    @staticmethod
    def backward(ctx, grad_out, _grad_saturated):
        (weight_t, slot, source, n_events, decay_s, decay,
         log_slot, log_record, window_start) = ctx.saved_tensors
        params = ctx.params
        batch, n_in, slots = ctx.in_shape
        n_out = weight_t.shape[1]
        dtype = weight_t.dtype
        grad_out = grad_out.to(dtype).contiguous()
        n_chunks = _backward_chunks(batch)
        grad_events = torch.zeros(source.shape, dtype=dtype)
        grad_weight_t = torch.empty((n_chunks, n_in, n_out), dtype=dtype)  # zeroed by the kernel
        tau = params.tau
        s = lambda v: _scalar(dtype, v)  # noqa: E731
        lif_backward(grad_out.numpy(), log_slot.numpy(), log_record.numpy(),
                     window_start.numpy(), source.numpy(), n_events.numpy(), decay_s.numpy(),
                     decay.numpy(), weight_t.numpy(), s(1.0 / params.tau_s), s(1.0 / tau),
                     s(params.reset / tau**2), n_chunks, bool(ctx.needs_input_grad[0]),
                     grad_events.numpy(), grad_weight_t.numpy())
        grad_times = None
        if ctx.needs_input_grad[0]:
            grad_times = torch.empty((batch, n_in, slots), dtype=dtype)
            scatter_event_grads(grad_events.numpy(), slot.numpy(), n_events.numpy(),
                                grad_times.view(batch, n_in * slots).numpy())
        grad_weight = None
        if ctx.needs_input_grad[1]:  # the sum of the chunks' partial gradients, laid out
            if ctx.weight_stored_transposed and n_chunks == 1:  # in memory like the weight
                grad_weight = grad_weight_t[0].t()
            elif ctx.weight_stored_transposed:
                total = torch.empty((n_in, n_out), dtype=dtype)
                sum_partials(grad_weight_t.numpy(), total.numpy())
                grad_weight = total.t()
            else:
                grad_weight = torch.empty((n_out, n_in), dtype=dtype)
                sum_transpose(grad_weight_t.numpy(), grad_weight.numpy())
        return grad_times, grad_weight, None


def lif_with_saturation(times, weight, tau_s, threshold, reset=None, max_spikes=1,
                        t_max=math.inf):
    """Like :func:`lif`, and also return a (batch, out_features) bool tensor marking the
    neurons that wanted to fire more than ``max_spikes`` times (their later spikes are dropped).
    """
    params = LIFParameters.create(tau_s, threshold, reset, max_spikes, t_max)
    check_spike_times(times, "times", values=False)  # values: while merging the events
    _check_weight(weight, times.shape[1])
    check_layer_size(weight.shape[0], params.max_spikes)
    weight = weight.to(times.dtype)
    if torch.is_grad_enabled() and (times.requires_grad or weight.requires_grad):
        return _LIFFunction.apply(times, weight, params)
    return _infer(times, transposed_weight(weight), params)[:2]


@dataclass(frozen=True)
class _Events:
    """A batch of time-ordered input events handed from one layer's inference to the next:
    times and source neurons (batch, S), and counts (batch,)."""

    times: torch.Tensor
    source: torch.Tensor
    count: torch.Tensor


def _infer(times: torch.Tensor | None, weight_t: torch.Tensor, params: LIFParameters,
           events: _Events | None = None, emit_t_max: float | None = None,
           emit_into: _Events | None = None, keep_times: bool = True):
    """Inference (no autograd, no backward records) with a precomputed transposed weight, so
    that a network running many chunks of a batch transposes and checks each weight once.
    ``times`` must already be checked (type and shape) and have ``weight_t``'s dtype.
    One kernel call merges each sample's events and simulates it (``kernels.lif_infer``).

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
    n_blocks = _n_blocks(batch, n_out)
    emit = emit_t_max is not None and n_blocks == 1
    write_times = keep_times or not emit
    out = torch.empty((batch, n_out, k) if write_times else (1, 1, k), dtype=dtype)
    saturated = torch.empty((batch, n_out), dtype=torch.bool)
    if not emit:
        emitted = _Events(torch.empty((1, 1), dtype=dtype), torch.empty((1, 1), dtype=torch.int32),
                          torch.empty(1, dtype=torch.int64))
    elif (emit_into is not None and emit_into.times.dtype == dtype
          and emit_into.times.shape[0] >= batch and emit_into.times.shape[1] == n_out * k):
        emitted = _Events(emit_into.times[:batch], emit_into.source[:batch],
                          emit_into.count[:batch])
    else:
        emitted = _Events(torch.empty((batch, n_out * k), dtype=dtype),
                          torch.empty((batch, n_out * k), dtype=torch.int32),
                          torch.empty(batch, dtype=torch.int64))
    tail = (write_times, out.numpy(), saturated.numpy(), emit,
            _scalar(dtype, emit_t_max if emit else math.inf), emitted.times.numpy(),
            emitted.source.numpy(), emitted.count.numpy())
    constants = _kernel_constants(params, dtype)
    t_max, tau_s = _scalar(dtype, params.t_max), _scalar(dtype, params.tau_s)
    if events is None:
        invalid = np.zeros(batch, dtype=np.int64)
        lif_infer(times.detach().contiguous().numpy(), t_max, tau_s, weight_t.numpy(),
                  *constants, n_blocks, invalid, *tail)
        if invalid.any():
            check_spike_times(times, "times")  # raises with the precise message
    else:
        lif_infer_events(events.times.numpy(), events.source.numpy(), events.count.numpy(),
                         t_max, tau_s, weight_t.numpy(), *constants, n_blocks, *tail)
    return (out if write_times else None), saturated, (emitted if emit else None)


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
