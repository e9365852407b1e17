"""White-box attacks on input spike times: exact gradients, the threat model's limits, and
attacks that beat random search."""
import math

import pytest
import torch

from multispike.attacks import (RegimeLoss, allowed_range, delete_at_random, delete_by_exact_effect,
                                delete_by_gradient, deletion_estimates, exact_deletion_effects, fgsm,
                                input_time_gradient, losses_and_predictions, pgd, random_search,
                                training_loss)
from multispike.config import TrainConfig
from multispike.network import SpikingNetwork

INF = math.inf
WINDOW = (0.15, 2.0)


@pytest.fixture(autouse=True)
def one_thread():
    import numba
    saved = numba.get_num_threads()
    numba.set_num_threads(1)
    yield
    numba.set_num_threads(saved)


def _ttfs_net(hidden=12, seed=0):
    torch.manual_seed(seed)
    return _frozen(SpikingNetwork([4, hidden, 3], tau_s=1.0, thresholds=[1.0, 1.0], max_spikes=[1, 1],
                                  t_max=8.0, inits=[("normal", 1.5, 0.8), ("normal", 0.5, 0.8)],
                                  dtype=torch.float64))


def _frozen(net):
    """The attacks differentiate with respect to the inputs only."""
    return net.requires_grad_(False)


def _multispike_net(seed=0):
    torch.manual_seed(seed)
    return _frozen(SpikingNetwork([4, 20, 3], tau_s=0.35, thresholds=[1.0, 1.0], max_spikes=[5, 8],
                                  t_max=4.0, inits=[("normal", 0.7, 5.7), ("normal", 0.3, 0.3)],
                                  dtype=torch.float64))


def _inputs(n, seed=0, slots=1):
    g = torch.Generator().manual_seed(seed)
    return WINDOW[0] + (WINDOW[1] - WINDOW[0]) * torch.rand((n, 4, slots), generator=g, dtype=torch.float64)


def _labels(net, x, rule, seed=0):
    """The network's own predictions with a fifth of them changed: a mix of right and wrong."""
    g = torch.Generator().manual_seed(seed)
    _, pred = losses_and_predictions(net, x, torch.zeros(len(x), dtype=torch.int64), TTFS_LOSS, rule)
    pred = pred.clamp_min(0)
    flip = torch.rand(len(x), generator=g) < 0.2
    return torch.where(flip, (pred + 1) % 3, pred)


TTFS_LOSS = RegimeLoss("ttfs", tau_loss=0.05, silent_time=8.0)
COUNT_LOSS = RegimeLoss("spike_count", target_true=6.0, target_false=1.0)


# --- exact gradients ------------------------------------------------------------------------

def test_ttfs_gradient_equals_finite_differences():
    net = _ttfs_net()
    x = _inputs(6, seed=1, slots=2)
    x[0, 1, 1] = INF  # an empty slot
    x[2, 3, :] = INF  # a silent input neuron
    y = _labels(net, x, "first_spike")
    losses, _, grad = input_time_gradient(net, x, y, TTFS_LOSS)
    assert grad.shape == x.shape and grad[0, 1, 1] == 0 and (grad[2, 3] == 0).all()
    h = 1e-6
    checked = 0
    for idx in torch.isfinite(x).nonzero().tolist():
        b = idx[0]
        plus, minus = x.clone(), x.clone()
        plus[tuple(idx)] += h
        minus[tuple(idx)] -= h
        fd = (TTFS_LOSS(net(plus[b:b + 1]), y[b:b + 1]) - TTFS_LOSS(net(minus[b:b + 1]), y[b:b + 1])) / (2 * h)
        assert grad[tuple(idx)].item() == pytest.approx(fd.item(), rel=1e-5, abs=1e-8), idx
        checked += abs(fd.item()) > 1e-6
    assert checked > 20  # most spikes matter: the comparison is not between zeros
    assert torch.allclose(losses, TTFS_LOSS(net(x), y))


def test_spike_count_gradient_is_exact_for_the_linearised_loss():
    """The count loss is piecewise constant; its gradient (as in training) is the exact
    gradient of sum_k (target - count) t_k at fixed counts, which finite differences see."""
    net = _multispike_net()
    x = _inputs(5, seed=2, slots=2)
    x[1, 0, 1] = INF
    y = torch.tensor([0, 1, 2, 0, 1])
    losses, out, grad = input_time_gradient(net, x, y, COUNT_LOSS)
    counts = torch.isfinite(out).sum(-1)
    assert (counts > 0).sum() >= 8  # the output layer is active
    targets = torch.full(counts.shape, 1.0, dtype=torch.float64)
    targets[torch.arange(5), y] = 6.0
    error = targets - counts

    def linearised(times, b):
        o = net(times[b:b + 1])
        assert torch.equal(torch.isfinite(o).sum(-1), counts[b:b + 1])  # no spike appears or vanishes
        return (error[b].unsqueeze(-1) * torch.where(torch.isfinite(o[0]), o[0], torch.zeros_like(o[0]))).sum()

    h = 1e-6
    nonzero = 0
    for idx in torch.isfinite(x).nonzero().tolist():
        plus, minus = x.clone(), x.clone()
        plus[tuple(idx)] += h
        minus[tuple(idx)] -= h
        fd = (linearised(plus, idx[0]) - linearised(minus, idx[0])) / (2 * h)
        assert grad[tuple(idx)].item() == pytest.approx(fd.item(), rel=1e-5, abs=1e-8), idx
        nonzero += abs(fd.item()) > 1e-6
    assert nonzero > 20
    assert torch.allclose(losses, 0.5 * (error ** 2).sum(-1))


