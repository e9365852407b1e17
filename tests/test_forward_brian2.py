"""Forward pass of the exact event-driven LIF layer against an independent brian2 simulation.

The oracle (tests/brian2_oracle.py, validated in tests/test_brian2_oracle.py) integrates
the same ODEs exactly on a dt = 1e-5 grid, detects threshold crossings at grid points and
interpolates them inside the step (including the timing of the reset).  Both simulators get
the same grid-rounded input times.

Tolerances: spike counts must match exactly and spike times within 3*dt (the brief's
"a few dt").  For float64 we additionally require 0.1*dt: the interpolated oracle is
accurate to ~1e-3*dt on well-conditioned crossings (see test_brian2_oracle.py), so
this tighter bound is still a wide margin, and it catches systematic errors (e.g. a reset
applied at the wrong time) that 3*dt would hide.

Ill-conditioned cases -- where any dt-simulation can legitimately disagree with the exact
solution -- are a near-tangent approach to the threshold (a sub-threshold maximum of u
within a hair of theta, or a crossing with a tiny slope) and a spike right at t_max.
Each case checks from the oracle's voltage trace that none of these occur
(``assert_well_conditioned``), so a failure of the comparison cannot be blamed on them;
the seeds/gains below were chosen such that the check passes (gains were tuned only so
that enough neurons fire several times).
"""
from dataclasses import dataclass

import numpy as np
import pytest
import torch

pytest.importorskip("brian2")
# brian2 uses pyparsing APIs deprecated in pyparsing 3.3 (a flood of warnings per run)
pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning:brian2.*"),
              pytest.mark.filterwarnings("ignore::DeprecationWarning:pyparsing.*")]

import multispike  # noqa: E402
from multispike.functional import lif  # noqa: E402
from brian2_oracle import round_to_grid, simulate_lif_batch  # noqa: E402

DT = 1e-5
T_MAX = 0.3
TOL = 3 * DT          # all cases
TOL_F64 = 0.1 * DT    # float64 cases (see module docstring)


@dataclass(frozen=True)
class Case:
    seed: int
    n_in: int
    n_out: int
    batch: int
    k_in: int          # input slots per input neuron (1..k_in of them used)
    tau_s: float
    threshold: float
    reset_factor: float | None   # reset = reset_factor * threshold; None -> reset=None
    max_spikes: int
    gain: float        # weights ~ U(0, gain) * (weight whose lone PSP peaks at theta)
    inhib: float       # fraction of negative weights
    t_in: float        # inputs drawn in [0, t_in)
    dtype: torch.dtype = torch.float64
    module: bool = False  # go through multispike.LIF instead of functional.lif
    coarse: float = 0.0   # if > 0, round inputs to this grid: many simultaneous input spikes

    @property
    def reset(self):
        return None if self.reset_factor is None else self.reset_factor * self.threshold


CASES = {
    # multi-spike
    "exc-tau0.05-reset=theta": Case(1, 8, 4, 4, 3, 0.05, 1.0, None, 20, 0.6, 0.0, 0.12),
    "mixed-tau0.1-reset<theta": Case(2, 10, 5, 4, 3, 0.1, 0.5, 0.5, 40, 1.0, 0.3, 0.15),
    # same network with max_spikes=5: saturating neurons must keep their first 5 spikes
    "mixed-tau0.1-reset<theta-saturating": Case(2, 10, 5, 4, 3, 0.1, 0.5, 0.5, 5, 1.0, 0.3,
                                                0.15),
    "mixed-tau0.2-reset>theta": Case(3, 12, 6, 3, 4, 0.2, 1.0, 1.5, 20, 1.2, 0.3, 0.15),
    "mixed-tau0.1-module": Case(8, 7, 3, 3, 3, 0.1, 0.2, None, 20, 1.5, 0.3, 0.15,
                                module=True),
    "float32-mixed-tau0.1-reset<theta": Case(7, 8, 4, 4, 3, 0.1, 1.0, 0.8, 20, 0.8, 0.3,
                                             0.15, dtype=torch.float32),
    # simultaneous input spikes, across inputs and within one input's slots
    "coincident-mixed-tau0.1": Case(9, 10, 4, 3, 4, 0.1, 1.0, 1.0, 40, 1.0, 0.3, 0.05,
                                    coarse=5e-3),
    # single spike (TTFS): compared with brian2's first spike
    "ttfs-exc-tau0.1": Case(4, 6, 3, 4, 2, 0.1, 1.0, None, 1, 0.5, 0.0, 0.15),
    "ttfs-mixed-tau0.05-reset<theta": Case(5, 9, 5, 4, 3, 0.05, 0.3, 0.7, 1, 0.8, 0.3, 0.12),
    "ttfs-mixed-tau0.2": Case(6, 5, 4, 4, 4, 0.2, 2.0, None, 1, 1.0, 0.25, 0.15),
}


def make_inputs(case: Case):
    """Grid-rounded input times (batch, n_in, k_in), shuffled slots, +inf padding; weights."""
    rng = np.random.default_rng(case.seed)
    times = rng.uniform(0.0, case.t_in, size=(case.batch, case.n_in, case.k_in))
    n_used = rng.integers(1, case.k_in + 1, size=(case.batch, case.n_in))
    times[np.arange(case.k_in)[None, None, :] >= n_used[..., None]] = np.inf
    for b in range(case.batch):
        for i in range(case.n_in):
            rng.shuffle(times[b, i])  # slots in arbitrary order, inf anywhere
    if case.coarse:
        times = round_to_grid(times, case.coarse)
    times = round_to_grid(times, DT)
    scale = case.threshold / (case.tau_s / 2)  # lone PSP peak is w * tau / 4 = w * tau_s / 2
    weight = rng.uniform(0.0, 1.0, size=(case.n_out, case.n_in)) * case.gain * scale
    sign = np.where(rng.uniform(size=weight.shape) < case.inhib, -1.0, 1.0)
    return times, weight * sign


