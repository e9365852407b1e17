"""Exact gradients against float64 central finite differences (torch.autograd.gradcheck)."""
import math

import pytest
import torch

from multispike.functional import lif


def _finite_or_zero(t):
    return torch.where(torch.isfinite(t), t, torch.zeros_like(t))


def _inputs(seed, batch, n_in, slots, t_span=1.0, p_empty=0.2):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(batch, n_in, slots, generator=g, dtype=torch.float64) * t_span
    x[torch.rand(x.shape, generator=g, dtype=torch.float64) < p_empty] = math.inf
    return x.requires_grad_(True)


def _weights(seed, n_out, n_in, low, high):
    g = torch.Generator().manual_seed(seed)
    w = torch.rand(n_out, n_in, generator=g, dtype=torch.float64) * (high - low) + low
    return w.requires_grad_(True)


CASES = [
    # (name, max_spikes, reset, weight range, threshold)
    ("ttfs", 1, None, (0.0, 2.0), 0.5),
    ("multi-reset=threshold", 8, None, (-1.0, 3.0), 0.3),
    ("multi-reset<threshold", 8, 0.2, (-1.0, 3.0), 0.3),
    ("multi-reset>threshold", 8, 0.45, (-1.0, 3.0), 0.3),
]


@pytest.mark.parametrize("name,max_spikes,reset,wrange,threshold", CASES, ids=[c[0] for c in CASES])
def test_one_layer_gradcheck(name, max_spikes, reset, wrange, threshold):
    x = _inputs(0, batch=3, n_in=7, slots=3)
    w = _weights(1, 4, 7, *wrange)
    kw = dict(tau_s=0.2, threshold=threshold, reset=reset, max_spikes=max_spikes)
    out = lif(x, w, **kw)
    counts = torch.isfinite(out).sum(-1)
    assert counts.sum() >= 6, "the test network must spike"
    if max_spikes > 1:
        assert counts.max() >= 3, "the multi-spike case must exercise several spikes per neuron"
    loss = _finite_or_zero(out).sum()
    loss.backward()
    assert x.grad.abs().sum() > 0 and w.grad.abs().sum() > 0
    assert torch.all(x.grad[torch.isinf(x)] == 0), "empty input slots carry no gradient"
    assert torch.autograd.gradcheck(lambda x, w: _finite_or_zero(lif(x, w, **kw)), (x, w),
                                    eps=1e-7, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("max_spikes", [1, 6])
def test_two_layer_gradcheck(max_spikes):
    x = _inputs(2, batch=3, n_in=6, slots=2)
    w1 = _weights(3, 5, 6, -0.5, 3.0 if max_spikes > 1 else 2.0)
    w2 = _weights(4, 3, 5, -0.5, 3.0)
    kw = dict(tau_s=0.2, threshold=0.3, max_spikes=max_spikes)

    def net(x, w1, w2):
        return _finite_or_zero(lif(lif(x, w1, **kw), w2, **kw))

    hidden = lif(x, w1, **kw)
    out = lif(hidden, w2, **kw)
    assert torch.isfinite(hidden).sum() >= 8 and torch.isfinite(out).sum() >= 4
    assert torch.autograd.gradcheck(net, (x, w1, w2), eps=1e-7, atol=1e-5, rtol=1e-4)


def test_reset_coupling_matters():
    """Later spikes depend on earlier ones through the reset; dropping that term would be
    caught: compare d t_2 / d w with a finite difference computed by hand."""
    x = torch.tensor([[[0.0], [0.05]]], dtype=torch.float64)
    w = torch.tensor([[6.0, 5.0]], dtype=torch.float64, requires_grad=True)
    kw = dict(tau_s=0.1, threshold=0.2, max_spikes=4)
    out = lif(x, w, **kw)
    assert torch.isfinite(out[0, 0]).sum() >= 3
    out[0, 0, 2].backward()
    eps = 1e-7
    numeric = []
    for i in range(2):
        wp, wm = w.detach().clone(), w.detach().clone()
        wp[0, i] += eps
        wm[0, i] -= eps
        numeric.append(((lif(x, wp, **kw) - lif(x, wm, **kw))[0, 0, 2] / (2 * eps)).item())
    assert torch.allclose(w.grad[0], torch.tensor(numeric, dtype=torch.float64), rtol=1e-5, atol=1e-7)


def test_float32_gradients_match_float64():
    x64 = _inputs(5, batch=4, n_in=8, slots=2).detach()
    w64 = _weights(6, 5, 8, -1.0, 3.0).detach()
    grads = {}
    for dtype in (torch.float32, torch.float64):
        x = x64.to(dtype).requires_grad_(True)
        w = w64.to(dtype).requires_grad_(True)
        out = lif(x, w, tau_s=0.2, threshold=0.3, max_spikes=8)
        assert out.dtype == dtype
        _finite_or_zero(out).sum().backward()
        grads[dtype] = (x.grad.double(), w.grad.double())
    for g32, g64 in zip(grads[torch.float32], grads[torch.float64]):
        assert torch.allclose(g32, g64, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("n_blocks", [2, 4])
def test_gradcheck_with_neuron_blocks(monkeypatch, n_blocks):
    """Small batches split each sample's neurons into blocks (one task each) that write
    separate segments of the spike log; with 5 neurons and 4 blocks the last block is
    empty. Outputs and gradients must not depend on the split."""
    import multispike.dense as F

    x = _inputs(5, batch=2, n_in=7, slots=3)
    w = _weights(6, 5, 7, -1.0, 3.0)
    kw = dict(tau_s=0.2, threshold=0.3, max_spikes=6)

    def outputs_and_grads():
        x.grad = w.grad = None
        out = lif(x, w, **kw)
        (_finite_or_zero(out) * torch.linspace(-1, 1, out.numel(), dtype=out.dtype).view_as(out)).sum().backward()
        return out.detach(), x.grad.clone(), w.grad.clone()

    monkeypatch.setattr(F, "neuron_blocks", lambda batch, n_out: 1)
    reference = outputs_and_grads()
    monkeypatch.setattr(F, "neuron_blocks", lambda batch, n_out: n_blocks)
    blocked = outputs_and_grads()
    assert torch.isfinite(reference[0]).sum(-1).max() >= 3
    assert torch.equal(reference[0], blocked[0])
    for a, b in zip(reference[1:], blocked[1:]):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    assert torch.autograd.gradcheck(lambda x, w: _finite_or_zero(lif(x, w, **kw)), (x, w),
                                    eps=1e-7, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("n_chunks", [1, 3])
def test_weight_gradient_in_either_memory_layout(monkeypatch, n_chunks):
    """LIF keeps its weight in memory as W^T (the kernels' layout): the gradient then comes
    back in that layout without a transpose. A plain (out, in) weight gets its gradient in
    its own layout. Both must agree, whatever the number of partial-sum chunks."""
    import multispike
    import multispike.steps as steps

    monkeypatch.setattr(steps, "backward_chunks", lambda batch: n_chunks)
    torch.manual_seed(0)
    layer = multispike.LIF(7, 5, tau_s=0.2, threshold=0.3, max_spikes=6, init=("uniform", -1.0, 3.0),
                           dtype=torch.float64)
    assert layer.weight.t().is_contiguous()
    plain = layer.weight.detach().contiguous().requires_grad_(True)
    x = _inputs(7, batch=4, n_in=7, slots=3)
    grads = []
    for w in (layer.weight, plain):
        out = lif(x, w, tau_s=0.2, threshold=0.3, max_spikes=6)
        _finite_or_zero(out).sum().backward()
        assert w.grad.stride() == w.stride()
        grads.append(w.grad)
    assert grads[0].abs().sum() > 0
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-12, atol=1e-12)


def test_all_saturated_layer_skips_its_remaining_events():
    """Once every neuron of a sample has saturated (TTFS: fired, and would fire again), the
    forward pass skips the sample's remaining input events. Adding one silent neuron (zero
    weights: it never saturates, so nothing is skipped) must change nothing for the others,
    neither spike times nor gradients."""
    x = _inputs(11, batch=3, n_in=6, slots=2)
    w = _weights(12, 5, 6, 1.0, 3.0)
    kw = dict(tau_s=0.2, threshold=0.3, max_spikes=1)
    from multispike.functional import lif_with_saturation
    out, saturated = lif_with_saturation(x.detach(), w.detach(), **kw)
    assert saturated.all()
    last_input = torch.where(torch.isfinite(x), x, torch.zeros_like(x)).flatten(1).max(1).values
    assert (out.flatten(1).max(1).values < last_input).all(), "events must remain after saturation"

    def run(weight):
        x.grad = None
        weight = weight.detach().requires_grad_(True)
        o = lif(x, weight, **kw)
        (_finite_or_zero(o)[:, :5] * torch.arange(1.0, 6.0, dtype=o.dtype).view(1, 5, 1)).sum().backward()
        return o.detach()[:, :5], x.grad.clone(), weight.grad[:5]

    skipped = run(w)
    with_silent = run(torch.cat([w.detach(), torch.zeros(1, 6, dtype=w.dtype)]))
    assert torch.equal(skipped[0], with_silent[0])
    for a, b in zip(skipped[1:], with_silent[1:]):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    assert torch.autograd.gradcheck(lambda x, w: _finite_or_zero(lif(x, w, **kw)), (x, w),
                                    eps=1e-7, atol=1e-5, rtol=1e-4)
