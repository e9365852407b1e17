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
needs: the window (event index) it fired in, and the record (z'_k, f2'_k = tau / x'_k),
both relative to the window's reference time (the backward pass derives
f1'_k = tau / (z'_k x'_k) = f2'_k / z'_k). z' and f2' sit side by side in one record so
that recording a spike touches three cache lines (time, window, record), not five.

Near a grazing crossing (x -> 0, the membrane just touches the threshold) the exact
derivatives diverge like 1/x. The factors use max(x, grad_floor * B), with grad_floor of the
order of the square root of the float precision: below it x is rounding noise anyway, and an
infinite derivative would turn the whole gradient into NaN.
"""
import numpy as np
from numba import njit, prange


@njit(cache=True, inline="always")
def _fire_in_window(b, n, e, a, bb, x, z, z_hi, t_e, four_c, reset_over_tau, tau, grad_floor,
                    keep_records, out_times, out_window, out_record, out_count, saturated):
    """Record the spike at z (root x) and every further one in window e of neuron n.

    Returns the new B (lowered by the resets). A neuron whose slots are full is marked
    saturated (the caller then stops testing it: its later spikes are dropped).
    """
    zero = bb * 0
    max_spikes = out_times.shape[2]
    while True:
        k = out_count[b, n]
        if k == max_spikes:
            saturated[b, n] = True
            return bb
        out_times[b, n, k] = t_e + tau * np.log(z)
        if keep_records:
            out_window[b, n, k] = e
            out_record[b, n, k, 0] = z
            out_record[b, n, k, 1] = tau / max(x, grad_floor * bb)
        out_count[b, n] = k + 1
        bb = bb - reset_over_tau * z
        if bb <= zero:
            return bb
        disc = bb * bb - four_c * a
        if disc < zero:
            return bb
        x = np.sqrt(disc)
        z_next = (a + a) / (bb + x)
        if z_next > z_hi or not z_next > z:
            return bb
        z = z_next


@njit(parallel=True, cache=True)
def lif_forward(event_times, event_source, n_events, decay_s, decay, z_end, weight_t,
                c, two_c_lo, four_c, reset_over_tau, tau, z_tolerance, grad_floor, n_blocks,
                keep_records, out_times, out_window, out_record, out_count, saturated):
    """Simulate every (sample, block of neurons) pair in parallel.

    Shapes: event_* (batch, S); weight_t (in_features, out_features), i.e. the transposed
    weight so that the loop over output neurons is contiguous; out_times (batch, out, K);
    out_window (batch, out, K) int32; out_record (batch, out, K, 2) holds (z', f2') per
    spike, written only when ``keep_records`` is true (training; inference passes placeholders);
    out_count (batch, out) int; saturated (batch, out) bool. The kernel initialises all
    outputs itself (+inf times, zero counts, False), so they may be uninitialised memory.
    ``two_c_lo`` is 2c * z_tolerance. ``z_tolerance`` (slightly below 1) lets a crossing
    that rounding placed a hair before the window start count at the window start instead
    of being lost between two windows.
    """
    batch = event_times.shape[0]
    n_out = weight_t.shape[1]
    block = (n_out + n_blocks - 1) // n_blocks
    zero = weight_t.dtype.type(0.0)
    one = weight_t.dtype.type(1.0)
    for task in prange(batch * n_blocks):
        b = task // n_blocks
        n0 = (task % n_blocks) * block
        n1 = min(n_out, n0 + block)
        if n0 >= n1:
            continue
        out_times[b, n0:n1] = np.inf
        out_count[b, n0:n1] = 0
        saturated[b, n0:n1] = False
        width = n1 - n0
        a_sum = np.zeros(width, dtype=weight_t.dtype)
        b_sum = np.zeros(width, dtype=weight_t.dtype)
        candidate = np.zeros((width + 7) // 8 * 8, dtype=np.uint8)  # padded to whole words
        candidate_words = candidate.view(np.uint64)
        full = np.zeros(width, dtype=weight_t.dtype)  # 1 once a neuron is saturated, else 0
        for e in range(n_events[b]):
            row = weight_t[event_source[b, e], n0:n1]
            ds = decay_s[b, e]
            d = decay[b, e]
            z_hi = z_end[b, e]
            if not z_hi > one:
                # A zero-length window (the next event is simultaneous, e.g. equal pixel
                # values): nothing can fire in it, so only accumulate A and B.
                for i in range(width):
                    a_sum[i] = a_sum[i] * ds + row[i]
                    b_sum[i] = b_sum[i] * d + row[i]
                continue
            if z_hi == np.inf:  # last window: q(z_hi) = +inf, only the vertex test remains
                two_c_hi = z_hi
                c_hi2 = z_hi
                z_hi_q = zero
            else:
                two_c_hi = (c + c) * z_hi
                c_hi2 = c * z_hi * z_hi
                z_hi_q = z_hi
            # Branch-free pass (vectorises): update A and B, and flag the neurons whose
            # first crossing may lie in (1, z_hi]. With q(z) = c z^2 - B z + A and q(1) > 0
            # (u below threshold at the window start) that is either q(z_hi) <= 0 (u above
            # threshold at the window end), or the vertex B / 2c inside the window with
            # real roots (B^2 >= 4 A c: u touches the threshold in between); saturated
            # neurons are never flagged. Each condition is written as "margin <= 0" and
            # combined with min (or) / max (and), which vectorise better than boolean logic.
            # No sqrt here: the flagged neurons are solved exactly below.
            for i in range(width):
                w = row[i]
                a = a_sum[i] * ds + w
                bb = b_sum[i] * d + w
                a_sum[i] = a
                b_sum[i] = bb
                vertex_inside = max(two_c_lo - bb, bb - two_c_hi)
                touches = max(vertex_inside, four_c * a - bb * bb)
                margin = min(c_hi2 + a - bb * z_hi_q, touches)
                candidate[i] = np.uint8(max(margin, full[i]) <= zero)
            t_e = event_times[b, e]
            for word in range(candidate_words.shape[0]):
                if candidate_words[word] == 0:
                    continue  # the flags are scanned 8 at a time: candidates are rare
                for i in range(word * 8, word * 8 + 8):
                    if candidate[i] == 0:
                        continue
                    a = a_sum[i]
                    bb = b_sum[i]
                    x = np.sqrt(bb * bb - four_c * a)
                    z = (a + a) / (bb + x)
                    if z > z_hi or z < z_tolerance:
                        continue
                    z = max(z, one)
                    b_sum[i] = _fire_in_window(
                        b, n0 + i, e, a, bb, x, z, z_hi, t_e, four_c, reset_over_tau, tau,
                        grad_floor, keep_records, out_times, out_window, out_record, out_count,
                        saturated)
                    if saturated[b, n0 + i]:
                        full[i] = one
