"""Forward kernel: exact spike times of a layer of current-based LIF neurons.

For output neuron n, between two consecutive input events and with z = exp((t - r)/tau)
measured from the window's reference time r (the time of the last input event),

    u(t) / tau = B / z - A / z^2
    A = sum_{t_j <= r} w_nj exp((t_j - r) / tau_s)
    B = sum_{t_j <= r} w_nj exp((t_j - r) / tau) - (reset / tau) sum_{t_k <= r} exp((t_k - r) / tau)

(tau = 2 tau_s; t_j input spikes, t_k the neuron's own earlier spikes). u = theta means
c z^2 - B z + A = 0 with c = theta / tau, whose first upward crossing is

    z* = 2 A / (B + x),   x = sqrt(B^2 - 4 A c),

valid when A > 0, B > 0 and B^2 >= 4 A c. It is a spike when z* lies in the window
(after the window start or the previous own spike, no later than the next event and t_max).
After a spike, B -= (reset / tau) z* and the same window is solved again.
Moving the reference to the next event multiplies A by exp(-dt/tau_s) and B by exp(-dt/tau)
(both <= 1), so nothing overflows however long the simulation runs.

Besides the spike times the kernel saves, for every spike k, what the exact backward pass
needs: the record (z'_k, f2'_k = tau / x'_k), relative to the reference time of the window
it fired in (the backward pass derives f1'_k = tau / (z'_k x'_k) = f2'_k / z'_k), and which
window that was, in the spike log of ``kernels/spike_log.py`` (entries appended in firing
order, which keeps the writes sequential, beside one (z', f2') record per entry).

Near a grazing crossing (x -> 0, the membrane just touches the threshold) the exact
derivatives diverge like 1/x. The factors use max(x, grad_floor * B), with grad_floor of the
order of the square root of the float precision: below it x is rounding noise anyway, and an
infinite derivative would turn the whole gradient into NaN.
"""
import numpy as np
from numba import njit, prange

from .crossing import crossing_factors, first_crossing
from .events import count_sample, merge_sample, sort_events, window_factors
from .spike_log import block_size, entry_neuron, log_shift, pack, segment_start


__all__ = ["lif_forward", "lif_infer"]


@njit(cache=True, inline="always")
def _task_chunks(n_tasks):
    """(n_chunks, tasks per chunk): the parallel loop runs over at most 256 chunks of
    consecutive tasks, each with one set of working rows, so that the many small tasks of a
    convolution (one per sample and position) do not each allocate their own. Few tasks
    (a dense layer's samples) stay one per chunk."""
    n_chunks = max(1, min(n_tasks, 256))
    return n_chunks, (n_tasks + n_chunks - 1) // n_chunks


@njit(cache=True, inline="always")
def _task_block(task, n_blocks, n_out):
    """(sample b, block index j, neurons n0..n1-1) of parallel task ``task`` when each
    sample's n_out neurons are split into n_blocks blocks; n0 >= n1 for an empty block."""
    block = block_size(n_out, n_blocks)
    b = task // n_blocks
    j = task % n_blocks
    n0 = j * block
    return b, j, n0, min(n_out, n0 + block)


@njit(cache=True, inline="always")
def _block_scratch(width, weight_t):
    """Working rows of :func:`_simulate_block` for blocks of up to ``width`` neurons, reused
    from block to block (allocating them per block costs more than simulating a small
    convolution position): spikes so far, A, B, the candidate flags (padded to whole
    8-byte words) and the same flags as words, the flagged indices, and the saturation
    marks (1 once a neuron is saturated, else 0)."""
    padded = (width + 7) // 8 * 8
    candidate = np.empty(padded, dtype=np.uint8)
    return (np.empty(width, dtype=np.int32), np.empty(width, dtype=weight_t.dtype),
            np.empty(width, dtype=weight_t.dtype), candidate, candidate.view(np.uint64),
            np.empty(padded, dtype=np.int32), np.empty(width, dtype=weight_t.dtype))


@njit(cache=True, inline="always")
def _event_scratch(size, dtype):
    """Working event rows of the inference kernel for up to ``size`` events (times, slot,
    source, decay_s, decay, z_end), reused from task to task and grown by
    :func:`_grown_events` when a sample has more events."""
    return (np.empty(size, dtype=dtype), np.empty(size, dtype=np.int32),
            np.empty(size, dtype=np.int32), np.empty(size, dtype=dtype),
            np.empty(size, dtype=dtype), np.empty(size, dtype=dtype))


