"""Tests of multispike.losses: loss values, their gradients and the prediction rules."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from multispike.losses import (
    first_spike_times,
    predict,
    predict_first_spike,
    predict_spike_count,
    spike_count_loss,
    spike_counts,
    ttfs_cross_entropy,
)

INF = math.inf


def leaf(values):
    return torch.tensor(values, dtype=torch.float64, requires_grad=True)


# ---------------------------------------------------------------------------- spike count


def count_example():
    # (batch 2, classes 3, slots 3); the counts are 2, 0, 1 and 3, 3, 0
    times = leaf([
        [[0.1, 0.2, INF], [INF, INF, INF], [0.3, INF, INF]],
        [[0.05, 0.15, 0.25], [0.1, 0.2, 0.4], [INF, INF, INF]],
    ])
    return times, torch.tensor([0, 1])


def test_spike_counts_and_first_spike_times():
    times, _ = count_example()
    assert spike_counts(times).tolist() == [[2, 0, 1], [3, 3, 0]]
    first = first_spike_times(times.detach())
    assert first.tolist() == [[0.1, INF, 0.3], [0.05, 0.1, INF]]


def test_spike_count_loss_value_and_gradient_by_hand():
    times, labels = count_example()
    loss = spike_count_loss(times, labels, target_true=5.0, target_false=2.0)
    # target - count:  sample 0 (label 0): 5-2=3, 2-0=2, 2-1=1
    #                  sample 1 (label 1): 2-3=-1, 5-3=2, 2-0=2
    assert loss.item() == pytest.approx(0.5 * (9 + 4 + 1 + 1 + 4 + 4) / 2)
    loss.backward()
    # every spike of neuron n gets (target_n - count_n) / batch; silent neurons and empty
    # (+inf) slots get exactly 0
    expected = torch.tensor([
        [[1.5, 1.5, 0.0], [0.0, 0.0, 0.0], [0.5, 0.0, 0.0]],
        [[-0.5, -0.5, -0.5], [1.0, 1.0, 1.0], [0.0, 0.0, 0.0]],
    ], dtype=torch.float64)
    assert torch.equal(times.grad, expected)


def test_spike_count_loss_sign_and_upstream_gradient():
    times, labels = count_example()
    (3.0 * spike_count_loss(times, labels, target_true=5.0, target_false=2.0)).backward()
    grad = times.grad
    assert torch.isfinite(grad).all()
    # too few spikes -> positive dL/dt (gradient descent moves them earlier); too many -> negative
    assert (grad[0, 0, :2] > 0).all() and (grad[1, 0] < 0).all()
    assert grad[0, 0, 0].item() == pytest.approx(3 * 1.5)  # chain rule with the upstream 3


def test_spike_count_loss_defaults_and_perfect_counts():
    times = torch.full((1, 2, 16), INF)
    times[0, 0, :15] = torch.linspace(0.1, 1.5, 15)  # 15 spikes for the label (default target)
    times[0, 1, :3] = torch.tensor([0.2, 0.3, 0.4])  # 3 for the other (default target_false)
    times.requires_grad_(True)
    loss = spike_count_loss(times, torch.tensor([0]))
    assert loss.item() == 0.0
    loss.backward()
    assert not times.grad.any()


def test_spike_count_loss_accepts_int32_labels():
    times, labels = count_example()
    a = spike_count_loss(times, labels)
    b = spike_count_loss(times, labels.to(torch.int32))
    assert a.item() == b.item()


# ---------------------------------------------------------------------------- TTFS


def test_ttfs_cross_entropy_equals_torch_cross_entropy():
    times = leaf([
        [[0.3, 0.5], [0.1, 0.9], [0.2, INF]],
        [[0.05, INF], [0.4, 0.6], [0.35, 0.36]],
        [[0.7, INF], [0.7, INF], [0.01, 0.02]],
    ])
    labels = torch.tensor([1, 0, 2])
    tau = 0.2
    loss = ttfs_cross_entropy(times, labels, tau_loss=tau)
    loss.backward()

    ref_times = times.detach().clone().requires_grad_(True)
    ref = F.cross_entropy(-ref_times.min(-1).values / tau, labels)
    ref.backward()
    assert loss.item() == pytest.approx(ref.item(), rel=1e-12)
    assert torch.allclose(times.grad, ref_times.grad, rtol=1e-12, atol=0)
    # only first spikes carry gradient; the labelled neuron's is pushed earlier (dL/dt > 0)
    assert times.grad[0, 1, 1] == 0 and times.grad[0, 0, 1] == 0
    assert times.grad[0, 1, 0] > 0 and times.grad[0, 0, 0] < 0


def test_ttfs_cross_entropy_ignores_silent_wrong_neurons():
    # neuron 2 is silent but not labelled: its logit is -inf, i.e. probability 0
    times = leaf([[[0.3, INF], [0.1, INF], [INF, INF]]])
    loss = ttfs_cross_entropy(times, torch.tensor([1]), tau_loss=0.1)
    logits = torch.tensor([-3.0, -1.0], dtype=torch.float64)
    expected = -(logits[1] - torch.logsumexp(logits, 0))
    assert loss.item() == pytest.approx(expected.item(), rel=1e-12)
    loss.backward()
    assert torch.isfinite(times.grad).all()
    assert not times.grad[0, 2].any()


def test_ttfs_cross_entropy_silent_label_without_stand_in_is_infinite():
    times = leaf([[[0.3, INF], [INF, INF]], [[0.3, INF], [0.2, INF]]])
    loss = ttfs_cross_entropy(times, torch.tensor([1, 1]), tau_loss=0.1)
    assert loss.item() == INF


def test_ttfs_cross_entropy_silent_time_stands_in_without_gradient():
    times = leaf([[[0.3, INF], [INF, INF], [0.5, 0.6]]])
    labels = torch.tensor([1])
    loss = ttfs_cross_entropy(times, labels, tau_loss=0.5, silent_time=2.0)
    assert math.isfinite(loss.item())
    expected = F.cross_entropy(torch.tensor([[-0.3, -2.0, -0.5]], dtype=torch.float64) / 0.5, labels)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-12)
    loss.backward()
    assert torch.isfinite(times.grad).all()
    # a sample whose labelled neuron is silent contributes no gradient at all: neither to
    # the stand-in nor, through the softmax, to the neurons that did fire
    assert not times.grad.any()
    # in a batch, the other samples keep their full gradient (batch mean over 2 samples)
    both = leaf([[[0.3, INF], [INF, INF], [0.5, 0.6]], [[0.3, INF], [0.2, INF], [0.5, 0.6]]])
    ttfs_cross_entropy(both, torch.tensor([1, 1]), tau_loss=0.5, silent_time=2.0).backward()
    alone = leaf([[[0.3, INF], [0.2, INF], [0.5, 0.6]]])
    ttfs_cross_entropy(alone, labels, tau_loss=0.5).backward()
    assert not both.grad[0].any()
    torch.testing.assert_close(both.grad[1], alone.grad[0] / 2)
    # silent_time does not touch samples whose neurons all fired
    fired = leaf([[[0.3, INF], [0.1, INF], [0.5, 0.6]]])
    assert (ttfs_cross_entropy(fired, labels, 0.5, silent_time=2.0).item()
            == ttfs_cross_entropy(fired, labels, 0.5).item())


def test_ttfs_cross_entropy_accepts_int32_labels():
    times = leaf([[[0.3, INF], [0.1, INF]]])
    a = ttfs_cross_entropy(times, torch.tensor([0]), tau_loss=0.1)
    b = ttfs_cross_entropy(times, torch.tensor([0], dtype=torch.int32), tau_loss=0.1)
    assert a.item() == b.item()


@pytest.mark.parametrize("tau", [0.0, -1.0, math.nan])
def test_ttfs_cross_entropy_rejects_bad_tau(tau):
    with pytest.raises(ValueError, match="tau_loss"):
        ttfs_cross_entropy(torch.zeros(1, 2, 1), torch.tensor([0]), tau_loss=tau)


# ---------------------------------------------------------------------------- predictions


def prediction_example():
    return torch.tensor([
        # spike count: 0 and 1 tie with 2 spikes, 1 fired first -> 1; first spike: 2
        [[0.3, 0.5, INF], [0.2, 0.6, INF], [0.1, INF, INF]],
        # 0 has most spikes despite the latest first spike -> 0; first spike: 1
        [[0.5, 0.6, 0.7], [0.1, INF, INF], [0.2, 0.3, INF]],
        # nothing fired -> -1 for both rules
        [[INF, INF, INF], [INF, INF, INF], [INF, INF, INF]],
        # a single spike anywhere decides both
        [[INF, INF, INF], [INF, INF, INF], [0.9, INF, INF]],
    ])


def test_predict_spike_count_breaks_ties_by_first_spike():
    assert predict_spike_count(prediction_example()).tolist() == [1, 0, -1, 2]


def test_predict_first_spike():
    assert predict_first_spike(prediction_example()).tolist() == [2, 1, -1, 2]


def test_predict_dispatch():
    times = prediction_example()
    assert torch.equal(predict(times, "spike_count"), predict_spike_count(times))
    assert torch.equal(predict(times, "first_spike"), predict_first_spike(times))
    with pytest.raises(ValueError, match="rule"):
        predict(times, "majority")


# ---------------------------------------------------------------------------- bad input


def ttfs(times, labels):
    return ttfs_cross_entropy(times, labels, tau_loss=0.1)


LOSSES = [pytest.param(spike_count_loss, id="spike_count"), pytest.param(ttfs, id="ttfs")]


@pytest.mark.parametrize("loss_fn", LOSSES)
@pytest.mark.parametrize("labels", [[0, 3], [-1, 0]])
def test_labels_out_of_range(loss_fn, labels):
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\)"):
        loss_fn(torch.zeros(2, 3, 1), torch.tensor(labels))


@pytest.mark.parametrize("loss_fn", LOSSES)
@pytest.mark.parametrize("labels", [[[0], [1]], [0, 1, 2], [0]])
def test_labels_wrong_shape(loss_fn, labels):
    with pytest.raises(ValueError, match=r"labels must have shape \(2,\)"):
        loss_fn(torch.zeros(2, 3, 1), torch.tensor(labels))


@pytest.mark.parametrize("loss_fn", LOSSES)
@pytest.mark.parametrize("labels", [torch.tensor([0.0, 1.0]), torch.tensor([0, 1], dtype=torch.uint8),
                                    [0, 1]])
def test_labels_wrong_type(loss_fn, labels):
    with pytest.raises(TypeError, match="labels must be an int64 tensor"):
        loss_fn(torch.zeros(2, 3, 1), labels)


@pytest.mark.parametrize("loss_fn", LOSSES)
def test_out_times_must_be_3d(loss_fn):
    with pytest.raises(ValueError, match=r"\(batch, classes, slots\)"):
        loss_fn(torch.zeros(2, 3), torch.tensor([0, 1]))
