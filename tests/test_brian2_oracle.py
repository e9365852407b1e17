"""Validation of the brian2 oracle (tests/brian2_oracle.py) against closed-form results.

Nothing here uses multispike: the reference is the analytic PSP kernel
``w * tau * (exp(-t/tau) - exp(-t/tau_s))`` plus the reset kernel
``-reset * exp(-t/tau)``, with threshold crossings found by scanning a 1e-6 grid and
refining with scipy's brentq.  These checks establish that the oracle has no extra
one-step synaptic delay, that its interpolated spike times are accurate to a tiny
fraction of dt, and what the plain (non-interpolated) brian2 times look like.
"""
import numpy as np
import pytest

pytest.importorskip("brian2")
# brian2 uses pyparsing APIs deprecated in pyparsing 3.3 (a flood of warnings per run)
pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning:brian2.*"),
              pytest.mark.filterwarnings("ignore::DeprecationWarning:pyparsing.*")]
brentq = pytest.importorskip("scipy.optimize").brentq

from brian2_oracle import round_to_grid, simulate_lif, simulate_lif_batch  # noqa: E402

DT = 1e-5


def analytic_u(t, inputs, tau_s, out_spikes=(), reset=0.0):
    """u(t) for a single neuron; ``inputs`` is a list of (time, weight)."""
    tau = 2.0 * tau_s
    t = np.asarray(t, dtype=np.float64)
    u = np.zeros_like(t)
    for tj, w in inputs:
        s = np.maximum(t - tj, 0.0)
        u += np.where(t > tj, w * tau * (np.exp(-s / tau) - np.exp(-s / tau_s)), 0.0)
    for tk in out_spikes:
        u -= np.where(t > tk, reset * np.exp(-np.maximum(t - tk, 0.0) / tau), 0.0)
    return u


def analytic_spikes(inputs, tau_s, theta, reset, t_end, max_spikes=100, scan=1e-6):
    """Threshold crossings (from below) of the analytic solution, each refined by brentq."""
    spikes = []
    grid = np.arange(0.0, t_end, scan)
    start = 0
    while len(spikes) < max_spikes:
        v = analytic_u(grid, inputs, tau_s, spikes, reset) - theta
        # after a spike, u - theta < 0 right after it (reset > 0); find next upward crossing
        above = np.nonzero(v[start:] >= 0)[0]
        if len(above) == 0:
            break
        k = start + above[0]
        assert k > 0 and v[k - 1] < 0
        T = brentq(lambda x: analytic_u(np.array([x]), inputs, tau_s, spikes, reset)[0] - theta,
                   grid[k - 1], grid[k], xtol=1e-15, rtol=1e-15)
        spikes.append(T)
        start = k + 1  # grid[k] > T; u(grid[k]) is now below theta after the reset
    return np.array(spikes)


def test_round_to_grid():
    t = np.array([0.0, 1.23456789e-3, np.inf, 0.1 + 4e-6, 0.1 + 6e-6])
    r = round_to_grid(t, DT)
    assert r[2] == np.inf
    np.testing.assert_allclose(r[[0, 1, 3, 4]], [0.0, 1.23e-3, 0.1, 0.10001], rtol=0, atol=1e-15)
    # idempotent
    np.testing.assert_array_equal(round_to_grid(r, DT), r)


def test_off_grid_input_rejected():
    with pytest.raises(ValueError, match="grid"):
        simulate_lif([np.array([0.0123456789])], np.array([[1.0]]), 0.05, 1.0, None, 0.01)


@pytest.mark.parametrize("t0", [0.0, 0.01237])
def test_voltage_matches_analytic_psp(t0):
    """Sub-threshold trace equals the closed form at the right times: no extra delay."""
    tau_s, w = 0.05, 30.0
    _, t, u = simulate_lif([np.array([t0])], np.array([[w], [-w]]), tau_s, 1e9, None, 0.1,
                           dt=DT, record_voltage=True)
    ref = analytic_u(t, [(t0, w)], tau_s)
    assert np.max(np.abs(ref)) > 0.5
    np.testing.assert_allclose(u[0], ref, rtol=0, atol=1e-10)
    np.testing.assert_allclose(u[1], -ref, rtol=0, atol=1e-10)
    # a one-step delay would be visible as an error of ~max|du/dt|*dt ~ 3e-4 here
    shifted = analytic_u(t, [(t0 + DT, w)], tau_s)
    assert np.max(np.abs(u[0] - shifted)) > 1e-4