@njit(cache=True, inline="always")
def _grown_events(rows, n):
    """``rows`` of :func:`_event_scratch`, or larger ones when they hold fewer than n events."""
    if rows[0].shape[0] >= n:
        return rows
    return _event_scratch(max(n, 2 * rows[0].shape[0]), rows[0].dtype)


@njit(cache=True, inline="always")
def _fire_in_window(b, n, a, bb, x, z, z_hi, t_e, k, max_spikes, out_times, count, i,
                    saturated, log_entry, log_record, time_log, pos):
    """Record the spike at z (root x) and every further one of neuron n in the window.

    ``k`` is the layer's :class:`~multispike.kernels.constants.LayerConstants`, ``max_spikes``
    the slots per neuron; ``count[i]`` is the neuron's number of spikes so far. Each spike
    goes to out_times[b, n] (when out_times is not None) and to the sample's spike log row
    ``log_entry`` at ``pos`` (when not None), with its (z', f2') record in ``log_record``
    and its time in ``time_log`` (each when not None). Returns the new B (lowered by the
    resets) and the new end ``pos`` of the log. A neuron whose slots are full is marked
    saturated (the caller then stops testing it: its later spikes are dropped).
    """
    zero = bb * 0
    while True:
        slot = count[i]
        if slot == max_spikes:
            saturated[b, n] = True
            return bb, pos
        t = t_e + k.tau * np.log(z)
        if out_times is not None:
            out_times[b, n, slot] = t
        if log_entry is not None:
            log_entry[pos] = pack(n, slot, log_shift(max_spikes))
            if log_record is not None:
                log_record[pos, 0] = z
                log_record[pos, 1] = k.tau / max(x, k.grad_floor * bb)
            if time_log is not None:
                time_log[pos] = t
            pos += 1
        count[i] = slot + 1
        bb = bb - k.reset_over_tau * z
        if bb <= zero:
            return bb, pos
        disc = bb * bb - k.four_c * a
        if disc < zero:
            return bb, pos
        x = np.sqrt(disc)
        z_next = (a + a) / (bb + x)
        if z_next > z_hi or not z_next > z:
            return bb, pos
        z = z_next


@njit(cache=True, inline="always")
def _fire_general(b, n, a, bb, s_hi, t_e, k, max_spikes, out_times, count, i, saturated,
                  log_entry, log_record, time_log, pos):
    """:func:`_fire_in_window` for any ratio of the time constants: every spike of neuron n
    in the window [t_e, t_e + s_hi] from the float64 window sums a and bb
    (:func:`~multispike.kernels.crossing.first_crossing`), each with its record
    (z', f2', f1') of :func:`~multispike.kernels.crossing.crossing_factors`. Returns the
    new B and the new end ``pos`` of the log."""
    theta = np.float64(k.threshold)
    kappa = np.float64(k.kappa)
    inv_tau = np.float64(k.inv_tau)
    inv_tau_s = np.float64(k.inv_tau_s)
    s = first_crossing(a, bb, 0.0, s_hi, theta, kappa, inv_tau, inv_tau_s, True)
    while s < np.inf:
        slot = count[i]
        if slot == max_spikes:
            saturated[b, n] = True
            break
        t = t_e + s
        z = np.exp(s * inv_tau)
        if out_times is not None:
            out_times[b, n, slot] = t
        if log_entry is not None:
            log_entry[pos] = pack(n, slot, log_shift(max_spikes))
            if log_record is not None:
                f1, f2 = crossing_factors(a, bb, s, kappa, inv_tau, inv_tau_s,
                                          np.float64(k.grad_floor))
                log_record[pos, 0] = z
                log_record[pos, 1] = f2
                log_record[pos, 2] = f1
            if time_log is not None:
                time_log[pos] = t
            pos += 1
        count[i] = slot + 1
        bb = bb - np.float64(k.reset_over_tau) * z
        s = first_crossing(a, bb, s, s_hi, theta, kappa, inv_tau, inv_tau_s, False)
    return bb, pos


