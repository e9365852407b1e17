"""Learnable axonal and dendritic delays of ``multispike.LIF``: exact gradients (float64
central finite differences at unchanged spike counts), brian2 with the same delays, ties
created by a delay, the [0, max_delay] projection and the refusals."""
import math

import numpy as np
import pytest
import torch

import multispike
from multispike.delays import shift_spikes

KINDS = ["axonal", "dendritic"]


def _finite_or_zero(t):
    return torch.where(torch.isfinite(t), t, torch.zeros_like(t))


def _layer(n_in, n_out, weight, max_spikes, delays=None, delay=None, **kw):
    layer = multispike.LIF(n_in, n_out, tau_s=0.2, threshold=0.3, max_spikes=max_spikes,
                           dtype=torch.float64, delays=delays, **kw)
    with torch.no_grad():
        layer.weight.copy_(weight)
        if delay is not None:
            layer.delay.copy_(delay)
    return layer


def _case(seed, max_spikes, batch=3, n_in=6, n_out=4, slots=2):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(batch, n_in, slots, generator=g, dtype=torch.float64)
    x[torch.rand(x.shape, generator=g, dtype=torch.float64) < 0.2] = math.inf
    high = 2.0 if max_spikes == 1 else 3.0
    w = torch.rand(n_out, n_in, generator=g, dtype=torch.float64) * (high + 0.5) - 0.5
    return x, w, g


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("max_spikes", [1, 8])
def test_zero_delays_equal_the_plain_layer(kind, max_spikes):
    x, w, _ = _case(0, max_spikes)
    plain, delayed = _layer(6, 4, w, max_spikes), _layer(6, 4, w, max_spikes, kind)
    assert [n for n, _ in plain.named_parameters()] == ["weight"]
    assert torch.equal(delayed.delay, torch.zeros(6 if kind == "axonal" else 4, dtype=torch.float64))
    xa, xb = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    out_a, out_b = plain(xa), delayed(xb)
    assert torch.isfinite(out_a).sum() >= 6
    assert torch.equal(out_a, out_b)
    _finite_or_zero(out_a).sum().backward()
    _finite_or_zero(out_b).sum().backward()
    assert torch.equal(xa.grad, xb.grad) and torch.equal(plain.weight.grad, delayed.weight.grad)
    with torch.no_grad():
        assert torch.equal(plain(x), delayed(x))


def _loss(layer, x, coef):
    out = layer(x)
    return (coef * _finite_or_zero(out)).sum(), torch.isfinite(out)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("max_spikes", [1, 6])
def test_gradients_match_finite_differences(kind, max_spikes):
    x, w, g = _case(1, max_spikes)
    n = 6 if kind == "axonal" else 4
    delay = 0.05 + 0.2 * torch.rand(n, generator=g, dtype=torch.float64)
    layer = _layer(6, 4, w, max_spikes, kind, delay)
    coef = torch.rand(3, 4, max_spikes, generator=g, dtype=torch.float64) + 0.5
    loss, fired = _loss(layer, x, coef)
    counts = fired.sum(-1)
    assert counts.sum() >= 6 and (max_spikes == 1 or counts.max() >= 3)
    loss.backward()
    assert torch.isfinite(layer.delay.grad).all() and torch.isfinite(layer.weight.grad).all()
    assert (layer.delay.grad != 0).sum() >= n - 1, "the test must exercise (almost) every delay"
    h = 1e-6
    for param in (layer.delay, layer.weight):
        numeric = torch.empty_like(param)
        for i in np.ndindex(tuple(param.shape)):
            values = []
            for sign in (1, -1):
                with torch.no_grad():
                    param[i] += sign * h
                    moved, moved_fired = _loss(layer, x, coef)
                    param[i] -= sign * h
                assert torch.equal(moved_fired, fired), "the perturbation changed a spike count"
                values.append(moved.item())
            numeric[i] = (values[0] - values[1]) / (2 * h)
        torch.testing.assert_close(param.grad, numeric, rtol=1e-5, atol=1e-6)


