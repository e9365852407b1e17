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

(f' are the forward's relative factors). Then, at input event j (so r = t_j):

    dL/dw_nm += S1 - S2,    dL/dt_j += sum_n w_nm (S1/tau_s - S2/tau),

and a spike i in the window of event r has E_i = dL/dt_i + (reset/tau^2) z'_i S2.
Moving to the previous event multiplies S1 by exp(-dt/tau_s) and S2 by exp(-dt/tau),
the same factors as the forward pass. Work is linear in events x neurons plus spikes.
"""
import numpy as np
from numba import njit, prange


@njit(cache=True)
def _spikes_by_window(b, n0, n1, out_window, out_count, n_events, order, offsets):
    """Counting sort of the spikes of sample b and neurons n0..n1-1 by window, each
    neuron's spikes last-to-first.

    Fills ``order`` with flat indices (n - n0) * K + k and ``offsets`` (length
    n_events + 1) so that the spikes of window e are order[offsets[e]:offsets[e + 1]].
    Returns the number of spikes.
    """
    max_spikes = out_window.shape[2]
    offsets[:] = 0
    total = 0
    for n in range(n0, n1):
        for k in range(out_count[b, n]):
            offsets[out_window[b, n, k] + 1] += 1
            total += 1
    for e in range(n_events):
        offsets[e + 1] += offsets[e]
    fill = offsets[:n_events].copy()
    for n in range(n0, n1):
        for k in range(out_count[b, n] - 1, -1, -1):
            e = out_window[b, n, k]
            order[fill[e]] = (n - n0) * max_spikes + k
            fill[e] += 1
    return total


@njit(parallel=True, cache=True, fastmath={"reassoc"})
def lif_backward(grad_out, out_window, out_record, out_count,
                 event_source, n_events, decay_s, decay, weight_t,
                 inv_tau_s, inv_tau, reset_over_tau2, need_input_grad,
                 grad_events, grad_weight_t):
    """Accumulate dL/d(input event times) and dL/dW^T.

    grad_out (batch, out, K) holds dL/dt_k for every output slot (ignored for empty slots);
    out_window and out_record (z'_k, f2'_k per spike) come from the forward kernel.
    The work is split into tasks over chunks of samples (wide batches, narrow layers) or
    blocks of output neurons (wide layers), chosen by the caller through the shapes:
    grad_weight_t (n_chunks, in, out) receives one partial weight gradient per sample chunk
    and grad_events (n_blocks, batch, S) one partial dL/dt_j per neuron block, both summed
    over their first axis by the caller, so that parallel tasks never write to the same
    memory. Without ``need_input_grad`` (e.g. for the first layer) grad_events is left
    untouched. fastmath "reassoc" lets the sums over neurons vectorise (rounding-level
    differences).
    """
    batch = grad_out.shape[0]
    n_out = grad_out.shape[1]
    max_spikes = grad_out.shape[2]
    n_chunks = grad_weight_t.shape[0]
    n_blocks = grad_events.shape[0]
    per_chunk = (batch + n_chunks - 1) // n_chunks
    block = (n_out + n_blocks - 1) // n_blocks
    for task in prange(n_chunks * n_blocks):
        chunk = task // n_blocks
        j = task % n_blocks
        n0 = j * block
        n1 = min(n_out, n0 + block)
        if n0 >= n1:
            continue
        width = n1 - n0
        gw = grad_weight_t[chunk]
        s1 = np.zeros(width, dtype=grad_out.dtype)
        s2 = np.zeros(width, dtype=grad_out.dtype)
        order = np.empty(width * max_spikes, dtype=np.int64)
        offsets = np.zeros(event_source.shape[1] + 1, dtype=np.int64)
        for b in range(chunk * per_chunk, min(batch, (chunk + 1) * per_chunk)):
            n_ev = n_events[b]
            if _spikes_by_window(b, n0, n1, out_window, out_count, n_ev, order, offsets) == 0:
                continue
            last = n_ev - 1
            while offsets[last + 1] == offsets[last]:
                last -= 1  # events after the last spike cannot influence any spike
            s1[:] = 0
            s2[:] = 0
            for e in range(last, -1, -1):
                for r in range(offsets[e], offsets[e + 1]):
                    i = order[r] // max_spikes
                    k = order[r] % max_spikes
                    n = n0 + i
                    z = out_record[b, n, k, 0]
                    f2 = out_record[b, n, k, 1]
                    err = grad_out[b, n, k] + reset_over_tau2 * z * s2[i]
                    s1[i] += err * (f2 / z)  # f1'_k = tau / (z'_k x'_k)
                    s2[i] += err * f2
                m = event_source[b, e]
                row = weight_t[m, n0:n1]
                grow = gw[m, n0:n1]
                ds = decay_s[b, e]
                d = decay[b, e]
                if need_input_grad:
                    g = grad_out.dtype.type(0.0)
                    for i in range(width):
                        g += row[i] * (s1[i] * inv_tau_s - s2[i] * inv_tau)
                    grad_events[j, b, e] = g
                for i in range(width):
                    grow[i] += s1[i] - s2[i]
                    s1[i] *= ds
                    s2[i] *= d
