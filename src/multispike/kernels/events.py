"""Per-sample event timeline shared by the forward and backward kernels.

All input spikes of one sample are merged into one time-ordered list of events
``t_0 <= t_1 <= ... <= t_{S-1}``. The kernels keep the window sums A and B relative to a
reference time that moves to the current event, so for every event e they need

    decay_s[e] = exp(-(t_e - t_{e-1}) / tau_s)      (rescales A, and S1 in the backward pass)
    decay[e]   = exp(-(t_e - t_{e-1}) / tau)         (rescales B, and S2 in the backward pass)
    z_end[e]   = exp((min(t_{e+1}, t_max) - t_e) / tau)

where ``z_end`` is the end of the window that follows event e, expressed as
z' = exp((t - t_e)/tau) relative to the window start. A window is only solved when it has
positive length (``z_end > 1``): simultaneous events are accumulated first.
When tau = 2 tau_s one exponential per event gives all three: decay[e] = sqrt(decay_s[e]);
for any other ratio decay[e] takes its own. For every window but the last,
z_end[e] = 1 / decay[e + 1] (so a window ends exactly where the next event's rescaling starts).
"""
from typing import NamedTuple

import numpy as np
from numba import njit, prange

__all__ = ["EventRows", "count_sample", "count_events", "sort_events", "window_factors",
           "merge_sample", "merge_events"]


class EventRows(NamedTuple):
    """Time-ordered input events, one row per sample (or per convolution position), padded
    after each row's count: the one description of a list of events, as torch tensors in
    the layers and as numpy arrays (:meth:`numpy`) in the kernels. Fields a use has no need
    for are None (an event list handed from layer to layer carries only times, source and
    count; the receiving kernel computes the window factors itself).

    times : (rows, S) event times, ascending within a row's count
    origin : (rows, S) int32 where each event's gradient goes back to: the flat input slot
        (neuron * slots + k) of a merged spike train, or the index of the event in its
        sample's merged list for a convolution position's row
    source : (rows, S) int32 the input neuron, i.e. the row of the transposed weight
    count : (rows,) int64 events per row
    decay_s, decay, z_end : (rows, S) the window factors (module docstring)
    """

    times: object
    origin: object = None
    source: object = None
    count: object = None
    decay_s: object = None
    decay: object = None
    z_end: object = None

    def numpy(self) -> "EventRows":
        """The same rows as numpy arrays sharing the tensors' memory (None stays None)."""
        return EventRows(*(None if a is None else a.numpy() for a in self))


@njit(cache=True, inline="always")
def count_sample(times, t_max):
    """(n, ordered, bad) for one sample's (in_features, slots) spike times: n input spikes
    earlier than t_max; ordered when every neuron's slots are ascending (as the layers' own
    outputs are: spikes first, +inf after), which lets :func:`merge_sample` stop reading a
    neuron at its first slot >= t_max; bad entries that are no valid spike time (NaN or
    negative)."""
    n_slots = times.shape[1]
    flat = times.ravel()
    n = 0
    bad = 0
    descents = 0  # over the flat row, then minus those between two neurons
    for i in range(flat.shape[0]):
        t = flat[i]
        n += t < t_max
        bad += not t >= 0  # NaN fails the comparison too
    for i in range(1, flat.shape[0]):
        descents += flat[i] < flat[i - 1]
    for i in range(n_slots, flat.shape[0], n_slots):
        descents -= flat[i] < flat[i - 1]
    return n, descents == 0, bad


@njit(parallel=True, cache=True)
def count_events(times, t_max, n_events, ordered):
    """n_events[b] and ordered[b] of :func:`count_sample` for every sample of ``times``
    (batch, in_features, slots). Returns how many entries are invalid spike times (NaN or
    negative), so that the caller can refuse them without another pass over the data."""
    invalid = 0
    for b in prange(times.shape[0]):
        n, is_ordered, bad = count_sample(times[b], t_max)
        n_events[b] = n
        ordered[b] = is_ordered
        invalid += bad
    return invalid


