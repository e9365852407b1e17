"""Per-sample event timeline shared by the forward and backward kernels.

All input spikes of one sample are merged into one time-ordered list of events
``t_0 <= t_1 <= ... <= t_{S-1}``. The kernels keep the window sums A and B relative to a
reference time that moves to the current event, so for every event e they need

    decay_s[e] = exp(-(t_e - t_{e-1}) / tau_s)      (rescales A, and S1 in the backward pass)
    decay[e]   = exp(-(t_e - t_{e-1}) / tau)        (rescales B, and S2 in the backward pass)
    z_end[e]   = exp((min(t_{e+1}, t_max) - t_e) / tau)

where ``z_end`` is the end of the window that follows event e, expressed as
z' = exp((t - t_e)/tau) relative to the window start. A window is only solved when it has
positive length (``z_end > 1``): simultaneous events are accumulated first.
"""
import numpy as np
from numba import njit, prange


@njit(parallel=True, cache=True)
def window_factors(event_times, n_events, tau_s, tau, t_max, decay_s, decay, z_end):
    """Fill ``decay_s``, ``decay`` and ``z_end`` (all shape (batch, S)) for every sample.

    ``n_events[b]`` events of sample b are used; the last one's window ends at ``t_max``
    (``z_end = inf`` when ``t_max`` is infinite).
    """
    batch = event_times.shape[0]
    one = decay.dtype.type(1.0)
    for b in prange(batch):
        n = n_events[b]
        for e in range(n):
            t = event_times[b, e]
            if e == 0:
                decay_s[b, e] = one
                decay[b, e] = one
            else:
                dt = t - event_times[b, e - 1]
                decay_s[b, e] = np.exp(-dt / tau_s)
                decay[b, e] = np.exp(-dt / tau)
            if e + 1 < n:
                t_next = min(event_times[b, e + 1], t_max)
            else:
                t_next = t_max
            if t_next == np.inf:
                z_end[b, e] = np.inf
            else:
                z_end[b, e] = np.exp((t_next - t) / tau)


@njit(parallel=True, cache=True)
def count_events(flat_times, t_max, n_events):
    """n_events[b] = number of input spikes of sample b earlier than t_max."""
    for b in prange(flat_times.shape[0]):
        n = 0
        for i in range(flat_times.shape[1]):
            if flat_times[b, i] < t_max:
                n += 1
        n_events[b] = n


@njit(parallel=True, cache=True)
def merge_events(flat_times, t_max, n_events, event_times, event_slot):
    """Merge the spikes (< t_max) of each sample into one time-ordered list of events.

    ``flat_times`` is (batch, in_features * slots); ``event_slot[b, e]`` is the flat slot the
    e-th earliest spike came from (ties keep slot order). Only the first ``n_events[b]``
    entries of each row are written (``n_events`` from :func:`count_events`).
    """
    for b in prange(flat_times.shape[0]):
        n = n_events[b]
        if n == 0:
            continue
        keys = np.empty(n, dtype=flat_times.dtype)
        slots = np.empty(n, dtype=np.int64)
        j = 0
        for i in range(flat_times.shape[1]):
            t = flat_times[b, i]
            if t < t_max:
                keys[j] = t
                slots[j] = i
                j += 1
        order = np.argsort(keys, kind="mergesort")
        for e in range(n):
            event_times[b, e] = keys[order[e]]
            event_slot[b, e] = slots[order[e]]