def test_empty_slots_pass_no_gradient_to_the_delay():
    """Dendritic: each finite output slot gives its delay the gradient handed to it, +inf slots
    nothing, even when the loss hands them a gradient."""
    x, w, _ = _case(2, 8)
    layer = _layer(6, 4, w, 8, "dendritic", torch.full((4,), 0.1, dtype=torch.float64))
    out = layer(x)
    out.backward(torch.ones_like(out))
    torch.testing.assert_close(layer.delay.grad, torch.isfinite(out).sum((0, 2)).to(torch.float64))
    shifted = shift_spikes(x, torch.full((6,), 0.1, dtype=torch.float64))
    assert torch.equal(torch.isinf(shifted), torch.isinf(x))


@pytest.mark.parametrize("max_spikes", [1, 5])
def test_tie_created_by_a_delay(max_spikes):
    """Inputs 0 and 1 arrive together at 0.375 after their axonal delays. A tie of inputs is
    no kink (each input's effect depends smoothly on its own arrival time), so the gradient
    there is the ordinary one: finite, and equal to central differences, which break the
    tie one way and the other."""
    x = torch.tensor([[[0.0], [0.25], [0.1]]], dtype=torch.float64)
    w = torch.tensor([[2.0, 1.5, -0.5], [3.0, 0.5, 1.0]], dtype=torch.float64)
    if max_spikes > 1:
        w = w * 3
    layer = _layer(3, 2, w, max_spikes, "axonal", torch.tensor([0.375, 0.125, 0.0625], dtype=torch.float64))
    coef = torch.tensor([[1.0, 2.0]], dtype=torch.float64)[..., None]
    loss, fired = _loss(layer, x, coef)
    assert fired.sum() >= 2 and (max_spikes == 1 or fired.sum(-1).max() >= 3)
    loss.backward()
    grad = layer.delay.grad
    assert torch.isfinite(grad).all() and (grad[:2] != 0).all()
    h = 1e-6
    for i in range(3):
        values = []
        for sign in (1, -1):
            with torch.no_grad():
                layer.delay[i] += sign * h
                moved, moved_fired = _loss(layer, x, coef)
                layer.delay[i] -= sign * h
            assert torch.equal(moved_fired, fired)
            values.append(moved.item())
        assert grad[i].item() == pytest.approx((values[0] - values[1]) / (2 * h), rel=1e-5, abs=1e-7)


@pytest.mark.parametrize("kind", KINDS)
def test_delays_stay_within_bounds(kind):
    x, w, _ = _case(3, 8)
    n = 6 if kind == "axonal" else 4
    for direction in (1.0, -1.0):
        layer = _layer(6, 4, w, 8, kind, delay_init=("uniform", 0.05, 0.15), max_delay=0.2)
        opt = torch.optim.SGD(layer.parameters(), lr=10.0)
        opt.register_step_post_hook(lambda *_: layer.project_delays())
        loss, _ = _loss(layer, x, direction)
        loss.backward()
        unbounded = layer.delay.detach() - 10.0 * layer.delay.grad
        assert ((unbounded < 0) | (unbounded > 0.2)).sum() >= n - 1, "the step must push them out"
        opt.step()
        assert torch.equal(layer.delay.detach(), unbounded.clamp(0.0, 0.2))
    # without the hook, the next call projects before using the delays
    layer = _layer(6, 4, w, 8, kind, max_delay=0.2)
    with torch.no_grad():
        layer.delay.copy_(torch.linspace(-0.1, 0.3, n, dtype=torch.float64))
    out = layer(x)
    assert (layer.delay >= 0).all() and (layer.delay <= 0.2).all()
    clamped = _layer(6, 4, w, 8, kind, torch.linspace(-0.1, 0.3, n, dtype=torch.float64).clamp(0, 0.2))
    assert torch.equal(out, clamped(x))