@njit(cache=True, inline="always")
def _flag_general(a_sum, b_sum, row, ds, d, z_hi, k, full, candidate, width, candidate_words,
                  n_words, flagged):
    """For any ratio of the time constants: update the window sums A and B of the block's
    neurons with the event of weights ``row`` (decays ds, d), flag the neurons that may
    cross the threshold in the window ending at z_hi, and return how many were flagged (their
    indices in ``flagged``). Saturated neurons (``full``) are never flagged.

    In p = exp(-s/tau) (from 1 down to p_hi = 1/z_hi) the potential is
    u(p) = kappa (B p - A p^r), r = tau/tau_s, and u'' = -kappa A r (r - 1) p^(r - 2) has the
    sign of -A (kappa (r - 1) = r tau_s > 0). Where A <= 0, u is convex in p and its maximum
    over the window is at an end. Where A > 0 it is concave and lies below its tangents at
    both ends: their pointwise minimum is largest at an end or where they cross, which bounds u
    from above without any exponential per neuron. A neuron is flagged when that bound,
    loosened by a few roundings of its terms, reaches the threshold; the flagged neurons are
    then solved exactly."""
    zero = a_sum.dtype.type(0.0)
    one = a_sum.dtype.type(1.0)
    kappa = k.kappa
    ratio = k.ratio
    theta = k.threshold
    slack = a_sum.dtype.type(64.0) * np.finfo(a_sum.dtype).eps
    p_hi = one / z_hi  # 0 in an infinite last window
    q_hi = p_hi ** ratio
    if p_hi > zero:
        qp_hi = q_hi / p_hi
    else:
        qp_hi = zero if ratio > one else np.inf
    for i in range(width):
        w = row[i]
        a = a_sum[i] * ds + w
        bb = b_sum[i] * d + w
        a_sum[i] = a
        b_sum[i] = bb
        u1 = kappa * (bb - a)
        uh = kappa * (bb * p_hi - a * q_hi)
        d1 = kappa * (bb - ratio * a)
        dh = kappa * (bb - ratio * a * qp_hi)
        ends = max(u1, uh)
        px = (uh - dh * p_hi - u1 + d1) / (d1 - dh)
        if abs(dh) < np.inf and abs(px) < np.inf:
            concave = max(ends, u1 + d1 * (px - one)) if p_hi < px < one else ends
        else:  # only the tangent at the window start bounds u
            concave = max(u1, u1 + d1 * (p_hi - one))
        bound = concave if a > zero else ends
        loose = bound + slack * (abs(kappa * a) + abs(kappa * bb)) - theta
        candidate[i] = np.uint8(min(loose, -full[i]) >= zero)
    n_cand = 0
    for word in range(n_words):
        if candidate_words[word] != 0:
            for i in range(word * 8, word * 8 + 8):
                flagged[n_cand] = i
                n_cand += candidate[i]
    return n_cand


