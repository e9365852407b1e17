"""Threshold crossings of the membrane for any ratio of the time constants.

With tau_mem = r tau_s (r > 0, r != 1) the potential between two events, at time s after
the window's reference time, is

    u(s) = kappa (B p(s) - A q(s)),   p = exp(-s/tau_mem),  q = exp(-s/tau_s),
    kappa = tau_mem tau_s / (tau_mem - tau_s),

with A and B the window sums relative to the reference time (DESIGN.md, "Any ratio of the
time constants"). Its derivative

    u'(s) = kappa (A q / tau_s - B p / tau_mem)

vanishes at most once, where exp(s (1/tau_s - 1/tau_mem)) = (A tau_mem) / (B tau_s), so the
window splits into at most two monotone pieces with known ends. A crossing of the threshold
from below lies on a piece whose start is below the threshold and whose end is at or above
it; a safeguarded Newton iteration (a Newton step when it stays inside the bracket, else
bisection) narrows that bracket until it cannot shrink in float64. The returned time is
the bracket's upper end, where u >= theta: a crossing is never invented (u really reaches
the threshold there) and never missed (every piece is tested). A peak that touches the
threshold exactly (u' = 0 at the crossing) counts as a spike, as in the 2:1 closed form.

The gradient of a crossing follows from the implicit function theorem:

    dt*/dA = kappa q(t*) / u'(t*),   dt*/dB = -kappa p(t*) / u'(t*),

with u'(t*) floored at ``grad_floor * |kappa B p(t*)| / tau_mem`` (the 2:1 closed form's
floor of its root x at ``grad_floor * B``, written for any ratio), so that a grazing
crossing has a large but finite gradient.
"""
import math

from numba import njit

__all__ = ["first_crossing", "crossing_factors"]

#: Iterations of the safeguarded Newton search; bisection alone halves a float64 bracket to
#: its last bit in fewer.
_MAX_ITERATIONS = 200


@njit(cache=True, inline="always")
def _potential(a, b, s, kappa, inv_tau_m, inv_tau_s):
    return kappa * (b * math.exp(-s * inv_tau_m) - a * math.exp(-s * inv_tau_s))


@njit(cache=True, inline="always")
def _slope(a, b, s, kappa, inv_tau_m, inv_tau_s):
    return kappa * (a * inv_tau_s * math.exp(-s * inv_tau_s) - b * inv_tau_m * math.exp(-s * inv_tau_m))


@njit(cache=True)
def _solve_bracket(a, b, lo, hi, theta, kappa, inv_tau_m, inv_tau_s):
    """The crossing in [lo, hi], where u(lo) < theta <= u(hi) and u increases: the upper end
    of the bracket once it cannot shrink any further."""
    s = hi
    for _ in range(_MAX_ITERATIONS):
        f = _potential(a, b, s, kappa, inv_tau_m, inv_tau_s) - theta
        if f >= 0.0:
            hi = s
        else:
            lo = s
        if f == 0.0:
            return s
        mid = lo + 0.5 * (hi - lo)
        if not (lo < mid < hi):
            return hi  # the bracket is two neighbouring floats
        slope = _slope(a, b, s, kappa, inv_tau_m, inv_tau_s)
        step = s - f / slope if slope > 0.0 else mid
        s = step if lo < step < hi else mid
    return hi


@njit(cache=True)
def first_crossing(a, b, s_lo, s_hi, theta, kappa, inv_tau_m, inv_tau_s, at_start):
    """The first time s in the window [s_lo, s_hi] (s_hi may be inf) at which
    u(s) = kappa (b exp(-s/tau_mem) - a exp(-s/tau_s)) reaches ``theta`` from below, or inf.

    A potential already at or above the threshold at s_lo (a crossing that rounding put just
    before the window) fires at s_lo when ``at_start`` is true, and is no crossing otherwise
    (after a spike at s_lo: a neuron fires again only strictly later). All arithmetic is in
    float64; ``inv_tau_m`` = 1/tau_mem, ``inv_tau_s`` = 1/tau_s.
    """
    if _potential(a, b, s_lo, kappa, inv_tau_m, inv_tau_s) >= theta:
        return s_lo if at_start else math.inf
    # the one extremum: exp(s (1/tau_s - 1/tau_mem)) = (a / tau_s) / (b / tau_mem)
    ends_lo = s_lo
    ratio = (a * inv_tau_s) / (b * inv_tau_m) if b != 0.0 else -1.0
    if ratio > 0.0:
        s_star = math.log(ratio) / (inv_tau_s - inv_tau_m)
        if s_lo < s_star < s_hi:
            if _potential(a, b, s_star, kappa, inv_tau_m, inv_tau_s) >= theta:
                return _solve_bracket(a, b, s_lo, s_star, theta, kappa, inv_tau_m, inv_tau_s)
            ends_lo = s_star  # below the threshold up to the extremum
    if s_hi == math.inf:
        return math.inf  # u decays to 0 < theta after its last extremum
    if _potential(a, b, s_hi, kappa, inv_tau_m, inv_tau_s) >= theta:
        return _solve_bracket(a, b, ends_lo, s_hi, theta, kappa, inv_tau_m, inv_tau_s)
    return math.inf


@njit(cache=True)
def crossing_factors(a, b, s, kappa, inv_tau_m, inv_tau_s, grad_floor):
    """(dt*/dA, -dt*/dB) of the crossing at s: kappa q / u' and kappa p / u' with
    u'(s) floored at grad_floor |kappa b p| / tau_mem."""
    p = math.exp(-s * inv_tau_m)
    q = math.exp(-s * inv_tau_s)
    slope = kappa * (a * inv_tau_s * q - b * inv_tau_m * p)
    slope = max(slope, grad_floor * abs(kappa * b * p) * inv_tau_m)
    return kappa * q / slope, kappa * p / slope
