"""Tests of the peak membrane potential (membrane.peak_potential) and the silent-label term
(losses.silent_label_loss): closed form against a fine time grid, agreement with the exact
forward pass on which neurons fire, float64 gradcheck (also through a multi-spike hidden
layer), revival of a silent label neuron under the TTFS and the spike-count loss, and no
change to the loss when no label neuron is silent."""
from __future__ import annotations

import math

import pytest
import torch

from multispike.config import TrainConfig
from multispike.functional import lif
from multispike.losses import silent_label_loss, spike_count_loss, ttfs_cross_entropy
from multispike.membrane import mean_potential, peak_potential
from multispike.network import SpikingNetwork
from multispike.train import compute_loss

INF = math.inf


def random_layer(seed, batch=4, n_in=6, slots=2, n_out=3, p_empty=0.2, w_mean=0.0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(batch, n_in, slots, generator=g, dtype=torch.float64)
    x[torch.rand(x.shape, generator=g, dtype=torch.float64) < p_empty] = INF
    w = torch.randn(n_out, n_in, generator=g, dtype=torch.float64) + w_mean
    return x, w


def potential_on_grid(x, w, tau_s, grid):
    """u(t) of every (sample, neuron) on ``grid`` by summing the PSP kernels, no reset, with
    the membrane time constant 2 tau_s."""
    return potential_on_grid_at(x, w, tau_s, 2 * tau_s, grid)


@pytest.mark.parametrize("t_max", [1.3, INF])
def test_peak_potential_matches_a_fine_time_grid(t_max):
    x, w = random_layer(0, w_mean=0.5)
    tau_s = 0.2
    end = t_max if math.isfinite(t_max) else 10.0
    grid = torch.linspace(0, end, 400_001, dtype=torch.float64)
    x = torch.where(x < t_max, x, INF)
    on_grid = potential_on_grid(x, w, tau_s, grid).max(-1).values
    peak = peak_potential(x, w, tau_s, t_max)
    positive = on_grid > 1e-3
    assert positive.sum() >= 6  # the comparison covers real peaks
    # the grid misses a peak at a kink by at most slope x step
    assert torch.allclose(peak[positive], on_grid[positive], atol=2e-4, rtol=0)
    assert (peak[~positive] <= 1e-3 + 2e-4).all()


def test_peak_potential_of_one_input_spike():
    # u(t) = w tau (exp(-s/tau) - exp(-s/tau_s)) peaks at s = tau ln 2 with u = w tau / 4
    x = torch.tensor([[[0.3]]], dtype=torch.float64)
    w = torch.tensor([[2.0], [-1.0]], dtype=torch.float64)
    tau_s = 0.5
    peak = peak_potential(x, w, tau_s)
    assert peak[0, 0].item() == pytest.approx(2.0 * 1.0 / 4, rel=1e-12)
    # an inhibitory input: no positive peak and no later event; the value at t_max is the peak
    peak = peak_potential(x, w, tau_s, t_max=1.0)
    s = 0.7
    assert peak[0, 1].item() == pytest.approx(-1.0 * (math.exp(-s) - math.exp(-s / tau_s)), rel=1e-12)


@pytest.mark.parametrize("seed", range(4))
def test_a_neuron_fires_exactly_when_its_peak_reaches_the_threshold(seed):
    x, w = random_layer(seed, batch=20, n_in=8, slots=1, n_out=5, w_mean=0.6)
    tau_s, threshold, t_max = 0.2, 0.15, 1.2
    fired = torch.isfinite(lif(x, w, tau_s, threshold, max_spikes=1, t_max=t_max)).any(-1)
    peak = peak_potential(x, w, tau_s, t_max)
    clear = (peak - threshold).abs() > 1e-9
    assert fired.any() and (~fired).any()
    assert torch.equal(fired[clear], (peak >= threshold)[clear])


@pytest.mark.parametrize("t_max", [1.1, INF])
def test_peak_potential_gradcheck(t_max):
    x, w = random_layer(3, batch=3, n_in=5, slots=2, n_out=3, w_mean=0.3)
    x.requires_grad_(True)
    w.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x, w: peak_potential(x, w, 0.2, t_max), (x, w),
                                    eps=1e-6, atol=1e-7)


