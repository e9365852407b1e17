"""The steps of an exact LIF layer on tensors: allocation and kernel launches in one place.

A training pass is: merge each sample's input spikes into one time-ordered event list
(:func:`merge_spike_events`), simulate the neurons through the events and keep the spike
log (:func:`simulate_events`); backward, walk the events from last to first for the errors
of the input events and the partial weight gradients (:func:`backpropagate_events`), hand
each event's error to its input slot (:func:`event_grads_to_slots`) and sum the weight
gradient (:func:`sum_weight_gradient`). The fully connected layer (``functional.py``) and
the convolutional one (``convolution.py``) are both made of these steps.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numba
import numpy as np
import torch

from .kernels import (EventRows, LayerConstants, count_events, lif_backward, lif_forward,
                      merge_events, record_width, scatter_event_grads, sum_partials, sum_transpose)

__all__ = ["EventRows", "SpikeLog", "merge_spike_events", "neuron_blocks",
           "simulate_events", "backward_chunks", "backpropagate_events",
           "event_grads_to_slots", "sum_weight_gradient"]


class SpikeLog(NamedTuple):
    """The spike log of a training forward pass (``kernels/spike_log.py``)."""

    entry: torch.Tensor         # (batch, out * K) int32, neuron and slot packed
    record: torch.Tensor        # (batch, out * K, record_width) (z', f2'[, f1']) per spike
    window_start: torch.Tensor  # (batch, n_blocks, S + 1) int32


def merge_spike_events(times: torch.Tensor, k: LayerConstants, on_invalid) -> EventRows:
    """Merge each sample's spikes (< t_max) of the spike trains ``times`` (batch, neurons,
    slots) into time-ordered :class:`~multispike.kernels.events.EventRows` (every field; the
    origin of an event is its flat input slot). ``on_invalid()`` is called (and must raise)
    when a spike time is NaN or negative."""
    batch = times.shape[0]
    dtype = times.dtype
    times_np = times.contiguous().numpy()
    n_events = torch.empty(batch, dtype=torch.int64)
    ordered = np.empty(batch, dtype=np.bool_)
    if count_events(times_np, k.t_max, n_events.numpy(), ordered):
        on_invalid()
    width = max(1, int(n_events.max())) if batch else 1
    event_times, decay_s, decay, z_end = (torch.empty((batch, width), dtype=dtype) for _ in range(4))
    slot, source = (torch.empty((batch, width), dtype=torch.int32) for _ in range(2))
    events = EventRows(event_times, slot, source, n_events, decay_s, decay, z_end)
    merge_events(times_np, k.t_max, k.tau_s, k.tau, ordered, events.numpy())
    return events


def neuron_blocks(batch: int, n_out: int) -> int:
    """How many neuron blocks per sample, so that small batches still use every core."""
    threads = numba.get_num_threads()
    if batch >= 2 * threads:
        return 1
    return max(1, min(math.ceil(n_out / 32), math.ceil(2 * threads / max(batch, 1))))


def simulate_events(events: EventRows, weight_t: torch.Tensor, k: LayerConstants,
                    max_spikes: int, n_blocks: int):
    """The training forward over the event rows ``events`` (batch, S) with the transposed
    weight ``weight_t`` (in, out): returns (spike times (batch, out, K), saturated
    (batch, out), :class:`SpikeLog`)."""
    batch, n_out = events.times.shape[0], weight_t.shape[1]
    dtype = events.times.dtype
    out = torch.empty((batch, n_out, max_spikes), dtype=dtype)  # initialised by the kernel
    saturated = torch.empty((batch, n_out), dtype=torch.bool)
    # the spike log (only its used part is ever written or read)
    log = SpikeLog(torch.empty((batch, n_out * max_spikes), dtype=torch.int32),
                   torch.empty((batch, n_out * max_spikes, record_width(k)), dtype=dtype),
                   torch.empty((batch, n_blocks, events.times.shape[1] + 1), dtype=torch.int32))
    lif_forward(events.numpy(), weight_t.numpy(), k, max_spikes, n_blocks, out.numpy(),
                saturated.numpy(), log.entry.numpy(), log.record.numpy(),
                log.window_start.numpy())
    return out, saturated, log


def backward_chunks(batch: int) -> int:
    """Sample chunks of the backward pass (one per thread, each with its own partial weight
    gradient). Splitting by output neurons instead was measured slower on MNIST."""
    return max(1, min(numba.get_num_threads(), batch))


def backpropagate_events(grad_out: torch.Tensor, log: SpikeLog, events: EventRows,
                         weight_t: torch.Tensor, k: LayerConstants, need_input_grad: bool):
    """dL/d(input events) (batch, S) (None without ``need_input_grad``) and the partial
    weight gradients (chunks, in, out) from the output errors ``grad_out`` (batch, out, K),
    through the forward pass's ``events`` (source, count, decay_s and decay are read)."""
    batch = grad_out.shape[0]
    n_in, n_out = weight_t.shape
    dtype = weight_t.dtype
    grad_out = grad_out.to(dtype).contiguous()
    n_chunks = backward_chunks(batch)
    grad_events = torch.zeros(events.source.shape, dtype=dtype)
    partials = torch.empty((n_chunks, n_in, n_out), dtype=dtype)  # zeroed by the kernel
    lif_backward(grad_out.numpy(), log.entry.numpy(), log.record.numpy(),
                 log.window_start.numpy(), events.numpy(), weight_t.numpy(), k, n_chunks,
                 grad_events.numpy(), partials.numpy(), need_input_grad=need_input_grad)
    return (grad_events if need_input_grad else None), partials


def event_grads_to_slots(grad_events: torch.Tensor, slot: torch.Tensor, count: torch.Tensor,
                         shape) -> torch.Tensor:
    """dL/d(input spike times) of ``shape`` (batch, neurons, slots): each event's gradient
    at its slot, zero where no event was."""
    batch = shape[0]
    grad_times = torch.empty(shape, dtype=grad_events.dtype)
    scatter_event_grads(grad_events.numpy(), slot.numpy(), count.numpy(),
                        grad_times.view(batch, -1).numpy())
    return grad_times


def sum_weight_gradient(partials: torch.Tensor, stored_transposed: bool) -> torch.Tensor:
    """The (out, in) weight gradient, the sum of the chunks' partial (in, out) gradients,
    laid out in memory like the weight (as its transpose when ``stored_transposed``)."""
    n_chunks, n_in, n_out = partials.shape
    if stored_transposed and n_chunks == 1:
        return partials[0].t()
    if stored_transposed:
        total = torch.empty((n_in, n_out), dtype=partials.dtype)
        sum_partials(partials.numpy(), total.numpy())
        return total.t()
    grad_weight = torch.empty((n_out, n_in), dtype=partials.dtype)
    sum_transpose(partials.numpy(), grad_weight.numpy())
    return grad_weight