def run_core(case: Case, times, weight):
    x = torch.tensor(times, dtype=case.dtype)
    if case.module:
        layer = multispike.LIF(case.n_in, case.n_out, tau_s=case.tau_s, threshold=case.threshold,
                               reset=case.reset, max_spikes=case.max_spikes, t_max=T_MAX,
                               dtype=case.dtype)
        with torch.no_grad():
            layer.weight.copy_(torch.tensor(weight, dtype=case.dtype))
        out = layer(x)
    else:
        out = lif(x, torch.tensor(weight, dtype=case.dtype), tau_s=case.tau_s,
                  threshold=case.threshold, reset=case.reset, max_spikes=case.max_spikes,
                  t_max=T_MAX)
    assert out.shape == (case.batch, case.n_out, case.max_spikes)
    assert out.dtype == case.dtype
    return out.detach().to(torch.float64).numpy()


def run_oracle(case: Case, times, weight):
    batch_inputs = [[times[b, i] for i in range(case.n_in)] for b in range(case.batch)]
    spikes, t, u = simulate_lif_batch(batch_inputs, weight, case.tau_s, case.threshold,
                                      case.reset, T_MAX + 20 * DT, dt=DT, record_voltage=True)
    return spikes, t, u


def assert_well_conditioned(spikes, u, theta):
    """No near-tangent threshold approach and no spike near T_MAX (see module docstring)."""
    for b, sample in enumerate(spikes):
        for o, s in enumerate(sample):
            assert not np.any(np.abs(s - T_MAX) < 5 * DT), f"spike too close to t_max at {(b, o)}"
            v = u[b, o]
            # sub-threshold local maxima must stay clearly below theta
            inner = v[1:-1]
            peak = (inner > v[:-2]) & (inner >= v[2:]) & (inner < theta)
            gap = theta - inner[peak]
            assert np.all(gap > 1e-4 * theta), (
                f"near-tangent miss at {(b, o)}: u peaks {gap.min():.3g} below theta")
            # crossings must be steep: u rises by a clear amount over the crossing step
            n = np.nonzero((v[1:] >= theta) & (v[:-1] < theta))[0] + 1
            slope = (v[n] - v[n - 1]) / DT
            assert np.all(slope > 0.1 * theta), (
                f"near-tangent crossing at {(b, o)}: slope {slope.min():.3g}")


def describe(b, o, got, ref):
    return f"sample {b}, neuron {o}:\n  core   {np.array2string(got, precision=8)}\n" \
           f"  brian2 {np.array2string(ref, precision=8)}"


@pytest.mark.parametrize("name", list(CASES))
def test_forward_matches_brian2(name):
    case = CASES[name]
    times, weight = make_inputs(case)
    assert np.isinf(times).any() and np.isfinite(times).sum() > case.batch * case.n_in
    if case.coarse:
        for b in range(case.batch):
            finite = times[b][np.isfinite(times[b])]
            assert len(np.unique(finite)) < len(finite) - 10  # plenty of coincidences
        same_neuron = [len(np.unique(r[np.isfinite(r)])) < np.isfinite(r).sum()
                       for r in times.reshape(-1, case.k_in)]
        assert any(same_neuron)
    core = run_core(case, times, weight)
    spikes, _, u = run_oracle(case, times, weight)
    assert_well_conditioned(spikes, u, case.threshold)

    ref_all = [[s[s < T_MAX] for s in sample] for sample in spikes]
    counts = np.array([[len(s) for s in sample] for sample in ref_all])
    if case.max_spikes == 1:
        n_firing = int((counts > 0).sum())
        assert n_firing >= counts.size // 2, f"too few neurons fire: {counts}"
        assert counts.max() >= 2  # brian2 sees later spikes that the core must drop
    else:
        assert counts.sum() >= 2 * counts.size, f"too few spikes: {counts}"
        assert (counts >= 3).sum() >= 3, f"too few neurons spike several times: {counts}"
        if name.endswith("saturating"):
            assert (counts > case.max_spikes).sum() >= 3
        else:
            assert counts.max() < case.max_spikes, "oracle would saturate max_spikes"
    if case.reset_factor is not None and case.reset_factor > 1:
        assert counts.max() >= 2  # the over-reset actually matters

    tol = TOL_F64 if case.dtype == torch.float64 else TOL
    errors = []
    for b in range(case.batch):
        for o in range(case.n_out):
            got_row = core[b, o]
            assert np.all(np.diff(got_row[np.isfinite(got_row)]) >= 0), "not ascending"
            assert np.all(np.isinf(got_row[np.sum(np.isfinite(got_row)):])), "padding"
            got = got_row[np.isfinite(got_row)]
            ref = ref_all[b][o][:case.max_spikes]
            if len(got) != len(ref):
                errors.append("count mismatch, " + describe(b, o, got, ref))
                continue
            if len(got):
                err = np.max(np.abs(got - ref))
                if err > tol:
                    errors.append(f"max |dt| = {err / DT:.3g} dt, " + describe(b, o, got, ref))
    assert not errors, f"{name}: {len(errors)} neurons differ\n" + "\n".join(errors[:6])
