"""Any ratio of the membrane and synaptic time constants: the general solver against brian2
simulating the same ODE, against the 2:1 closed form, and its gradients against float64
finite differences."""
import functools
import math

import numpy as np
import pytest
import torch

import multispike
import multispike.parameters as parameters_module
from multispike.functional import lif
from multispike.kernels import layer_constants

pytest.importorskip("brian2")
pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning:brian2.*"),
              pytest.mark.filterwarnings("ignore::DeprecationWarning:pyparsing.*")]

from brian2_oracle import round_to_grid, simulate_lif_batch  # noqa: E402

RATIOS = [0.5, 1.5, 2.0, 3.0, 5.0, 10.0, 20.0]
DT = 1e-5


def psp_peak(tau_s, tau_mem):
    """The peak of the potential a lone input of weight 1 causes."""
    kappa = tau_mem * tau_s / (tau_mem - tau_s)
    t = math.log(tau_mem / tau_s) * kappa
    return kappa * (math.exp(-t / tau_mem) - math.exp(-t / tau_s))


def random_inputs(seed, batch, n_in, t_in, slots=2):
    rng = np.random.default_rng(seed)
    times = rng.uniform(0.0, t_in, size=(batch, n_in, slots))
    times[rng.uniform(size=times.shape) < 0.3] = np.inf
    return round_to_grid(times, DT), rng


def well_conditioned(spikes, u, theta, t_end):
    """Per neuron: no sub-threshold maximum within a hair of theta, no crossing with a tiny
    slope, no spike near t_end (where any time-stepped simulation may legitimately differ
    from the exact one)."""
    ok = np.ones(u.shape[:2], dtype=bool)
    for b in range(u.shape[0]):
        for o in range(u.shape[1]):
            v = u[b, o]
            inner = v[1:-1]
            peak = (inner > v[:-2]) & (inner >= v[2:]) & (inner < theta)
            if np.any(theta - inner[peak] < 1e-3 * theta):
                ok[b, o] = False
            if np.any(np.abs(spikes[b][o] - t_end) < 10 * DT):
                ok[b, o] = False
            step = np.diff(v)
            crossing = (v[:-1] < theta) & (v[1:] >= theta)
            if np.any(step[crossing] < 1e-4 * theta):
                ok[b, o] = False
    return ok


def compare_with_brian2(ratio, seed, t_end, tau_s, max_spikes, gain, tol, dtype=torch.float64,
                        inhib=0.2, batch=4, n_in=12, n_out=8, t_in=None):
    tau_mem = ratio * tau_s
    theta = 0.5
    times, rng = random_inputs(seed, batch, n_in, 0.5 * t_end if t_in is None else t_in)
    weight = rng.uniform(0.0, 1.0, size=(n_out, n_in)) * gain * theta / psp_peak(tau_s, tau_mem)
    weight *= np.where(rng.uniform(size=weight.shape) < inhib, -1.0, 1.0)
    ours = lif(torch.tensor(times, dtype=dtype), torch.tensor(weight, dtype=dtype), tau_s=tau_s,
               threshold=theta, max_spikes=max_spikes, t_max=t_end, tau_mem=tau_mem)
    ours = ours.to(torch.float64).numpy()
    inputs = [[times[b, i] for i in range(n_in)] for b in range(batch)]
    spikes, _, u = simulate_lif_batch(inputs, weight, tau_s, theta, None, t_end + 20 * DT, dt=DT,
                                      record_voltage=True, tau_mem=tau_mem)
    ok = well_conditioned(spikes, u, theta, t_end)
    compared, several = 0, 0
    for b in range(batch):
        for o in range(n_out):
            if not ok[b, o]:
                continue
            expected = spikes[b][o][spikes[b][o] <= t_end]
            got = ours[b, o][np.isfinite(ours[b, o])]
            if len(expected) > max_spikes:  # the layer keeps the first max_spikes
                expected = expected[:max_spikes]
            assert len(got) == len(expected), (ratio, b, o, got, expected)
            np.testing.assert_allclose(got, expected, atol=tol, rtol=0)
            compared += 1
            several += len(got) >= 2
    assert compared >= 0.75 * batch * n_out, f"only {compared} well-conditioned neurons"
    return several