@njit(cache=True)
def sort_events(keys, slots, n, sorted_keys, sorted_slots, counts):
    """Stable sort of keys[:n] (ties keep their order) into sorted_keys / sorted_slots.

    Bucket sort: n buckets of equal width between the smallest and the largest key, filled
    in input order, then one insertion sort over the bucketed array, which only moves
    entries within a bucket. Expected linear time for spread-out spike times; equal keys
    are never moved.
    """
    lo = keys[0]
    hi = keys[0]
    for i in range(1, n):
        lo = min(lo, keys[i])
        hi = max(hi, keys[i])
    span = np.float64(hi) - np.float64(lo)
    scale = (n - 1) / span if span > 0 else 0.0
    if not scale < np.inf:
        scale = 0.0  # a subnormal span: one bucket (still correct, just not linear)
    counts[:] = 0
    for i in range(n):
        counts[min(n - 1, int((keys[i] - lo) * scale)) + 1] += 1
    for j in range(n):
        counts[j + 1] += counts[j]  # counts[j] = start of bucket j
    for i in range(n):
        j = min(n - 1, int((keys[i] - lo) * scale))
        sorted_keys[counts[j]] = keys[i]
        sorted_slots[counts[j]] = slots[i]
        counts[j] += 1
    for i in range(1, n):
        t = sorted_keys[i]
        s = sorted_slots[i]
        j = i - 1
        while j >= 0 and sorted_keys[j] > t:
            sorted_keys[j + 1] = sorted_keys[j]
            sorted_slots[j + 1] = sorted_slots[j]
            j -= 1
        sorted_keys[j + 1] = t
        sorted_slots[j + 1] = s


@njit(cache=True, inline="always")
def window_factors(times, n, tau_s, tau, t_max, decay_s, decay, z_end):
    """decay_s, decay and z_end (module docstring) of the n sorted event times ``times``."""
    one = decay.dtype.type(1.0)
    two_to_one = tau == tau_s + tau_s
    for e in range(n):
        if e == 0:
            decay_s[e] = one
            decay[e] = one
        else:
            ds = np.exp(-(times[e] - times[e - 1]) / tau_s)
            decay_s[e] = ds
            decay[e] = np.sqrt(ds) if two_to_one else np.exp(-(times[e] - times[e - 1]) / tau)
            if ds > 0:
                z_end[e - 1] = one / decay[e]
            else:  # the gap underflows the decay: take the window end directly
                z_end[e - 1] = np.exp((times[e] - times[e - 1]) / tau)
    if n > 0:
        z_end[n - 1] = np.inf if t_max == np.inf else np.exp((t_max - times[n - 1]) / tau)


@njit(cache=True, inline="always")
def merge_sample(times, n, ordered, t_max, tau_s, tau, event_times, event_slot, event_source,
                 decay_s, decay, z_end):
    """Merge one sample's n spikes (< t_max) of ``times`` (in_features, slots) into one
    time-ordered list of events and compute its window factors (module docstring), into the
    first n entries of the 1-d rows event_times, event_slot (the flat slot
    neuron * slots + k each event came from; ties keep slot order), event_source (its
    neuron), decay_s, decay and z_end. ``n`` and ``ordered`` come from :func:`count_sample`.
    """
    if n == 0:
        return
    n_in = times.shape[0]
    n_slots = times.shape[1]
    keys = np.empty(n, dtype=times.dtype)
    slots = np.empty(n, dtype=event_slot.dtype)
    counts = np.empty(n + 1, dtype=np.int64)
    j = 0
    for m in range(n_in):
        for k in range(n_slots):
            t = times[m, k]
            if t < t_max:
                keys[j] = t
                slots[j] = m * n_slots + k
                j += 1
            elif ordered:
                break  # ascending slots: the rest of this neuron is >= t_max too
    sort_events(keys, slots, n, event_times, event_slot, counts)
    if n_slots == 1:  # one slot per input neuron (encoded data): no division
        event_source[:n] = event_slot[:n]
    else:
        for e in range(n):
            event_source[e] = event_slot[e] // n_slots
    window_factors(event_times, n, tau_s, tau, t_max, decay_s, decay, z_end)


@njit(parallel=True, cache=True)
def merge_events(times, t_max, tau_s, tau, ordered, rows):
    """:func:`merge_sample` for every sample of ``times`` (batch, in_features, slots) into
    the :class:`EventRows` ``rows`` (numpy arrays, every field given; ``rows.count`` and
    ``ordered`` from :func:`count_events`). After each row's count, the times are padded
    with +inf and the two index rows with 0 (the factor rows are left as they are there)."""
    event_times = rows.times
    event_slot = rows.origin
    event_source = rows.source
    n_events = rows.count
    decay_s = rows.decay_s
    decay = rows.decay
    z_end = rows.z_end
    for b in prange(times.shape[0]):
        n = n_events[b]
        event_times[b, n:] = np.inf
        event_slot[b, n:] = 0
        event_source[b, n:] = 0
        merge_sample(times[b], n, ordered[b], t_max, tau_s, tau, event_times[b],
                     event_slot[b], event_source[b], decay_s[b], decay[b], z_end[b])
