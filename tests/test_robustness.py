"""Noise functions of multispike.robustness: statistics, no in-place changes, exact threshold noise."""
import copy
import math

import pytest
import torch

from multispike.functional import lif
from multispike.layers import LIF
from multispike.losses import predict
from multispike.network import SpikingNetwork
from multispike.robustness import (NOISE_KINDS, apply_noise, delete_spikes, jitter_spike_times,
                                   noisy_accuracy, perturb_thresholds, perturb_weights,
                                   robustness_sweep, threshold_as_weight_scale)

INF = math.inf


def _times(n=4000, seed=0):
    g = torch.Generator().manual_seed(seed)
    t = 5.0 + torch.rand((n, 5, 2), generator=g, dtype=torch.float64)
    t[:, 4, 1] = INF
    return t


def test_jitter_statistics_and_infinities():
    t = _times()
    before = t.clone()
    j = jitter_spike_times(t, 0.3, seed=1)
    assert torch.equal(t, before)  # not modified in place
    finite = torch.isfinite(t)
    assert torch.equal(torch.isinf(j), ~finite)
    d = (j - t)[finite]
    assert abs(d.mean().item()) < 0.01 and d.std().item() == pytest.approx(0.3, rel=0.03)
    assert torch.equal(j, jitter_spike_times(t, 0.3, seed=1))  # reproducible
    assert not torch.equal(j, jitter_spike_times(t, 0.3, seed=2))
    assert torch.equal(jitter_spike_times(t, 0.0, seed=1), t)


def test_jitter_clamps_at_zero():
    t = torch.zeros((2000, 3, 1))
    j = jitter_spike_times(t, 1.0, generator=torch.Generator().manual_seed(0))
    assert (j >= 0).all() and (j == 0).float().mean().item() == pytest.approx(0.5, abs=0.05)
    assert j.dtype == t.dtype


def test_deletion_fraction():
    t = _times()
    before = t.clone()
    d = delete_spikes(t, 0.25, seed=3)
    assert torch.equal(t, before)
    finite = torch.isfinite(t)
    deleted = torch.isinf(d) & finite
    assert deleted.sum().item() / finite.sum().item() == pytest.approx(0.25, abs=0.01)
    assert torch.isinf(d[~finite]).all()
    assert torch.equal(d[~deleted], t[~deleted])  # surviving spikes keep their time
    assert torch.equal(delete_spikes(t, 0.0), t)
    assert torch.isinf(delete_spikes(t, 1.0)).all()
    with pytest.raises(ValueError):
        delete_spikes(t, 1.5)
    with pytest.raises(ValueError):
        jitter_spike_times(t, -0.1)


def _net(resets=None):
    torch.manual_seed(0)
    return SpikingNetwork([5, 16, 3], tau_s=1.0, thresholds=[0.8, 1.0], resets=resets, max_spikes=[4, 6],
                          t_max=10.0, inits=("uniform", -0.5, 2.0), dtype=torch.float64)


def test_weight_noise_is_relative_and_leaves_the_network_alone():
    net = _net()
    state = copy.deepcopy(net.state_dict())
    noisy = perturb_weights(net, 0.2, seed=0)
    for k, v in net.state_dict().items():
        assert torch.equal(v, state[k])
    rel = torch.cat([(n.weight / o.weight - 1).flatten() for n, o in zip(noisy.layers, net.layers)])
    assert abs(rel.mean().item()) < 0.03 and rel.std().item() == pytest.approx(0.2, rel=0.15)
    same = perturb_weights(net, 0.0, seed=0)
    assert all(torch.equal(a.weight, b.weight) for a, b in zip(same.layers, net.layers))


@pytest.mark.parametrize("eps", [-0.4, -0.05, 0.1, 0.7])
def test_threshold_as_weight_scale_matches_a_shifted_threshold(eps):
    """A neuron at threshold (= reset) theta(1+eps) fires when the one at theta with weights
    w/(1+eps) does, for every one of its spikes."""
    g = torch.Generator().manual_seed(7)
    x = 3.0 * torch.rand((40, 8, 2), generator=g, dtype=torch.float64)
    w = 0.3 + torch.rand((1, 8), generator=g, dtype=torch.float64)
    theta = 0.6
    direct = lif(x, w, tau_s=0.5, threshold=theta * (1 + eps), max_spikes=6, t_max=12.0)
    factor = torch.tensor([1 + eps], dtype=torch.float64)
    scaled = lif(x, threshold_as_weight_scale(w, factor), tau_s=0.5, threshold=theta, max_spikes=6, t_max=12.0)
    assert torch.isfinite(direct).sum() > 40  # several spikes per sample on average
    assert torch.equal(torch.isinf(direct), torch.isinf(scaled))
    fin = torch.isfinite(direct)
    assert torch.allclose(direct[fin], scaled[fin], rtol=0, atol=1e-10)