@pytest.mark.parametrize("ratio", RATIOS)
def test_one_and_several_spikes_agree_with_brian2(ratio):
    several = compare_with_brian2(ratio, seed=int(10 * ratio), t_end=0.3, tau_s=0.02,
                                  max_spikes=8, gain=2.5, tol=0.1 * DT)
    assert several >= 3  # neurons that fired again after a reset were compared


@pytest.mark.parametrize("ratio", [0.5, 3.0])
def test_float32_agrees_with_brian2(ratio):
    compare_with_brian2(ratio, seed=7, t_end=0.3, tau_s=0.02, max_spikes=8, gain=2.0,
                        tol=3 * DT, dtype=torch.float32)


@pytest.mark.parametrize("ratio", [0.5, 3.0, 20.0])
def test_long_duration_agrees_with_brian2(ratio):
    """t / tau_s up to 800: the moving reference time keeps every exponential in range."""
    compare_with_brian2(ratio, seed=3, t_end=0.8, tau_s=0.001, max_spikes=12, gain=1.8,
                        tol=0.5 * DT, t_in=0.78, batch=2, n_in=40, n_out=6)


def general_at_two_to_one(monkeypatch):
    """Make layers use the general solver although tau_mem = 2 tau_s."""
    monkeypatch.setattr(parameters_module, "layer_constants",
                        functools.partial(layer_constants, closed_form=False))


@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-12), (torch.float32, 2e-6)])
def test_general_solver_at_two_to_one_equals_the_closed_form(monkeypatch, dtype, tol):
    torch.manual_seed(0)
    x = (torch.rand(16, 20, 2) * 0.5).to(dtype)
    x[torch.rand(x.shape) < 0.2] = math.inf
    w = (torch.rand(10, 20) * 0.8 - 0.15).to(dtype)
    settings = dict(tau_s=0.3, threshold=0.5, max_spikes=5, t_max=3.0)

    def run():
        xs, ws = x.clone().requires_grad_(), w.clone().requires_grad_()
        out = lif(xs, ws, **settings)
        fired = torch.isfinite(out)
        out.masked_fill(~fired, 0.0).mul(torch.linspace(0.5, 1.5, out.numel()).view_as(out).to(dtype)).sum().backward()
        return out.detach(), xs.grad, ws.grad

    closed = run()
    general_at_two_to_one(monkeypatch)
    general = run()
    assert torch.equal(torch.isfinite(closed[0]), torch.isfinite(general[0]))
    assert torch.isfinite(closed[0]).sum() > 100
    fired = torch.isfinite(closed[0])
    torch.testing.assert_close(general[0][fired], closed[0][fired], rtol=tol, atol=tol)
    scale = closed[2].abs().max()
    torch.testing.assert_close(general[2], closed[2], rtol=0, atol=50 * tol * scale)
    torch.testing.assert_close(general[1], closed[1], rtol=0, atol=50 * tol * closed[1].abs().max())


def test_default_is_bit_identical_to_an_explicit_two_to_one():
    torch.manual_seed(1)
    x = torch.rand(8, 6, 1) * 0.3
    w = torch.rand(5, 6)
    a = lif(x, w, tau_s=0.13, threshold=0.2, max_spikes=10, t_max=0.5)
    b = lif(x, w, tau_s=0.13, threshold=0.2, max_spikes=10, t_max=0.5, tau_mem=0.26)
    assert torch.equal(a, b)