def test_training_loss_follows_the_config():
    ttfs = training_loss(TrainConfig(loss="ttfs", tau_loss=0.05, t_max=8.0))
    assert ttfs == RegimeLoss("ttfs", tau_loss=0.05, silent_time=8.0)
    assert training_loss(TrainConfig(loss="ttfs", t_max=INF)).silent_time is None
    count = training_loss(TrainConfig(loss="spike_count", target_true=20.0, target_false=4.0))
    assert count == RegimeLoss("spike_count", target_true=20.0, target_false=4.0)
    with pytest.raises(ValueError, match="kind"):
        RegimeLoss("mse")


# --- the threat model -----------------------------------------------------------------------

def _check_shift(x, adv, eps, attackable):
    finite = torch.isfinite(x)
    assert torch.equal(torch.isfinite(adv), finite)  # no spike created or removed
    d = (adv - x)[finite]
    assert d.abs().max() <= eps + 1e-12
    assert (adv[finite] >= WINDOW[0]).all() and (adv[finite] <= WINDOW[1]).all()
    assert torch.equal(adv[:, ~attackable], x[:, ~attackable])  # the bias neuron is untouched


@pytest.mark.parametrize("eps", [0.0, 0.05, 0.4])
def test_shifts_respect_epsilon_and_window(eps):
    torch.manual_seed(0)
    net5 = _frozen(SpikingNetwork([5, 12, 3], tau_s=1.0, thresholds=[1.0, 1.0], max_spikes=[1, 1], t_max=8.0,
                                  inits=[("normal", 1.5, 0.8), ("normal", 0.5, 0.8)], dtype=torch.float64))
    x = torch.cat([_inputs(40, seed=3, slots=2), torch.full((40, 1, 2), 0.9, dtype=torch.float64)], 1)
    x[:, 4, 1] = INF
    x[:5, 0, 0] = WINDOW[0]  # at the window's edges: the projection must hold them inside
    x[5:10, 1, 0] = WINDOW[1]
    x[10:15, 2, :] = INF
    attackable = torch.tensor([True, True, True, True, False])
    y = _labels(net5, x, "first_spike")
    before = x.clone()
    for adv in (fgsm(net5, x, y, TTFS_LOSS, "first_spike", eps, WINDOW, attackable),
                pgd(net5, x, y, TTFS_LOSS, "first_spike", eps, WINDOW, steps=4, restarts=2,
                    attackable=attackable),
                pgd(net5, x, y, TTFS_LOSS, "first_spike", eps, WINDOW, steps=3, random_start=False,
                    attackable=attackable, goal="loss"),
                random_search(net5, x, y, TTFS_LOSS, "first_spike", eps, WINDOW, draws=5,
                              attackable=attackable)):
        _check_shift(x, adv, eps, attackable)
    assert torch.equal(x, before)  # inputs untouched
    if eps > 0:
        moved = pgd(net5, x, y, TTFS_LOSS, "first_spike", eps, WINDOW, steps=4, attackable=attackable,
                    goal="loss")
        assert (moved != x)[torch.isfinite(x)].any()


def test_allowed_range_refuses_bad_arguments():
    x = _inputs(3)
    with pytest.raises(ValueError, match="epsilon"):
        allowed_range(x, -0.1, WINDOW)
    with pytest.raises(ValueError, match="window"):
        allowed_range(x, 0.1, (1.0, 0.5))
    with pytest.raises(ValueError, match="outside the window"):
        allowed_range(x, 0.1, (0.5, 1.0))
    with pytest.raises(ValueError, match="attackable"):
        allowed_range(x, 0.1, WINDOW, torch.tensor([True, False]))
    low, high, movable = allowed_range(x, 0.1, WINDOW, torch.tensor([True, True, False, True]))
    assert torch.equal(low[:, 2], x[:, 2]) and torch.equal(high[:, 2], x[:, 2]) and not movable[:, 2].any()


