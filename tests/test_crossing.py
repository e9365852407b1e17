"""The threshold crossing for any ratio of the time constants (kernels/crossing.py), against
the 2:1 closed form and a dense float64 scan of the potential."""
import math

import numpy as np
import pytest

from multispike.kernels.crossing import crossing_factors, first_crossing


def potential(a, b, s, tau_m, tau_s):
    kappa = tau_m * tau_s / (tau_m - tau_s)
    return kappa * (b * np.exp(-s / tau_m) - a * np.exp(-s / tau_s))


def crossing(a, b, lo, hi, theta, tau_m, tau_s, at_start=True):
    kappa = tau_m * tau_s / (tau_m - tau_s)
    return first_crossing(a, b, lo, hi, theta, kappa, 1 / tau_m, 1 / tau_s, at_start)


def scanned_crossing(a, b, lo, hi, theta, tau_m, tau_s, n=200001):
    """The first grid point of a fine scan at which u >= theta, or inf."""
    s = np.linspace(lo, hi, n)
    above = np.nonzero(potential(a, b, s, tau_m, tau_s) >= theta)[0]
    return (s[above[0]], s[1] - s[0]) if len(above) else (math.inf, s[1] - s[0])


def test_ratio_two_agrees_with_the_closed_form():
    rng = np.random.default_rng(0)
    tau_s, theta = 0.5, 1.0
    tau = 2 * tau_s
    checked = 0
    for _ in range(2000):
        a, b = rng.uniform(-3, 6, 2)
        hi = rng.uniform(0.01, 5)
        c = theta / tau
        disc = b * b - 4 * a * c
        expected = math.inf
        if disc >= 0 and b > 0:
            z = 2 * a / (b + math.sqrt(disc))
            if 1 <= z <= math.exp(hi / tau):
                expected = tau * math.log(z)
        got = crossing(a, b, 0.0, hi, theta, tau, tau_s)
        if potential(a, b, 0.0, tau, tau_s) >= theta:
            continue  # above threshold at the start: the closed form is not asked there
        if math.isinf(expected):
            assert math.isinf(got), (a, b, hi)
        else:
            checked += 1
            assert got == pytest.approx(expected, rel=1e-12, abs=1e-12), (a, b, hi)
    assert checked > 50


@pytest.mark.parametrize("ratio", [0.5, 1.5, 3.0, 5.0, 10.0, 20.0])
def test_any_ratio_agrees_with_a_dense_scan(ratio):
    rng = np.random.default_rng(int(ratio * 10))
    tau_s, theta = 1.0, 0.3
    tau_m = ratio * tau_s
    fired = 0
    for _ in range(600):
        a = rng.uniform(-1, 4)
        b = a * rng.uniform(0.3, 1.7)  # window sums of inputs and resets: B near A
        lo, hi = 0.0, rng.uniform(0.1, 8)
        if potential(a, b, lo, tau_m, tau_s) >= theta:
            continue
        got = crossing(a, b, lo, hi, theta, tau_m, tau_s)
        scanned, step = scanned_crossing(a, b, lo, hi, theta, tau_m, tau_s)
        if math.isinf(scanned):
            # none on the grid: only a peak narrower than the grid may have been missed
            assert math.isinf(got) or max(potential(a, b, got + np.array([-step, step]), tau_m, tau_s)) < theta
        else:
            fired += 1
            assert scanned - step <= got <= scanned, (a, b, hi)
            assert potential(a, b, got, tau_m, tau_s) >= theta - 1e-12  # never invented (to rounding)
            assert potential(a, b, np.nextafter(got, -np.inf), tau_m, tau_s) < theta + 1e-12
    assert fired > 20


def test_the_second_piece_after_a_minimum_is_searched():
    """a < 0 < b with tau_mem > tau_s: u falls to a minimum, then rises through theta."""
    tau_m, tau_s, theta = 2.0, 1.0, 0.1
    a, b = -1.0, 0.3
    got = crossing(a, b, 0.0, 10.0, theta, tau_m, tau_s)
    scanned, step = scanned_crossing(a, b, 0.0, 10.0, theta, tau_m, tau_s)
    assert scanned - step <= got <= scanned


def test_grazing_peak_fires_at_the_peak_with_a_finite_gradient():
    tau_m, tau_s = 3.0, 1.0
    kappa = tau_m * tau_s / (tau_m - tau_s)
    a, b = 1.0, 1.5
    s_star = math.log((a / tau_s) / (b / tau_m)) / (1 / tau_s - 1 / tau_m)
    peak = potential(a, b, s_star, tau_m, tau_s)
    assert crossing(a, b, 0.0, 10.0, peak, tau_m, tau_s) == pytest.approx(s_star, abs=1e-6)
    assert math.isinf(crossing(a, b, 0.0, 10.0, peak * (1 + 1e-9), tau_m, tau_s))
    f1, f2 = crossing_factors(a, b, s_star, kappa, 1 / tau_m, 1 / tau_s, 1e-3)
    assert math.isfinite(f1) and math.isfinite(f2) and f1 > 0 and f2 > 0


def test_crossing_at_the_window_edge_and_at_its_start():
    tau_m, tau_s, theta = 2.0, 1.0, 0.5
    a, b = 0.0, 1.0  # u = kappa b exp(-s/tau_m): decreasing from kappa b = 2
    assert crossing(a, b, 0.0, 1.0, theta, tau_m, tau_s) == 0.0  # above at the start
    assert math.isinf(crossing(a, b, 0.0, 1.0, theta, tau_m, tau_s, at_start=False))
    a, b = 2.0, 2.0  # rising: find the crossing, then a window ending exactly there
    s = crossing(a, b, 0.0, 10.0, theta, tau_m, tau_s)
    assert crossing(a, b, 0.0, s, theta, tau_m, tau_s) == s
    assert math.isinf(crossing(a, b, 0.0, np.nextafter(s, 0) * (1 - 1e-12), theta, tau_m, tau_s))


def test_last_window_may_be_infinite():
    tau_m, tau_s, theta = 4.0, 1.0, 0.2
    assert math.isfinite(crossing(1.0, 1.2, 0.0, math.inf, theta, tau_m, tau_s))
    assert math.isinf(crossing(1.0, 1.0, 0.0, math.inf, 10.0, tau_m, tau_s))


@pytest.mark.parametrize("ratio", [0.5, 2.0, 3.0])
def test_factors_are_the_implicit_derivatives(ratio):
    tau_s, theta = 1.0, 0.4
    tau_m = ratio * tau_s
    kappa = tau_m * tau_s / (tau_m - tau_s)
    a, b = 1.5, 1.4  # u(0) = kappa (b - a) is below theta for either sign of kappa
    s = crossing(a, b, 0.0, 20.0, theta, tau_m, tau_s)
    assert math.isfinite(s)
    f1, f2 = crossing_factors(a, b, s, kappa, 1 / tau_m, 1 / tau_s, 0.0)
    h = 1e-6
    d_a = (crossing(a + h, b, 0.0, 20.0, theta, tau_m, tau_s) - crossing(a - h, b, 0.0, 20.0, theta, tau_m, tau_s)) / (2 * h)
    d_b = (crossing(a, b + h, 0.0, 20.0, theta, tau_m, tau_s) - crossing(a, b - h, 0.0, 20.0, theta, tau_m, tau_s)) / (2 * h)
    assert f1 == pytest.approx(d_a, rel=1e-5) and -f2 == pytest.approx(d_b, rel=1e-5)