@pytest.mark.parametrize("ratio", [0.5, 3.0, 10.0])
def test_gradients_agree_with_finite_differences(ratio):
    torch.manual_seed(int(ratio * 7))
    tau_s = 0.2
    x = (torch.rand(3, 5, 2, dtype=torch.float64) * 0.4)
    w = torch.rand(4, 5, dtype=torch.float64) * 2.0 * 0.6 / psp_peak(tau_s, ratio * tau_s)
    settings = dict(tau_s=tau_s, threshold=0.6, reset=0.4, max_spikes=4, t_max=2.0,
                    tau_mem=ratio * tau_s)
    out = lif(x, w, **settings)
    fired = torch.isfinite(out)
    assert fired.sum() >= 6 and (fired.sum(-1) >= 2).any()
    coef = torch.linspace(-1.0, 2.0, out.numel(), dtype=torch.float64).view_as(out)

    def loss(xv, wv):
        o = lif(xv, wv, **settings)
        assert torch.equal(torch.isfinite(o), fired)  # no spike appears or vanishes
        return (o.masked_fill(~fired, 0.0) * coef).sum()

    xg, wg = x.clone().requires_grad_(), w.clone().requires_grad_()
    loss(xg, wg).backward()
    h = 1e-6
    for tensor, grad in ((w, wg.grad), (x, xg.grad)):
        numeric = torch.zeros_like(tensor)
        for index in np.ndindex(*tensor.shape):
            if not math.isfinite(tensor[index]):
                continue
            up, down = tensor.clone(), tensor.clone()
            up[index] += h
            down[index] -= h
            args_up = (up, w) if tensor is x else (x, up)
            args_down = (down, w) if tensor is x else (x, down)
            numeric[index] = (loss(*args_up) - loss(*args_down)) / (2 * h)
        torch.testing.assert_close(grad, numeric, rtol=1e-5, atol=1e-6)


def test_tau_mem_equal_to_tau_s_is_refused_by_name():
    with pytest.raises(ValueError, match="tau_mem = tau_s"):
        multispike.LIF(3, 2, tau_s=0.1, tau_mem=0.1)
    with pytest.raises(ValueError, match="tau_mem must be finite and > 0"):
        multispike.LIF(3, 2, tau_s=0.1, tau_mem=-0.2)


def test_layers_and_network_take_tau_mem():
    layer = multispike.LIF(3, 2, tau_s=0.1, tau_mem=0.35)
    assert layer.tau_mem == 0.35 and "tau_mem=0.35" in repr(layer)
    assert multispike.LIF(3, 2, tau_s=0.1).tau_mem == pytest.approx(0.2)
    conv = multispike.ConvLIF(1, 2, 3, tau_s=0.1, tau_mem=0.5)
    assert conv.tau_mem == 0.5
    net = multispike.SpikingNetwork([4, 5, 3], tau_s=0.1, thresholds=[0.3, 0.3], tau_mem=[0.3, 0.15])
    assert [layer.tau_mem for layer in net.layers] == [0.3, 0.15]
    conv_net = multispike.SpikingNetwork.from_architecture("1x6x6-2c3-p2-3", 36, tau_s=0.1,
                                                           thresholds=[0.3, 0.3], tau_mem=0.4)
    assert [layer.tau_mem for layer in conv_net.layers] == [0.4, 0.4]


def test_conv_layer_equals_the_unrolled_dense_layer_at_another_ratio():
    from multispike.functional import conv_lif

    torch.manual_seed(3)
    x = torch.rand(2, 2, 5, 5, 1, dtype=torch.float64) * 0.2
    x[torch.rand(x.shape) < 0.3] = math.inf
    kernel = torch.rand(3, 2, 3, 3, dtype=torch.float64) * 0.6
    settings = dict(tau_s=0.1, threshold=0.3, max_spikes=4, t_max=1.0, tau_mem=0.45)
    conv = conv_lif(x, kernel, **settings)
    # the same layer as a dense weight over the flattened input
    dense_w = torch.zeros(3 * 3 * 3, 2 * 5 * 5, dtype=torch.float64)
    for c in range(3):
        for oy in range(3):
            for ox in range(3):
                for ci in range(2):
                    for ky in range(3):
                        for kx in range(3):
                            dense_w[(c * 3 + oy) * 3 + ox, (ci * 5 + oy + ky) * 5 + ox + kx] = kernel[c, ci, ky, kx]
    dense = lif(x.reshape(2, 50, 1), dense_w, **settings)
    assert torch.isfinite(dense).sum() > 10
    torch.testing.assert_close(conv.reshape(2, 27, 4), dense, rtol=1e-12, atol=1e-12)