@pytest.mark.parametrize("t_max", [1.3, INF])
def test_mean_potential_matches_a_fine_time_grid(t_max):
    x, w = random_layer(1, w_mean=-0.3)
    tau_s = 0.2
    x = torch.where(x < t_max, x, INF)
    valid = torch.isfinite(x).flatten(1)
    first = torch.where(valid, x.flatten(1), INF).min(1).values
    last = torch.where(valid, x.flatten(1), -INF).max(1).values
    mean = mean_potential(x, w, tau_s, t_max)
    for i in range(x.shape[0]):
        end = t_max if math.isfinite(t_max) else last[i].item() + 4 * tau_s
        grid = torch.linspace(first[i].item(), end, 200_001, dtype=torch.float64)
        u = potential_on_grid(x[i:i + 1], w, tau_s, grid)[0]
        trapezoid = torch.trapezoid(u, grid, dim=-1) / (end - first[i].item())
        assert torch.allclose(mean[i], trapezoid, atol=1e-8, rtol=1e-6)


@pytest.mark.parametrize("t_max", [1.1, INF])
def test_mean_potential_gradcheck(t_max):
    x, w = random_layer(4, batch=3, n_in=5, slots=2, n_out=3)
    x.requires_grad_(True)
    w.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x, w: mean_potential(x, w, 0.2, t_max), (x, w),
                                    eps=1e-6, atol=1e-7)


def test_peak_potential_rejects_bad_input():
    x, w = random_layer(0)
    with pytest.raises(ValueError, match="in_times"):
        peak_potential(x[0], w, 0.2)
    with pytest.raises(ValueError, match="weight"):
        peak_potential(x, w[:, :3], 0.2)
    with pytest.raises(ValueError, match="tau_s"):
        peak_potential(x, w, 0.0)
    with pytest.raises(ValueError, match="t_max"):
        peak_potential(x, w, 0.001, t_max=10.0)


def test_mean_potential_rejects_bad_input():
    x, w = random_layer(0)
    with pytest.raises(ValueError, match="in_times"):
        mean_potential(x[0], w, 0.2)
    with pytest.raises(ValueError, match="weight"):
        mean_potential(x, w[:, :3], 0.2)
    with pytest.raises(ValueError, match="tau_s"):
        mean_potential(x, w, float("nan"))
    with pytest.raises(ValueError, match="t_max"):
        mean_potential(x, w, 0.2, t_max=-1.0)


def layer_with_a_silent_label(seed=0):
    """Output layer (3 neurons) on 6 inputs; neuron 2 has small weights and stays silent."""
    x, w = random_layer(seed, batch=6, n_in=6, slots=1, n_out=3, p_empty=0.0)
    w = w.abs() * 0.8
    w[2] *= 0.05
    return x, w, dict(tau_s=0.2, threshold=0.15, t_max=2.0)


def test_silent_label_loss_value_and_gradcheck():
    x, w, p = layer_with_a_silent_label()
    labels = torch.tensor([0, 2, 1, 2, 0, 2])
    out = lif(x, w, p["tau_s"], p["threshold"], max_spikes=1, t_max=p["t_max"])
    firing = labels != 2
    assert torch.isinf(out[~firing, 2]).all() and torch.isfinite(out[firing, labels[firing]]).all()
    loss = silent_label_loss(out, labels, x, w, **p)
    peak = peak_potential(x, w, p["tau_s"], p["t_max"])[labels == 2, 2]
    assert loss.item() == pytest.approx(((p["threshold"] - peak) / p["threshold"]).sum().item() / 6, rel=1e-12)
    x.requires_grad_(True)
    w.requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda x, w: silent_label_loss(out.detach(), labels, x, w, **p), (x, w), eps=1e-6, atol=1e-7)


def test_without_a_silent_label_neuron_the_term_is_zero():
    x, w, p = layer_with_a_silent_label()
    labels = torch.tensor([0, 1, 1, 0, 0, 1])  # neurons 0 and 1 fire on every sample
    w.requires_grad_(True)
    out = lif(x, w, p["tau_s"], p["threshold"], max_spikes=1, t_max=p["t_max"])
    term = silent_label_loss(out, labels, x, w, **p)
    assert term.item() == 0.0
    term.backward()
    assert torch.equal(w.grad, torch.zeros_like(w))