def test_bad_delay_arguments_are_refused():
    with pytest.raises(NotImplementedError, match="synaptic.*not available"):
        multispike.LIF(3, 2, delays="synaptic")
    with pytest.raises(ValueError, match="delays must be"):
        multispike.LIF(3, 2, delays="axonl")
    with pytest.raises(ValueError, match="delay_init"):
        multispike.LIF(3, 2, delays="axonal", delay_init=("uniform", 0.0, 0.5), max_delay=0.2)
    with pytest.raises(ValueError, match="delay_init"):
        multispike.LIF(3, 2, delays="dendritic", delay_init=-0.1)
    with pytest.raises(ValueError, match="max_delay"):
        multispike.LIF(3, 2, delays="dendritic", max_delay=0)


# --- brian2 with the same delays -----------------------------------------------------------

def _brian2_case(name, kind):
    pytest.importorskip("brian2")
    from test_forward_brian2 import (CASES, DT, T_MAX, assert_well_conditioned, make_inputs,
                                     round_to_grid, simulate_lif_batch)
    case = CASES[name]
    times, weight = make_inputs(case)
    rng = np.random.default_rng(case.seed + 100)
    n = case.n_in if kind == "axonal" else case.n_out
    delay = round_to_grid(rng.uniform(0.0, 0.03, n), DT)
    layer = multispike.LIF(case.n_in, case.n_out, tau_s=case.tau_s, threshold=case.threshold,
                           reset=case.reset, max_spikes=case.max_spikes, t_max=T_MAX,
                           dtype=torch.float64, delays=kind)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor(weight))
        layer.delay.copy_(torch.tensor(delay))
        core = layer(torch.tensor(times)).numpy()
    arriving = times + delay[None, :, None] if kind == "axonal" else times
    batch_inputs = [[arriving[b, i] for i in range(case.n_in)] for b in range(case.batch)]
    spikes, _, u = simulate_lif_batch(batch_inputs, weight, case.tau_s, case.threshold,
                                      case.reset, T_MAX + 20 * DT, dt=DT, record_voltage=True)
    assert_well_conditioned(spikes, u, case.threshold)
    ref = [[s[s < T_MAX][:case.max_spikes] for s in sample] for sample in spikes]
    if kind == "dendritic":
        ref = [[s + delay[o] for o, s in enumerate(sample)] for sample in ref]
    counts = np.array([[len(s) for s in sample] for sample in ref])
    assert (counts > 0).sum() >= counts.size // 2
    for b in range(case.batch):
        for o in range(case.n_out):
            got = core[b, o][np.isfinite(core[b, o])]
            assert len(got) == len(ref[b][o]), (b, o, got, ref[b][o])
            np.testing.assert_allclose(got, ref[b][o], rtol=0, atol=0.1 * DT)
    return counts


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_axonal_delays_match_brian2():
    counts = _brian2_case("exc-tau0.05-reset=theta", "axonal")
    assert (counts >= 3).sum() >= 3  # several spikes per neuron


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_dendritic_delays_match_brian2():
    _brian2_case("ttfs-exc-tau0.1", "dendritic")


def test_a_network_with_a_delayed_layer_infers_as_it_trains():
    """The chunked inference of a large batch must not skip a layer's delays."""
    torch.manual_seed(0)
    net = multispike.SpikingNetwork([6, 5, 3], tau_s=0.1, thresholds=[0.2, 0.3], max_spikes=[4, 4])
    delayed = multispike.LIF(6, 5, tau_s=0.1, threshold=0.2, max_spikes=4, delays="axonal",
                             delay_init=("uniform", 0.0, 0.05))
    with torch.no_grad():
        delayed.weight.copy_(net.layers[0].weight)
    net.layers[0] = delayed
    x = torch.rand(3 * net.inference_chunk, 6, 1) * 0.1
    with torch.no_grad():
        chunked = net(x)
    with torch.enable_grad():
        expected = net(x).detach()
    assert torch.equal(chunked, expected)