@njit(cache=True, inline="always")
def _simulate_block(b, n0, n1, event_times, event_source, n_events, decay_s, decay, z_end,
                    weight_t, k, max_spikes, scratch, out_times, saturated, log_entry,
                    log_record, time_log, window_start):
    """Neurons n0..n1-1 of sample b through the sample's n_events merged events (1-d rows
    event_times, event_source, decay_s, decay, z_end: one row of :class:`EventRows`) with
    the layer constants ``k`` and ``max_spikes`` slots per neuron, in the working rows
    ``scratch`` of :func:`_block_scratch`. The spike times go to out_times (batch, out, K)
    unless it is None. With ``log_entry`` (not None) the block's spike log goes to its
    segment (``kernels/spike_log.py``) of the sample's log row log_entry (out * K,), with
    the (z', f2') records to log_record (out * K, 2) and the spike times to time_log
    (out * K,) where those are not None, and the window starts (relative to that segment)
    to the 1-d ``window_start``. Returns the log's end."""
    zero = weight_t.dtype.type(0.0)
    one = weight_t.dtype.type(1.0)
    if out_times is not None:
        out_times[b, n0:n1] = np.inf
    saturated[b, n0:n1] = False
    width = n1 - n0
    count, a_sum, b_sum, candidate, candidate_words, flagged, full = scratch
    n_words = (width + 7) // 8
    count[:width] = 0
    a_sum[:width] = zero
    b_sum[:width] = zero
    candidate[:8 * n_words] = 0  # the flags beyond width stay 0 (scanned in whole words)
    full[:width] = zero
    n_full = 0
    seg = segment_start(n0, max_spikes)  # this block's segment of the spike log
    pos = seg
    c = k.c
    inv_2c = k.inv_2c
    z_tolerance = k.z_tolerance
    closed_form = k.closed_form != zero
    for e in range(n_events):
        if window_start is not None:
            window_start[e] = pos - seg
        if n_full == width:
            continue  # every neuron saturated (TTFS: all have fired and would fire again)
        row = weight_t[event_source[e], n0:n1]
        ds = decay_s[e]
        d = decay[e]
        z_hi = z_end[e]
        if not z_hi > one:
            # A zero-length window (the next event is simultaneous, e.g. equal pixel
            # values): nothing can fire in it, so only accumulate A and B.
            for i in range(width):
                a_sum[i] = a_sum[i] * ds + row[i]
                b_sum[i] = b_sum[i] * d + row[i]
            continue
        t_e = event_times[e]
        if not closed_form:
            n_cand = _flag_general(a_sum, b_sum, row, ds, d, z_hi, k, full, candidate, width,
                                   candidate_words, n_words, flagged)
            t_hi = min(event_times[e + 1], k.t_max) if e + 1 < n_events else k.t_max
            s_hi = np.float64(t_hi) - np.float64(t_e)
            for j in range(n_cand):
                i = flagged[j]
                bb, pos = _fire_general(
                    b, n0 + i, np.float64(a_sum[i]), np.float64(b_sum[i]), s_hi, t_e, k,
                    max_spikes, out_times, count, i, saturated, log_entry, log_record,
                    time_log, pos)
                b_sum[i] = bb
                if saturated[b, n0 + i]:
                    full[i] = one
                    n_full += 1
            continue
        # Branch-free pass (vectorises): update A and B, and flag the neurons whose
        # first crossing may lie in the window. u reaches the threshold at z exactly
        # when q(z) = c z^2 - B z + A <= 0; q is convex (c > 0), so its minimum over the
        # window [z_tolerance, z_hi] is q at the vertex B / 2c clamped to the window
        # (z_hi = inf in the last window: then the vertex itself). Saturated neurons are
        # never flagged. No sqrt here: the flagged neurons are solved exactly below.
        for i in range(width):
            w = row[i]
            a = a_sum[i] * ds + w
            bb = b_sum[i] * d + w
            a_sum[i] = a
            b_sum[i] = bb
            zc = min(max(bb * inv_2c, z_tolerance), z_hi)
            margin = (c * zc - bb) * zc + a
            candidate[i] = np.uint8(max(margin, full[i]) <= zero)
        # Collect the flagged neurons (scanning the flags 8 at a time: candidates are rare)
        # without branching on each flag, then solve them in a loop whose branches are
        # predictable, so that the solves of different neurons overlap.
        n_cand = 0
        for word in range(n_words):
            if candidate_words[word] != 0:
                for i in range(word * 8, word * 8 + 8):
                    flagged[n_cand] = i
                    n_cand += candidate[i]
        for j in range(n_cand):
            i = flagged[j]
            a = a_sum[i]
            bb = b_sum[i]
            disc = bb * bb - k.four_c * a
            if disc < zero:
                continue  # a grazing touch that rounding put on either side
            x = np.sqrt(disc)
            z = (a + a) / (bb + x)
            if z > z_hi or z < z_tolerance:
                continue
            z = max(z, one)
            b_sum[i], pos = _fire_in_window(
                b, n0 + i, a, bb, x, z, z_hi, t_e, k, max_spikes, out_times, count, i,
                saturated, log_entry, log_record, time_log, pos)
            if saturated[b, n0 + i]:
                full[i] = one
                n_full += 1
    if window_start is not None:
        window_start[n_events] = pos - seg
    return pos