def test_compute_loss_equals_the_cross_entropy_without_silent_labels():
    torch.manual_seed(0)
    net = SpikingNetwork([4, 12, 3], tau_s=0.2, thresholds=[0.1, 0.1], max_spikes=1, t_max=2.0,
                         inits=("uniform", 0.2, 1.0), dtype=torch.float64)
    x = torch.rand(8, 4, 1, dtype=torch.float64) * 0.5
    labels = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    config = TrainConfig(loss="ttfs", hidden=[12], t_max=2.0, tau_loss=0.05, max_spikes=[1, 1],
                         silent_label_penalty=3.0)
    hidden, out = net(x, all_layers=True)
    assert torch.isfinite(out).all()
    with_term = compute_loss(config, out, labels, net, hidden)
    plain = ttfs_cross_entropy(out, labels, 0.05, silent_time=2.0)
    assert with_term.item() == plain.item()
    with pytest.raises(ValueError, match="in_times"):
        compute_loss(config, out, labels)


def train_output_layer(x, w, labels, p, penalty, steps=200, lr=0.05):
    w = w.clone().requires_grad_(True)
    opt = torch.optim.SGD([w], lr=lr)
    for _ in range(steps):
        out = lif(x, w, p["tau_s"], p["threshold"], max_spikes=1, t_max=p["t_max"])
        loss = ttfs_cross_entropy(out, labels, 0.05, silent_time=p["t_max"])
        if penalty:
            loss = loss + penalty * silent_label_loss(out, labels, x, w, **p)
        opt.zero_grad()
        loss.backward()
        opt.step()
    out = lif(x, w.detach(), p["tau_s"], p["threshold"], max_spikes=1, t_max=p["t_max"])
    return out, w.detach()


def test_the_term_revives_a_silent_label_neuron():
    x, w, p = layer_with_a_silent_label()
    labels = torch.tensor([0, 2, 1, 2, 0, 2])
    label_fires = lambda out: torch.isfinite(out[labels == 2, 2, 0])  # noqa: E731
    out, w_plain = train_output_layer(x, w, labels, p, penalty=0.0)
    assert not label_fires(out).any()
    assert torch.equal(w_plain[2], w[2])  # the plain cross-entropy never touches its weights
    out, _ = train_output_layer(x, w, labels, p, penalty=1.0)
    assert label_fires(out).all()


def test_an_inhibited_label_neuron_is_driven_by_its_mean_potential():
    """A label neuron whose potential is nowhere positive: the term is 1 - u_mean / theta,
    raises every weight of an input that spiked, and revives it within 150 SGD steps; the
    gradient of its peak, which sits just after the first input event, misses the inputs
    after it and is several times smaller."""
    x, w, p = layer_with_a_silent_label()
    w[2] = -w[2].abs() * 10
    labels = torch.tensor([0, 2, 1, 2, 0, 2])
    out = lif(x, w, p["tau_s"], p["threshold"], max_spikes=1, t_max=p["t_max"])
    silent = labels == 2
    assert torch.isinf(out[silent, 2]).all()
    assert (peak_potential(x, w, p["tau_s"], p["t_max"])[silent, 2] <= 0).all()
    v = w.clone().requires_grad_(True)
    loss = silent_label_loss(out, labels, x, v, **p)
    mean = mean_potential(x, w, p["tau_s"], p["t_max"])[silent, 2]
    assert loss.item() == pytest.approx((1 - mean / p["threshold"]).sum().item() / 6, rel=1e-12)
    loss.backward()
    assert (v.grad[2] < 0).all() and (v.grad[:2] == 0).all()
    u = w.clone().requires_grad_(True)
    peak_grad, = torch.autograd.grad(peak_potential(x, u, p["tau_s"], p["t_max"])[silent, 2].sum(), u)
    assert (peak_grad[2] == 0).any()
    assert v.grad[2].norm() > 3 * peak_grad[2].norm() / (6 * p["threshold"])
    out, _ = train_output_layer(x, w, labels, p, penalty=1.0, steps=150)
    assert torch.isfinite(out[silent, 2, 0]).all()


def test_peak_potential_gradient_equals_the_documented_formula():
    # two excitatory inputs whose joint peak lies after the second one (an interior maximum)
    tau_s = 0.5
    tau = 2 * tau_s
    t_in = torch.tensor([0.1, 0.3], dtype=torch.float64)
    w = torch.tensor([[1.0, 0.5]], dtype=torch.float64, requires_grad=True)
    x = t_in.reshape(1, 2, 1).clone().requires_grad_(True)
    peak_potential(x, w, tau_s)[0, 0].backward()
    a = (w.detach()[0] * torch.exp(t_in / tau_s)).sum()
    b = (w.detach()[0] * torch.exp(t_in / tau)).sum()
    t_p = tau * torch.log(2 * a / b)
    assert t_p > 0.3
    s = t_p - t_in
    assert torch.allclose(w.grad[0], tau * (torch.exp(-s / tau) - torch.exp(-s / tau_s)), rtol=1e-12)
    assert torch.allclose(x.grad.reshape(2), w.detach()[0] * (torch.exp(-s / tau) - 2 * torch.exp(-s / tau_s)),
                          rtol=1e-12)