def test_perturb_thresholds_equals_per_neuron_thresholds():
    net = _net()
    x = 4.0 * torch.rand((30, 5, 1), generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    noisy = perturb_thresholds(net, 0.3, seed=5)
    hidden, out = net.layers[0], noisy.layers[0]
    factor = hidden.weight / out.weight  # one factor (1 + eps) per neuron, constant along the row
    assert torch.allclose(factor, factor[:, :1].expand_as(factor))
    assert factor.std() > 0.1
    noisy_out = out(x)
    for n in range(hidden.out_features):  # each neuron at its own threshold, original weights
        ref = lif(x, hidden.weight[n:n + 1].detach(), tau_s=hidden.tau_s,
                  threshold=hidden.threshold * factor[n, 0].item(), max_spikes=hidden.max_spikes,
                  t_max=hidden.t_max)
        got = noisy_out[:, n:n + 1]
        assert torch.equal(torch.isinf(ref), torch.isinf(got))
        fin = torch.isfinite(ref)
        assert torch.allclose(ref[fin], got[fin], rtol=0, atol=1e-9)


def test_threshold_noise_needs_reset_equal_to_threshold():
    net = _net(resets=[0.5, 1.0])
    with pytest.raises(ValueError, match="reset == threshold"):
        perturb_thresholds(net, 0.1)
    with pytest.raises(ValueError, match="no multispike.LIF"):
        perturb_weights(torch.nn.Linear(2, 2), 0.1)


def test_threshold_factor_is_clamped_positive():
    layer = LIF(3, 200, tau_s=1.0, threshold=1.0, max_spikes=2, dtype=torch.float64)
    noisy = perturb_thresholds(layer, 2.0, seed=0, min_factor=0.05)
    factor = layer.weight / noisy.weight
    assert torch.isfinite(noisy.weight).all() and factor.min() >= 0.05 - 1e-12


def test_noisy_accuracy_and_sweep():
    net = _net()
    x = 0.2 + 2.0 * torch.rand((60, 5, 1), generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    with torch.no_grad():
        labels = predict(net(x), "spike_count").clamp(min=0)  # the clean network is 100% right
    state = copy.deepcopy(net.state_dict())
    x_before = x.clone()
    levels = {k: [0.0, 0.3] for k in NOISE_KINDS}
    rows = robustness_sweep(net, x, labels, "spike_count", levels, seeds=range(3))
    assert torch.equal(x, x_before) and all(torch.equal(v, state[k]) for k, v in net.state_dict().items())
    assert len(rows) == 8
    for row in rows:
        assert 0.0 <= row["mean"] <= 1.0 and len(row["accuracies"]) == 3
        if row["level"] == 0:
            assert row["mean"] == 1.0 and row["std"] == 0.0
    assert any(row["mean"] < 1.0 for row in rows if row["level"] > 0)
    a = noisy_accuracy(net, x, labels, "spike_count", "weight", 0.3, seed=4)
    assert a == noisy_accuracy(net, x, labels, "spike_count", "weight", 0.3, seed=4)
    with pytest.raises(ValueError, match="kind"):
        apply_noise(net, x, "gamma_rays", 0.1)


def test_weight_and_threshold_noise_reach_convolutional_layers():
    """Weight noise perturbs every kernel entry of a ConvLIF layer; threshold noise gives each
    output channel one factor, and the noisy layer then fires exactly like the original
    kernels at threshold theta (1 + eps_o), channel by channel."""
    from multispike.convolution import conv_lif
    from multispike.layers import ConvLIF

    torch.manual_seed(3)
    net = SpikingNetwork.from_architecture("6c3-p2-5-3", 64, tau_s=0.5, thresholds=[0.3, 0.6, 0.6],
                                           max_spikes=[2, 2, 2], inits=[("uniform", 0.0, 1.0)] * 3,
                                           dtype=torch.float64)
    conv = net.layers[0]
    assert isinstance(conv, ConvLIF)
    noisy = perturb_weights(net, 0.2, seed=0)
    rel = (noisy.layers[0].weight / conv.weight - 1).flatten()
    assert (rel != 0).all() and rel.std().item() == pytest.approx(0.2, rel=0.3)

    noisy_conv = perturb_thresholds(net, 0.3, seed=5).layers[0]
    factor = (conv.weight / noisy_conv.weight).detach()  # one factor per output channel
    assert torch.allclose(factor, factor[:, :1, :1, :1].expand_as(factor))
    assert factor[:, 0, 0, 0].std() > 0.05
    x = 4.0 * torch.rand((12, 1, 8, 8, 1), generator=torch.Generator().manual_seed(1),
                         dtype=torch.float64)
    got = noisy_conv(x)
    assert torch.isfinite(got).sum() > 50
    for o in range(conv.weight.shape[0]):
        ref = conv_lif(x, conv.weight[o:o + 1].detach(), tau_s=conv.tau_s,
                       threshold=conv.threshold * factor[o, 0, 0, 0].item(),
                       max_spikes=conv.max_spikes, t_max=conv.t_max)
        assert torch.equal(torch.isinf(ref), torch.isinf(got[:, o:o + 1]))
        fin = torch.isfinite(ref)
        assert torch.allclose(ref[fin], got[:, o:o + 1][fin], rtol=0, atol=1e-9)