@njit(parallel=True, cache=True)
def lif_forward(events, weight_t, k, max_spikes, n_blocks, out_times, saturated, log_entry,
                log_record, window_start):
    """Simulate every (sample, block of neurons) pair in parallel, keeping the spike log.

    Parameters
    ----------
    events : :class:`~multispike.kernels.events.EventRows` of numpy arrays, the samples'
        merged input events (batch, S) (times, source, count and the window factors are read)
    weight_t : (in_features, out_features), the transposed weight, so that the loop over
        output neurons is contiguous
    k : the layer's :class:`~multispike.kernels.constants.LayerConstants`
    max_spikes : spike slots per output neuron (K)
    n_blocks : neuron blocks per sample (parallel tasks per sample)
    out_times : (batch, out, K) output spike times (written: +inf padded)
    saturated : (batch, out) bool, set for neurons that wanted more than K spikes
    log_entry, log_record, window_start : the spike log (``kernels/spike_log.py``):
        (batch, out * K) int32 entries, (batch, out * K, 2) records (z', f2'),
        (batch, n_blocks, S + 1) int32 window starts per block

    Every output may be uninitialised memory. ``z_tolerance`` (slightly below 1) lets a
    crossing that rounding placed a hair before the window start count at the window start
    instead of being lost between two windows.
    """
    event_times = events.times
    event_source = events.source
    n_events = events.count
    decay_s = events.decay_s
    decay = events.decay
    z_end = events.z_end
    n_tasks = event_times.shape[0] * n_blocks
    n_chunks, per_chunk = _task_chunks(n_tasks)
    for chunk in prange(n_chunks):
        scratch = _block_scratch(block_size(weight_t.shape[1], n_blocks), weight_t)
        for task in range(chunk * per_chunk, min(n_tasks, (chunk + 1) * per_chunk)):
            b, j, n0, n1 = _task_block(task, n_blocks, weight_t.shape[1])
            starts = window_start[b, j]
            if n0 >= n1:
                starts[:] = 0  # an empty block logs nothing
                continue
            if n_events[b] == 0:  # no input (e.g. a blank part of an image): nothing fires
                out_times[b, n0:n1] = np.inf
                saturated[b, n0:n1] = False
                starts[0] = 0
                continue
            _simulate_block(b, n0, n1, event_times[b], event_source[b], n_events[b],
                            decay_s[b], decay[b], z_end[b], weight_t, k, max_spikes, scratch,
                            out_times, saturated, log_entry[b], log_record[b], None, starts)


@njit(cache=True, inline="always")
def _emit_block(b, n0, n1, event_times, event_source, n, decay_s, decay, z_end, weight_t, k,
                max_spikes, scratch, out_times, saturated, emit_times, emit_source, emit_count,
                emit_t_max):
    """:func:`_simulate_block` of a whole sample (one block) that also writes the sample's
    output spikes earlier than ``emit_t_max`` into row b of the emitted event list
    (emit_times, emit_source, emit_count) as a time-ordered event list for the next layer:
    ties in neuron order, which is the slot order
    :func:`~multispike.kernels.events.merge_sample` leaves them in, as one neuron never
    spikes twice at the same time. The spike log lists the spikes window by window, so
    that they need no gathering, only the sort of ``merge_sample``. out_times may be None
    (a network that does not return this hidden layer's output)."""
    shift = log_shift(max_spikes)
    log = emit_source[b]  # the spike log, then (sorted) the emitted source neurons
    time_log = emit_times[b]  # the logged spike times, then (sorted) the emitted times
    starts = np.empty(n + 1, dtype=np.int32)
    end = _simulate_block(b, n0, n1, event_times, event_source, n, decay_s, decay, z_end,
                          weight_t, k, max_spikes, scratch, out_times, saturated, log, None,
                          time_log, starts)
    keys = np.empty(end, dtype=time_log.dtype)
    sources = np.empty(end, dtype=np.int32)
    m = 0
    for r in range(end):
        t = time_log[r]
        keys[m] = t
        sources[m] = entry_neuron(log[r], shift)
        m += t < emit_t_max
    times = emit_times[b]
    sort_events(keys, sources, m, times, log, np.empty(m + 1, dtype=np.int64))
    for r in range(1, m):  # equal times in neuron (= slot) order, as merge_sample leaves them
        t = times[r]
        source = log[r]
        j = r
        while j > 0 and times[j - 1] == t and log[j - 1] > source:
            log[j] = log[j - 1]
            j -= 1
        log[j] = source
    emit_count[b] = m