@pytest.mark.parametrize("tau_s", [0.05, 0.2])
def test_single_input_first_spike_time(tau_s):
    """One input of weight w at t0; threshold crossing solved with brentq."""
    tau, theta, t0 = 2 * tau_s, 1.0, 0.01
    w = 6.0 / tau  # peak of the PSP is w*tau/4 = 1.5 theta
    f = lambda t: w * tau * (np.exp(-(t - t0) / tau) - np.exp(-(t - t0) / tau_s)) - theta  # noqa: E731
    T = brentq(f, t0 + 1e-12, t0 + 2 * tau_s * np.log(2), xtol=1e-15)
    t_end = T + 0.02
    exact = simulate_lif([np.array([t0])], np.array([[w]]), tau_s, theta, None, t_end, dt=DT)
    plain = simulate_lif([np.array([t0])], np.array([[w]]), tau_s, theta, None, t_end, dt=DT,
                         interpolate=False)
    assert len(exact[0]) == 1 and len(plain[0]) == 1
    assert abs(exact[0][0] - T) < 1e-3 * DT
    # plain brian2 labels the spike with the first grid point at or after the crossing
    assert 0.0 <= plain[0][0] - T < DT
    np.testing.assert_allclose(plain[0][0], np.ceil(T / DT) * DT, rtol=0, atol=1e-12)


@pytest.mark.parametrize("reset_factor", [0.5, 1.0, 1.7])
def test_multi_spike_with_reset_and_inhibition(reset_factor):
    """Several excitatory/inhibitory inputs, many output spikes, reset <,=,> threshold."""
    tau_s, theta = 0.05, 1.0
    reset = reset_factor * theta
    inputs = [(0.0, 150.0), (0.01, 60.0), (0.02, -80.0), (0.02, 40.0), (0.035, 200.0),
              (0.06, -150.0), (0.075, 120.0)]
    t_end = 0.2
    ref = analytic_spikes(inputs, tau_s, theta, reset, t_end)
    # one input neuron per (time, weight) pair, so each spike has its own weight
    times = [np.array([t]) for t, _ in inputs]
    weight = np.array([[w for _, w in inputs]])
    got = simulate_lif(times, weight, tau_s, theta, reset, t_end, dt=DT)[0]
    assert len(ref) >= 5, ref
    assert len(got) == len(ref), (got, ref)
    assert np.max(np.abs(got - ref)) < 0.01 * DT, np.abs(got - ref) / DT
    if reset_factor == 1.0:
        plain = simulate_lif(times, weight, tau_s, theta, reset, t_end, dt=DT,
                             interpolate=False)[0]
        assert len(plain) == len(ref)
        # without the sub-step corrections the reset happens up to dt late, so the error
        # accumulates over spikes; it stays a few dt here
        err = np.abs(plain - ref)
        assert np.max(err) < 10 * DT, err / DT


def test_repeated_spikes_and_batch():
    """Two spikes of one input in the same step add up; batch == separate runs;
    reset=None means reset=threshold; all-inf / empty inputs give no spikes."""
    tau_s, theta = 0.1, 0.5
    w = np.array([[12.0, -3.0], [8.0, 9.0], [0.0, 20.0]])
    s0 = [np.array([0.01, 0.01, np.inf]), np.array([0.03])]
    s1 = [np.array([np.inf]), np.array([0.05, 0.0, 0.02])]
    s2 = [np.array([np.inf]), np.array([])]
    batch = simulate_lif_batch([s0, s1, s2], w, tau_s, theta, None, 0.15, dt=DT)
    for sample, res in zip([s0, s1, s2], batch):
        single = simulate_lif(sample, w, tau_s, theta, theta, 0.15, dt=DT)
        for a, b in zip(res, single):
            np.testing.assert_array_equal(a, b)
    assert all(len(x) == 0 for x in batch[2])
    # doubled spike == single spike of doubled weight
    ref = analytic_spikes([(0.01, 24.0), (0.03, -3.0)], tau_s, theta, theta, 0.15)
    assert len(ref) >= 1
    np.testing.assert_allclose(batch[0][0], ref, rtol=0, atol=0.01 * DT)
    assert sum(len(x) for r in batch for x in r) >= 4
