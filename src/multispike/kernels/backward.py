"""Backward kernel: exact gradients of a LIF layer's spike times (BATS).

For spike k of neuron n, fired in the window that starts at input event r_k,

    dt_k/dA = f1_k = tau / (z_k x_k),      dt_k/dB = -f2_k = -tau / x_k,

so for an earlier input spike j (input neuron m, time t_j <= r_k, weight w = w_nm)

    dt_k/dw_nm += f1_k exp(t_j/tau_s) - f2_k exp(t_j/tau)
    dt_k/dt_j   = w (f1_k exp(t_j/tau_s) / tau_s - f2_k exp(t_j/tau) / tau)

and an earlier own spike i (through the reset term of B) contributes

    dt_k/dt_i = f2_k * reset * z_i / tau^2.

With E_k the total error of spike k (its own dL/dt_k plus what later spikes of the same
neuron send back through their resets), the kernel walks the events from last to first and
keeps, per neuron and relative to the current event time r,

    S1 = sum_{k later} E_k f1'_k exp((r - r_k)/tau_s),   S2 = sum_{k later} E_k f2'_k exp((r - r_k)/tau)

(f' are the forward's relative factors, read from its spike log). Then, at input event j (so r = t_j):

    dL/dw_nm += S1 - S2,    dL/dt_j += sum_n w_nm (S1/tau_s - S2/tau),

and a spike i in the window of event r has E_i = dL/dt_i + (reset/tau^2) z'_i S2.
For any ratio tau = r tau_s the same walk holds with the implicit-function factors of
``kernels/crossing.py`` (f1 = kappa exp(-t/tau_s) / u'(t), f2 = kappa exp(-t/tau) / u'(t),
kappa = tau tau_s / (tau - tau_s) = tau at 2:1), recorded by the forward pass, and the reset
coupling reset / (kappa tau) in place of reset / tau^2.
Moving to the previous event multiplies S1 by exp(-dt/tau_s) and S2 by exp(-dt/tau),
the same factors as the forward pass. Work is linear in events x neurons plus spikes.
"""
import numpy as np
from numba import njit, prange

from .spike_log import block_size, entry_neuron, entry_slot, log_shift, segment_start


@njit(parallel=True, cache=True, fastmath={"reassoc"})
def lif_backward(grad_out, log_entry, log_record, window_start, events, weight_t, k, n_chunks,
                 grad_events, grad_weight_t, need_input_grad):
    """Accumulate dL/d(input event times) and dL/dW^T.

    Parameters
    ----------
    grad_out : (batch, out, K) dL/dt_k for every output slot (ignored for empty slots)
    log_entry, log_record, window_start : the forward kernel's spike log
        (``kernels/spike_log.py``; records (z'_k, f2'_k), or (z'_k, f2'_k, f1'_k) for a
        ratio of the time constants other than 2, per spike)
    events : the forward pass's :class:`~multispike.kernels.events.EventRows` (numpy;
        source, count, decay_s and decay are read)
    weight_t : (in, out) transposed weight
    k : the layer's :class:`~multispike.kernels.constants.LayerConstants`
    n_chunks : chunks of samples processed in parallel
    grad_events : (batch, S) receives dL/dt_j per merged input event, only with
        ``need_input_grad`` (e.g. not for the first layer); otherwise left untouched
    grad_weight_t : (n_chunks, in, out) receives one partial weight gradient per chunk
        (each task zeroes its own part first, so it may be uninitialised memory; summed by
        :func:`sum_partials` or :func:`sum_transpose`), so that parallel chunks never write
        to the same memory
    need_input_grad : whether grad_events is computed (the weight gradient always is)

    fastmath "reassoc" lets the sum over neurons vectorise (rounding-level differences).
    """
    event_source = events.source
    n_events = events.count
    decay_s = events.decay_s
    decay = events.decay
    batch = grad_out.shape[0]
    n_out = grad_out.shape[1]
    max_spikes = grad_out.shape[2]
    n_blocks = window_start.shape[1]
    block = block_size(n_out, n_blocks)
    shift = log_shift(max_spikes)
    inv_tau_s = k.inv_tau_s
    inv_tau = k.inv_tau
    reset_over_tau2 = k.reset_over_tau2
    has_f1 = log_record.shape[2] == 3
    per_chunk = (batch + n_chunks - 1) // n_chunks
    for chunk in prange(n_chunks):
        gw = grad_weight_t[chunk]
        gw[:] = 0
        s1 = np.zeros(n_out, dtype=grad_out.dtype)
        s2 = np.zeros(n_out, dtype=grad_out.dtype)
        for b in range(chunk * per_chunk, min(batch, (chunk + 1) * per_chunk)):
            n_ev = n_events[b]
            starts = window_start[b]
            last = -1  # events after the window of the last spike cannot influence any spike
            for j in range(n_blocks):
                if starts[j, n_ev] > 0:
                    e = n_ev - 1
                    while starts[j, e] == starts[j, n_ev]:
                        e -= 1
                    last = max(last, e)
            if last < 0:
                continue
            s1[:] = 0
            s2[:] = 0
            for e in range(last, -1, -1):
                for j in range(n_blocks):  # this window's spikes, last to first
                    seg = segment_start(j * block, max_spikes)
                    for r in range(seg + starts[j, e + 1] - 1, seg + starts[j, e] - 1, -1):
                        n = entry_neuron(log_entry[b, r], shift)
                        slot = entry_slot(log_entry[b, r], shift)
                        z = log_record[b, r, 0]
                        f2 = log_record[b, r, 1]
                        # f1'_k = tau / (z'_k x'_k) at 2:1, else recorded
                        f1 = log_record[b, r, 2] if has_f1 else f2 / z
                        err = grad_out[b, n, slot] + reset_over_tau2 * z * s2[n]
                        s1[n] += err * f1
                        s2[n] += err * f2
                m = event_source[b, e]
                row = weight_t[m]
                grow = gw[m]
                ds = decay_s[b, e]
                d = decay[b, e]
                if need_input_grad:  # one pass over the neurons for both gradients
                    g = grad_out.dtype.type(0.0)
                    for n in range(n_out):
                        a1 = s1[n]
                        a2 = s2[n]
                        g += row[n] * (a1 * inv_tau_s - a2 * inv_tau)
                        grow[n] += a1 - a2
                        s1[n] = a1 * ds
                        s2[n] = a2 * d
                    grad_events[b, e] = g
                else:
                    for n in range(n_out):
                        grow[n] += s1[n] - s2[n]
                        s1[n] *= ds
                        s2[n] *= d


