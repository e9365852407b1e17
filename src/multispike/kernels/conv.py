"""Convolution as many small LIF layers: one per output position, fed only by its receptive field.

All output neurons at one position (oy, ox) of a convolutional layer see the same input
neurons, the C_in x kH x kW patch of their receptive field, with the same shared weights
W[:, c, ky, kx]. So the position is exactly a fully connected LIF layer with
in_features = C_in kH kW and out_features = C_out, whose input events are the sample's
events that fall in the patch, each tagged with its patch index (c kH + ky) kW + kx.
Spreading each sample's merged events to the positions whose receptive field contains them
gives one event row per (sample, position) pair; the dense forward and backward kernels then
run on these rows as if each pair were a sample, with the transposed weight
(C_in kH kW, C_out). An input spike thus touches only the C_out neurons of the at most
kH kW positions that contain it, the weight gradient of the shared kernel is the sum over
all pairs (the dense backward's per-chunk sums), and the gradient of an input spike is the
sum of the gradients of its copies.

Positions are numbered p = oy W_out + ox. Input neuron m = (c H + y) W + x lies in the
receptive field of (oy, ox) when 0 <= y + padding - oy stride < kH (and likewise for x);
padding adds no events.
"""
from collections import namedtuple

import numpy as np
from numba import njit, prange

from .events import window_factors

__all__ = ["ConvGeometry", "count_position_events", "spread_events", "gather_position_grads"]

ConvGeometry = namedtuple("ConvGeometry", [
    "in_channels", "height", "width", "kernel_h", "kernel_w", "stride", "padding",
    "out_height", "out_width"])


@njit(cache=True, inline="always")
def _covering(coord, padding, kernel, stride, n_out):
    """Output rows (or columns) o0..o1-1 whose receptive field contains input row ``coord``:
    0 <= coord + padding - o stride < kernel."""
    shifted = coord + padding
    lo = max(0, (shifted - kernel + stride) // stride)  # ceil((shifted - kernel + 1) / stride)
    hi = min(n_out, shifted // stride + 1)
    return lo, hi


@njit(parallel=True, cache=True)
def count_position_events(event_source, n_events, g, counts):
    """counts[b, p]: the number of sample b's merged events (source neurons
    ``event_source`` (batch, S), ``n_events`` (batch,), the source and count of its
    :class:`~multispike.kernels.events.EventRows`) in the receptive field of position p,
    for the :class:`ConvGeometry` ``g``; counts is (batch, out_height * out_width)."""
    plane = g.height * g.width
    for b in prange(event_source.shape[0]):
        row = counts[b]
        row[:] = 0
        for e in range(n_events[b]):
            rest = event_source[b, e] % plane
            y = rest // g.width
            x = rest % g.width
            oy0, oy1 = _covering(y, g.padding, g.kernel_h, g.stride, g.out_height)
            ox0, ox1 = _covering(x, g.padding, g.kernel_w, g.stride, g.out_width)
            for oy in range(oy0, oy1):
                for ox in range(ox0, ox1):
                    row[oy * g.out_width + ox] += 1


@njit(parallel=True, cache=True)
def spread_events(events, g, k, counts, positions):
    """Copy each sample's merged events to the positions whose receptive field holds them.

    Parameters
    ----------
    events : the samples' merged :class:`~multispike.kernels.events.EventRows`
        (times, source and count are read)
    g : :class:`ConvGeometry`
    k : the layer's :class:`~multispike.kernels.constants.LayerConstants`
    counts : (batch, P) events per position, from :func:`count_position_events`
    positions : :class:`~multispike.kernels.events.EventRows` with rows of S' entries,
        one per (sample, position) pair (row b P + p), that receive the pairs' events:
        times, source (the patch index (c kH + ky) kW + kx, the row of the transposed
        weight), origin (the index of the event in the sample's merged list) and the
        window factors; events keep their merged order (ties in slot order). Its count is
        not written (``counts`` viewed as (batch * P,) is that count)
    """
    event_times = events.times
    event_source = events.source
    n_events = events.count
    pos_times = positions.times
    pos_patch = positions.source
    pos_event = positions.origin
    pos_decay_s = positions.decay_s
    pos_decay = positions.decay
    pos_z_end = positions.z_end
    plane = g.height * g.width
    area = g.kernel_h * g.kernel_w
    n_pos = g.out_height * g.out_width
    for b in prange(event_source.shape[0]):
        fill = np.zeros(n_pos, dtype=np.int64)
        base = b * n_pos
        for e in range(n_events[b]):
            m = event_source[b, e]
            c = m // plane
            rest = m % plane
            y = rest // g.width
            x = rest % g.width
            t = event_times[b, e]
            oy0, oy1 = _covering(y, g.padding, g.kernel_h, g.stride, g.out_height)
            ox0, ox1 = _covering(x, g.padding, g.kernel_w, g.stride, g.out_width)
            for oy in range(oy0, oy1):
                ky = y + g.padding - oy * g.stride
                for ox in range(ox0, ox1):
                    kx = x + g.padding - ox * g.stride
                    p = oy * g.out_width + ox
                    i = fill[p]
                    pos_times[base + p, i] = t
                    pos_patch[base + p, i] = c * area + ky * g.kernel_w + kx
                    pos_event[base + p, i] = e
                    fill[p] = i + 1
        for p in range(n_pos):
            window_factors(pos_times[base + p], counts[b, p], k.tau_s, k.tau, k.t_max,
                           pos_decay_s[base + p], pos_decay[base + p], pos_z_end[base + p])


@njit(parallel=True, cache=True)
def gather_position_grads(grad_pos, pos_event, counts, grad_events):
    """grad_events[b, e] = sum of the gradients grad_pos (batch * P, S') of the copies of
    sample b's merged event e (``pos_event``, ``counts`` (batch, P) as in
    :func:`spread_events`); entries of events without a copy are zero."""
    n_pos = counts.shape[1]
    for b in prange(counts.shape[0]):
        row = grad_events[b]
        row[:] = 0
        for p in range(n_pos):
            r = b * n_pos + p
            for i in range(counts[b, p]):
                row[pos_event[r, i]] += grad_pos[r, i]