@pytest.mark.parametrize("attack", ["gradient", "exact", "random"])
def test_deletions_remove_k_attackable_spikes(attack):
    torch.manual_seed(0)
    net = _frozen(SpikingNetwork([5, 12, 3], tau_s=1.0, thresholds=[1.0, 1.0], max_spikes=[1, 1], t_max=8.0,
                                 inits=[("normal", 1.5, 0.8), ("normal", 0.5, 0.8)], dtype=torch.float64))
    x = torch.cat([_inputs(30, seed=4), torch.full((30, 1, 1), 0.9, dtype=torch.float64)], 1)
    x[:4, 2, 0] = INF  # samples with only three attackable spikes
    attackable = torch.tensor([True, True, True, True, False])
    y = _labels(net, x, "first_spike")
    if attack == "gradient":
        seq = delete_by_gradient(net, x, y, TTFS_LOSS, 4, attackable=attackable)
    elif attack == "exact":
        seq = delete_by_exact_effect(net, x, y, TTFS_LOSS, 4, attackable=attackable)
    else:
        seq = delete_at_random(x, 4, attackable=attackable, seed=1)
    assert len(seq) == 5 and torch.equal(seq[0], x)
    n0 = torch.isfinite(x[:, :4]).sum((1, 2))
    for k, t in enumerate(seq):
        assert torch.equal(torch.isfinite(t[:, :4]).sum((1, 2)), (n0 - k).clamp_min(0))
        assert torch.equal(t[:, 4], x[:, 4])  # the bias is never deleted
        kept = torch.isfinite(t)
        assert torch.equal(t[kept], x[kept])  # the other spikes do not move
        if k:
            assert (kept <= torch.isfinite(seq[k - 1])).all()  # deletions accumulate


# --- the attacks are real -------------------------------------------------------------------

def test_pgd_beats_random_search_on_a_tiny_network():
    """Over the same epsilon ball PGD finds a higher mean loss than random search with more
    than twice its loss evaluations, and at least as high a loss on most samples."""
    net = _ttfs_net(seed=0)
    x = _inputs(100, seed=5)
    y = _labels(net, x, "first_spike", seed=5)
    clean = TTFS_LOSS(net(x), y)
    for eps in (0.05, 0.2):
        adv = pgd(net, x, y, TTFS_LOSS, "first_spike", eps, WINDOW, steps=10, restarts=5, goal="loss")
        rnd = random_search(net, x, y, TTFS_LOSS, "first_spike", eps, WINDOW, draws=120, goal="loss")
        l_pgd, l_rnd = TTFS_LOSS(net(adv), y), TTFS_LOSS(net(rnd), y)
        assert l_pgd.mean() > l_rnd.mean() > clean.mean()
        assert (l_pgd >= l_rnd - 1e-12).double().mean() >= 0.8
        assert (l_pgd >= clean).all()  # the clean input is a candidate
        acc = {name: (losses_and_predictions(net, t, y, TTFS_LOSS, "first_spike")[1] == y).double().mean()
               for name, t in (("clean", x), ("pgd", pgd(net, x, y, TTFS_LOSS, "first_spike", eps, WINDOW,
                                                               steps=10, restarts=5)))}
        assert acc["pgd"] < acc["clean"]


def test_gradient_deletion_beats_random_deletion():
    net = _ttfs_net(seed=1)
    x = _inputs(150, seed=6)
    y = _labels(net, x, "first_spike", seed=6)
    grad = delete_by_gradient(net, x, y, TTFS_LOSS, 2)
    exact = delete_by_exact_effect(net, x, y, TTFS_LOSS, 2)
    rand = delete_at_random(x, 2, seed=0)
    acc = lambda t: (losses_and_predictions(net, t, y, TTFS_LOSS, "first_spike")[1] == y).double().mean()  # noqa: E731
    for k in (1, 2):
        assert acc(exact[k]) <= acc(grad[k]) < acc(rand[k])


def test_spike_at_t_max_is_deleted_and_the_estimate_is_linear():
    """The deletion estimate's premise: an input spike moved to the first layer's t_max has
    the effect of deleting it; the estimate is dL/dt (t_max - t)."""
    net = _ttfs_net()
    x = _inputs(8, seed=7)
    y = _labels(net, x, "first_spike")
    moved, deleted = x.clone(), x.clone()
    moved[:, 2, 0] = 8.0
    deleted[:, 2, 0] = INF
    assert torch.equal(net(moved), net(deleted))
    est = deletion_estimates(net, x, y, TTFS_LOSS)
    _, _, grad = input_time_gradient(net, x, y, TTFS_LOSS)
    assert torch.allclose(est, grad * (8.0 - x))
    exact = exact_deletion_effects(net, x, y, TTFS_LOSS)
    for j in range(4):
        d = x.clone()
        d[:, j, 0] = INF
        assert torch.allclose(exact[:, j, 0], TTFS_LOSS(net(d), y))
    infinite = _frozen(SpikingNetwork([4, 3], tau_s=1.0, thresholds=1.0, dtype=torch.float64))
    with pytest.raises(ValueError, match="t_end"):
        deletion_estimates(infinite, x, y, TTFS_LOSS)


def test_deletion_estimate_ends_at_the_first_layer_even_when_it_is_a_convolution():
    """The default t_end of the deletion estimate is the t_max of the network's first layer of
    neurons, a ConvLIF here, not of the first fully connected layer after it."""
    from multispike.attacks import _first_layer_t_max
    from multispike.layers import ConvLIF, LIF

    net = torch.nn.Sequential(ConvLIF(1, 2, 3, tau_s=0.1, threshold=0.5, t_max=0.3),
                              LIF(8, 3, tau_s=0.1, threshold=0.5))
    assert _first_layer_t_max(net, None) == pytest.approx(0.3)
    assert _first_layer_t_max(net, 2.0) == 2.0