# --- the term added to the spike-count loss (multi-spike networks) ---------------------------

def multispike_network_with_a_silent_label(seed=0):
    """Inputs -> multi-spike hidden layer (3 slots) -> 3 outputs, output 2 silent."""
    x, w1 = random_layer(seed, batch=5, n_in=4, slots=1, n_out=6, p_empty=0.0, w_mean=1.5)
    _, w2 = random_layer(seed + 1, batch=1, n_in=6, slots=1, n_out=3, w_mean=0.4)
    w2[2] = -0.2 * w2[2].abs()  # inhibited: never fires
    return x, w1, w2, dict(tau_s=0.2, threshold=0.15, t_max=3.0)


def test_silent_label_term_gradcheck_through_a_multispike_hidden_layer():
    x, w1, w2, p = multispike_network_with_a_silent_label()
    labels = torch.tensor([2, 0, 2, 1, 2])
    hidden = lif(x, w1, p["tau_s"], p["threshold"], max_spikes=3, t_max=p["t_max"])
    out = lif(hidden, w2, p["tau_s"], p["threshold"], max_spikes=3, t_max=p["t_max"])
    assert (torch.isfinite(hidden).sum(-1) >= 2).any(), "the hidden layer must fire several spikes"
    assert torch.isinf(out[:, 2]).all() and torch.isfinite(out[labels != 2, labels[labels != 2]]).any()

    def term(x, w1, w2):
        hidden = lif(x, w1, p["tau_s"], p["threshold"], max_spikes=3, t_max=p["t_max"])
        return silent_label_loss(out.detach(), labels, hidden, w2, **p)

    assert term(x, w1, w2).item() > 0
    inputs = (x.clone().requires_grad_(True), w1.clone().requires_grad_(True), w2.clone().requires_grad_(True))
    assert torch.autograd.gradcheck(term, inputs, eps=1e-7, atol=1e-6, rtol=1e-4)


def test_compute_loss_adds_the_term_to_the_spike_count_loss():
    x, w1, w2, p = multispike_network_with_a_silent_label()
    net = SpikingNetwork([4, 6, 3], tau_s=p["tau_s"], thresholds=[p["threshold"]] * 2, max_spikes=3,
                         t_max=p["t_max"], dtype=torch.float64)
    with torch.no_grad():
        net.layers[0].weight.copy_(w1)
        net.layers[1].weight.copy_(w2)
    labels = torch.tensor([2, 0, 2, 1, 2])
    hidden, out = net(x, all_layers=True)
    config = TrainConfig(loss="spike_count", hidden=[6], max_spikes=[3, 3], t_max=p["t_max"],
                         target_true=3.0, target_false=0.0, silent_label_penalty=2.0)
    total = compute_loss(config, out, labels, net, hidden)
    plain = spike_count_loss(out, labels, 3.0, 0.0)
    term = silent_label_loss(out, labels, hidden, net.layers[1].weight, **p)
    assert term.item() > 0
    assert total.item() == pytest.approx(plain.item() + 2.0 * term.item(), rel=1e-12)
    # the spike-count loss hands the silent label neuron no error; the term does
    w = net.layers[1].weight
    (g_plain,) = torch.autograd.grad(plain, w, retain_graph=True)
    (g_total,) = torch.autograd.grad(total, w)
    assert torch.equal(g_plain[2], torch.zeros_like(g_plain[2])) and g_total[2].abs().sum() > 0