@njit(parallel=True, cache=True)
def lif_infer(spikes, events, weight_t, k, max_spikes, n_blocks, invalid, out_times,
              saturated, emitted, emit_t_max):
    """Inference in one parallel pass, without backward records.

    The input is either spike trains to merge or the event lists a previous layer emitted
    (exactly one of ``spikes`` and ``events`` is None). Each (sample, block of neurons)
    task merges its sample's spikes, or computes the window factors of its sample's
    events, into working event rows that the tasks of a chunk share
    (``kernels/events.py``), then simulates like :func:`lif_forward`.

    Parameters
    ----------
    spikes : (batch, in_features, slots) input spike times, or None
    events : :class:`~multispike.kernels.events.EventRows` of numpy arrays with times,
        source and count (sorted spikes earlier than this layer's t_max, which need no
        counting, checking or merging), or None
    weight_t : (in_features, out_features) the transposed weight
    k : the layer's :class:`~multispike.kernels.constants.LayerConstants`
    max_spikes : spike slots per output neuron (K)
    n_blocks : neuron blocks per sample (parallel tasks per sample); 1 when emitting
    invalid : (batch,) int64 receives the number of invalid spike times (NaN or negative)
        of each sample of ``spikes``, whose outputs are then left empty (the caller
        raises); not touched with ``events``
    out_times : (batch, out, K) output spike times (written: +inf padded), or None (only
        with ``emitted``) to write none
    saturated : (batch, out) bool, set for neurons that wanted more than K spikes
    emitted : None, or :class:`~multispike.kernels.events.EventRows` with times
        (batch, out * K), source (batch, out * K) int32 and count (batch,) int64 that
        receive each sample's output spikes earlier than ``emit_t_max`` as the
        time-ordered event list for the next layer
    emit_t_max : the next layer's t_max, in the dtype of the spike times

    Every output may be uninitialised memory.
    """
    n_out = weight_t.shape[1]
    batch = 0
    if spikes is not None:  # (numba drops a branch on an argument that is None)
        batch = spikes.shape[0]
    if events is not None:
        batch = events.count.shape[0]
        in_times = events.times
        in_source = events.source
        in_count = events.count
    if emitted is not None:
        emit_times = emitted.times
        emit_source = emitted.source
        emit_count = emitted.count
    n_tasks = batch * n_blocks
    n_chunks, per_chunk = _task_chunks(n_tasks)
    for chunk in prange(n_chunks):
        scratch = _block_scratch(block_size(n_out, n_blocks), weight_t)
        rows = _event_scratch(64, weight_t.dtype)
        for task in range(chunk * per_chunk, min(n_tasks, (chunk + 1) * per_chunk)):
            b, j, n0, n1 = _task_block(task, n_blocks, n_out)
            if n0 >= n1:
                continue
            if spikes is not None:
                n, ordered, bad = count_sample(spikes[b], k.t_max)
                if j == 0:
                    invalid[b] = bad
                if bad:
                    if out_times is not None:
                        out_times[b, n0:n1] = np.inf
                    saturated[b, n0:n1] = False
                    if emitted is not None:
                        emit_count[b] = 0
                    continue
                rows = _grown_events(rows, n)
                event_times, event_slot, event_source, decay_s, decay, z_end = rows
                merge_sample(spikes[b], n, ordered, k.t_max, k.tau_s, k.tau, event_times,
                             event_slot, event_source, decay_s, decay, z_end)
            if events is not None:
                n = in_count[b]
                rows = _grown_events(rows, n)
                _, _, _, decay_s, decay, z_end = rows
                event_times = in_times[b]
                event_source = in_source[b]
                window_factors(event_times, n, k.tau_s, k.tau, k.t_max, decay_s, decay, z_end)
            if emitted is not None:
                _emit_block(b, n0, n1, event_times, event_source, n, decay_s, decay, z_end,
                            weight_t, k, max_spikes, scratch, out_times, saturated, emit_times,
                            emit_source, emit_count, emit_t_max)
            else:
                _simulate_block(b, n0, n1, event_times, event_source, n, decay_s, decay,
                                z_end, weight_t, k, max_spikes, scratch, out_times, saturated,
                                None, None, None, None)