@njit(parallel=True, cache=True)
def sum_partials(partials, out):
    """out[m, n] = sum_c partials[c, m, n]: the weight gradient in the transposed (in, out)
    layout, from the per-chunk partial sums of :func:`lif_backward`."""
    n_chunks, n_in, n_out = partials.shape
    for m in prange(n_in):
        dst = out[m]
        dst[:] = partials[0, m]
        for c in range(1, n_chunks):
            src = partials[c, m]
            for n in range(n_out):
                dst[n] += src[n]


@njit(parallel=True, cache=True)
def sum_transpose(partials, out):
    """out[n, m] = sum_c partials[c, m, n]: the weight gradient in the (out, in) layout of
    the weight, from the per-chunk transposed partial sums of :func:`lif_backward`.
    The chunks are first added into partials[0] (contiguous rows, vectorised), which is
    then transposed in 32 x 32 tiles so that reads and writes stay in cache."""
    n_chunks, n_in, n_out = partials.shape
    total = partials[0]
    for m in prange(n_in):
        for c in range(1, n_chunks):
            src = partials[c, m]
            dst = total[m]
            for n in range(n_out):
                dst[n] += src[n]
    tile = 32
    tiles_in = (n_in + tile - 1) // tile
    for t in prange(tiles_in):
        m0 = t * tile
        m1 = min(n_in, m0 + tile)
        buf = np.empty((tile, tile), dtype=out.dtype)
        for n0 in range(0, n_out, tile):
            n1 = min(n_out, n0 + tile)
            for m in range(m0, m1):  # contiguous reads
                for n in range(n0, n1):
                    buf[n - n0, m - m0] = total[m, n]
            for n in range(n0, n1):  # contiguous writes
                for m in range(m0, m1):
                    out[n, m] = buf[n - n0, m - m0]


@njit(parallel=True, cache=True)
def scatter_event_grads(grad_events, event_slot, n_events, grad_times):
    """grad_times[b, s] = sum of grad_events[b, e] over the events e of slot s (zero for
    slots without an event): dL/d(input spike times) in the (batch, in * slots) layout."""
    for b in prange(grad_times.shape[0]):
        row = grad_times[b]
        row[:] = 0
        for e in range(n_events[b]):
            row[event_slot[b, e]] += grad_events[b, e]