def test_the_term_revives_a_silent_label_neuron_under_the_spike_count_loss():
    x, w, p = layer_with_a_silent_label()
    labels = torch.tensor([0, 2, 1, 2, 0, 2])

    # 60 steps are enough for the term to revive all three label neurons; much longer SGD on
    # this discontinuous loss is chaotic, and its end state then depends on rounding (for
    # example on the number of kernel threads)
    def train(penalty, steps=60, lr=0.05):
        v = w.clone().requires_grad_(True)
        opt = torch.optim.SGD([v], lr=lr)
        for _ in range(steps):
            out = lif(x, v, p["tau_s"], p["threshold"], max_spikes=3, t_max=p["t_max"])
            loss = spike_count_loss(out, labels, 3.0, 0.0)
            if penalty:
                loss = loss + penalty * silent_label_loss(out, labels, x, v, **p)
            opt.zero_grad()
            loss.backward()
            opt.step()
        return lif(x, v.detach(), p["tau_s"], p["threshold"], max_spikes=3, t_max=p["t_max"]), v.detach()

    out, w_plain = train(0.0)
    assert torch.isinf(out[labels == 2, 2]).all() and torch.equal(w_plain[2], w[2])
    out, _ = train(1.0)
    assert torch.isfinite(out[labels == 2, 2, 0]).all()


# --- any membrane time constant (tau_mem != 2 tau_s) -----------------------------------------

RATIOS = [0.5, 3.0, 10.0]


def potential_on_grid_at(x, w, tau_s, tau_mem, grid):
    """u(t) on ``grid`` with membrane time constant ``tau_mem``: the PSP kernel is
    kappa (exp(-s/tau_mem) - exp(-s/tau_s)), kappa = tau_mem tau_s / (tau_mem - tau_s)."""
    kappa = tau_mem * tau_s / (tau_mem - tau_s)
    u = torch.zeros(x.shape[0], w.shape[0], len(grid), dtype=torch.float64)
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            for t_j in x[i, j].tolist():
                if math.isfinite(t_j):
                    s = (grid - t_j).clamp(min=0)
                    u[i] += w[:, j:j + 1] * kappa * (torch.exp(-s / tau_mem) - torch.exp(-s / tau_s))
    return u


@pytest.mark.parametrize("ratio", RATIOS)
@pytest.mark.parametrize("t_max", [1.3, INF])
def test_peak_potential_at_any_ratio_matches_a_fine_time_grid(t_max, ratio):
    x, w = random_layer(0, w_mean=0.5)
    tau_s = 0.2
    end = t_max if math.isfinite(t_max) else 10.0
    grid = torch.linspace(0, end, 400_001, dtype=torch.float64)
    x = torch.where(x < t_max, x, INF)
    on_grid = potential_on_grid_at(x, w, tau_s, ratio * tau_s, grid).max(-1).values
    peak = peak_potential(x, w, tau_s, t_max, tau_mem=ratio * tau_s)
    positive = on_grid > 1e-3
    assert positive.sum() >= 6
    assert torch.allclose(peak[positive], on_grid[positive], atol=5e-4, rtol=0)
    assert (peak[positive] >= on_grid[positive] - 1e-12).all()  # never below a sampled value
    assert (peak[~positive] <= 1e-3 + 5e-4).all()


@pytest.mark.parametrize("ratio", RATIOS)
@pytest.mark.parametrize("t_max", [1.3, INF])
def test_mean_potential_at_any_ratio_matches_a_fine_time_grid(t_max, ratio):
    x, w = random_layer(1, w_mean=-0.3)
    tau_s, tau_mem = 0.2, ratio * 0.2
    x = torch.where(x < t_max, x, INF)
    valid = torch.isfinite(x).flatten(1)
    first = torch.where(valid, x.flatten(1), INF).min(1).values
    last = torch.where(valid, x.flatten(1), -INF).max(1).values
    mean = mean_potential(x, w, tau_s, t_max, tau_mem=tau_mem)
    for i in range(x.shape[0]):
        end = t_max if math.isfinite(t_max) else last[i].item() + 2 * max(tau_s, tau_mem)
        grid = torch.linspace(first[i].item(), end, 200_001, dtype=torch.float64)
        u = potential_on_grid_at(x[i:i + 1], w, tau_s, tau_mem, grid)[0]
        trapezoid = torch.trapezoid(u, grid, dim=-1) / (end - first[i].item())
        assert torch.allclose(mean[i], trapezoid, atol=1e-8, rtol=1e-6)


@pytest.mark.parametrize("ratio", RATIOS)
@pytest.mark.parametrize("t_max", [1.1, INF])
def test_peak_and_mean_potential_gradcheck_at_any_ratio(t_max, ratio):
    x, w = random_layer(3, batch=3, n_in=5, slots=2, n_out=3, w_mean=0.3)
    x.requires_grad_(True)
    w.requires_grad_(True)
    for f in (peak_potential, mean_potential):
        assert torch.autograd.gradcheck(lambda x, w: f(x, w, 0.2, t_max, tau_mem=0.2 * ratio),
                                        (x, w), eps=1e-6, atol=1e-7)


