"""Spike pooling: each output neuron carries the sorted union of its window's spike trains.

Output neuron (c, Y, X) of an s x s pooling takes the slots of input neurons
(c, s Y + dy, s X + dx), read in window order (dy, dx, k), and sorts them stably: equal
times keep window order, NaN goes last (the order of ``torch.sort(stable=True)``). Each
output slot remembers the flat input index it was copied from, so that the backward pass
hands every output slot's gradient to its source unchanged.
"""
from numba import njit, prange

__all__ = ["pool_spike_trains", "route_pool_grads"]


@njit(cache=True, inline="always")
def _after(a, b):
    """True when a sorts after b: a > b, or a is NaN and b is not."""
    return a > b or (a != a and b == b)


@njit(parallel=True, cache=True)
def pool_spike_trains(times, s, out, source):
    """Pool ``times`` (batch, C, H, W, K) with windows of s x s.

    Parameters
    ----------
    times : (batch, C, H, W, K) spike times, H and W multiples of s
    s : the pooling window (and stride)
    out : (batch, C, H // s, W // s, s * s * K) receives each window's sorted union
    source : same shape as ``out``, int64: receives the flat index in ``times`` of the
        input slot each output slot is a copy of
    """
    batch, channels, height, width, n_slots = times.shape
    out_h = height // s
    out_w = width // s
    flat = times.reshape(-1)  # times is contiguous: flat index ((b C + c) H + y) W + x) K + k
    for plane in prange(batch * channels):
        b = plane // channels
        c = plane % channels
        for oy in range(out_h):
            for ox in range(out_w):
                row = out[b, c, oy, ox]
                src = source[b, c, oy, ox]
                n = 0
                for dy in range(s):
                    for dx in range(s):
                        base = ((plane * height + oy * s + dy) * width + ox * s + dx) * n_slots
                        for k in range(n_slots):
                            t = flat[base + k]
                            i = base + k
                            j = n
                            while j > 0 and _after(row[j - 1], t):  # stable insertion
                                row[j] = row[j - 1]
                                src[j] = src[j - 1]
                                j -= 1
                            row[j] = t
                            src[j] = i
                            n += 1


@njit(parallel=True, cache=True)
def route_pool_grads(grad_out, source, grad_in):
    """grad_in[source[i]] = grad_out[i] for every output slot i of :func:`pool_spike_trains`
    (both flattened to (rows, slots)); every input slot is the source of exactly one output
    slot, so grad_in is fully written."""
    flat = grad_in.reshape(-1)
    for r in prange(grad_out.shape[0]):
        for j in range(grad_out.shape[1]):
            flat[source[r, j]] = grad_out[r, j]