@pytest.mark.parametrize("ratio", RATIOS)
def test_a_neuron_fires_exactly_when_its_peak_reaches_the_threshold_at_any_ratio(ratio):
    x, w = random_layer(0, batch=20, n_in=8, slots=1, n_out=5, w_mean=0.6)
    tau_s, t_max = 0.2, 1.2
    peak = peak_potential(x, w, tau_s, t_max, tau_mem=ratio * tau_s)
    threshold = peak.median().item()
    fired = torch.isfinite(lif(x, w, tau_s, threshold, max_spikes=1, t_max=t_max,
                               tau_mem=ratio * tau_s)).any(-1)
    clear = (peak - threshold).abs() > 1e-9
    assert fired.any() and (~fired).any()
    assert torch.equal(fired[clear], (peak >= threshold)[clear])


@pytest.mark.parametrize("ratio", RATIOS)
def test_peak_potential_gradient_equals_the_documented_formula_at_any_ratio(ratio):
    tau_s = 0.5
    tau = ratio * tau_s
    kappa = tau * tau_s / (tau - tau_s)
    t_in = torch.tensor([0.1, 0.3], dtype=torch.float64)
    w = torch.tensor([[1.0, 0.5]], dtype=torch.float64, requires_grad=True)
    x = t_in.reshape(1, 2, 1).clone().requires_grad_(True)
    peak_potential(x, w, tau_s, tau_mem=tau)[0, 0].backward()
    a = (w.detach()[0] * torch.exp(t_in / tau_s)).sum()
    b = (w.detach()[0] * torch.exp(t_in / tau)).sum()
    t_p = kappa * torch.log(tau * a / (tau_s * b))
    assert t_p > 0.3  # an interior maximum after the second input
    s = t_p - t_in
    assert torch.allclose(w.grad[0], kappa * (torch.exp(-s / tau) - torch.exp(-s / tau_s)), rtol=1e-12)
    assert torch.allclose(x.grad.reshape(2), w.detach()[0] * kappa * (torch.exp(-s / tau) / tau
                                                                      - torch.exp(-s / tau_s) / tau_s),
                          rtol=1e-12)


def test_tau_mem_none_is_the_two_to_one_membrane():
    x, w = random_layer(2, w_mean=0.3)
    for f in (peak_potential, mean_potential):
        assert torch.allclose(f(x, w, 0.2, 1.3), f(x, w, 0.2, 1.3, tau_mem=0.4), rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("tau_mem", [0.2, 0.0, -1.0, INF, "0.4"])
def test_peak_and_mean_potential_refuse_a_bad_tau_mem(tau_mem):
    x, w = random_layer(0)
    for f in (peak_potential, mean_potential):
        with pytest.raises(ValueError, match="tau_mem"):
            f(x, w, 0.2, tau_mem=tau_mem)


def test_compute_loss_uses_the_output_layers_membrane_time_constant():
    torch.manual_seed(0)
    net = SpikingNetwork([4, 6, 3], tau_s=0.2, thresholds=[0.05, 5.0], max_spikes=1, t_max=2.0,
                         inits=("normal", 0.5, 0.5), dtype=torch.float64, tau_mem=0.6)
    x = torch.rand(8, 4, 1, dtype=torch.float64)
    labels = torch.arange(8) % 3
    config = TrainConfig(loss="spike_count", silent_label_penalty=1.0, hidden=[6],
                         thresholds=[0.05, 5.0], max_spikes=[1, 1], tau_s=0.2, tau_mem=0.6,
                         t_max=2.0, target_true=1.0, target_false=0.0)
    hidden, out = net(x, all_layers=True)
    assert torch.isinf(out).all()  # every label neuron is silent
    total = compute_loss(config, out, labels, net, hidden)
    plain = spike_count_loss(out, labels, 1.0, 0.0)
    out_layer = net.layers[-1]
    term = silent_label_loss(out, labels, hidden, out_layer.weight, 0.2, 5.0, 2.0, tau_mem=0.6)
    assert total.item() == pytest.approx(plain.item() + term.item(), rel=1e-12)
    two_to_one = silent_label_loss(out, labels, hidden, out_layer.weight, 0.2, 5.0, 2.0)
    assert abs(term.item() - two_to_one.item()) > 1e-6
