"""Edge cases and input validation of the exact LIF layer."""
import math

import numpy as np
import pytest
import torch

import multispike
from multispike.functional import lif, lif_with_saturation

INF = math.inf


def first_spike_single_input(w, tau_s, threshold, t0=0.0):
    """Closed form for one input spike of weight w at t0: u = w tau (e^{-s/tau} - e^{-s/tau_s})."""
    tau = 2 * tau_s
    c = threshold / tau
    disc = 1 - 4 * c / w
    return t0 + tau * math.log(2 / (1 + math.sqrt(disc)))


def test_single_input_matches_closed_form():
    out = lif(torch.tensor([[[0.3]]], dtype=torch.float64), torch.tensor([[20.0]], dtype=torch.float64),
              tau_s=0.1, threshold=1.0, max_spikes=3)
    assert out[0, 0, 0].item() == pytest.approx(first_spike_single_input(20.0, 0.1, 1.0, 0.3), rel=1e-12)
    assert torch.isinf(out[0, 0, 1:]).all()


def test_no_input_spikes():
    x = torch.full((2, 4, 3), INF, requires_grad=True)
    layer = multispike.LIF(4, 5, tau_s=0.1, threshold=0.2, max_spikes=4)
    out = layer(x)
    assert out.shape == (2, 5, 4) and torch.isinf(out).all()
    out.sum().backward()  # the loss is inf, but no slot carries a gradient
    assert torch.all(x.grad == 0) and torch.all(layer.weight.grad == 0)


def test_empty_batch():
    out = lif(torch.zeros(0, 3, 1), torch.ones(2, 3), tau_s=0.1, threshold=0.1, max_spikes=2)
    assert out.shape == (0, 2, 2)


def test_simultaneous_inputs_sum_their_weights():
    """Inputs at the same time act like one input with the summed weight."""
    x = torch.tensor([[[0.2], [0.2], [0.2]]], dtype=torch.float64)
    w = torch.tensor([[4.0, 7.0, 9.0]], dtype=torch.float64)
    out = lif(x, w, tau_s=0.1, threshold=1.0, max_spikes=1)
    assert out[0, 0, 0].item() == pytest.approx(first_spike_single_input(20.0, 0.1, 1.0, 0.2), rel=1e-12)
    one = lif(torch.tensor([[[0.2]]], dtype=torch.float64), torch.tensor([[20.0]], dtype=torch.float64),
              tau_s=0.1, threshold=1.0, max_spikes=5)
    many = lif(x, w, tau_s=0.1, threshold=1.0, max_spikes=5)
    torch.testing.assert_close(many, one, rtol=1e-12, atol=1e-12)


def test_saturation_keeps_first_spikes_and_is_reported():
    x = torch.tensor([[[0.0], [0.01]]], dtype=torch.float64)
    w = torch.tensor([[5.0, 5.0], [0.5, 0.0]], dtype=torch.float64)
    kw = dict(tau_s=0.1, threshold=0.1)
    full = lif(x, w, max_spikes=50, **kw)
    n_full = int(torch.isfinite(full[0, 0]).sum())
    assert n_full > 5 and n_full < 50
    few, saturated = lif_with_saturation(x, w, max_spikes=3, **kw)
    torch.testing.assert_close(few[0, 0], full[0, 0, :3])
    assert saturated.tolist() == [[True, False]]
    layer = multispike.LIF(2, 2, tau_s=0.1, threshold=0.1, max_spikes=3, dtype=torch.float64)
    with torch.no_grad():
        layer.weight.copy_(w)
    layer(x)
    assert layer.n_saturated == 1 and layer.saturated.tolist() == [[True, False]]
    _, not_saturated = lif_with_saturation(x, w, max_spikes=n_full, **kw)
    assert not not_saturated.any()


def test_t_max_drops_later_spikes():
    x = torch.tensor([[[0.0], [0.05], [0.3]]], dtype=torch.float64)
    w = torch.tensor([[8.0, 8.0, 8.0]], dtype=torch.float64)
    kw = dict(tau_s=0.1, threshold=0.2, max_spikes=20)
    full = lif(x, w, **kw)[0, 0]
    spikes = full[torch.isfinite(full)]
    assert len(spikes) >= 4
    t_max = float((spikes[1] + spikes[2]) / 2)
    cut = lif(x, w, t_max=t_max, **kw)[0, 0]
    assert torch.isfinite(cut).sum() == 2
    torch.testing.assert_close(cut[:2], spikes[:2])
    # inputs after t_max are ignored entirely
    cut2 = lif(x[:, :2], w[:, :2], t_max=0.2, **kw)[0, 0]
    torch.testing.assert_close(lif(x, w, t_max=0.2, **kw)[0, 0], cut2)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_long_durations_are_stable(dtype):
    """Spikes up to t = 50 with tau_s = 0.1 (t/tau_s = 500): exp(t/tau_s) overflows both dtypes
    if computed naively. The late burst must behave exactly like the same burst at t = 0."""
    burst = torch.tensor([0.0, 0.01, 0.02, 0.05, 0.07, 0.08], dtype=torch.float64)
    w = torch.tensor([[3.0, -1.0, 4.0, 2.0, 3.0, 1.0], [2.0, 2.0, 2.0, 2.0, 2.0, 2.0]], dtype=dtype)
    early = burst.to(dtype).reshape(1, 6, 1)
    both = torch.stack([burst, burst + 49.9], dim=-1).to(dtype).unsqueeze(0)  # (1, 6, 2)
    kw = dict(tau_s=0.1, threshold=0.2, max_spikes=20)
    out_early = lif(early, w, **kw)
    out_both = lif(both, w, **kw)
    n = torch.isfinite(out_early).sum(-1)
    assert (n > 1).all()
    for j in range(2):
        late = out_both[0, j][torch.isfinite(out_both[0, j]) & (out_both[0, j] > 40)]
        assert len(late) == n[0, j]
        tol = 1e-9 if dtype == torch.float64 else 2e-5
        torch.testing.assert_close(late - 49.9, out_early[0, j, : n[0, j]], rtol=0, atol=tol)
    assert torch.isfinite(out_both[torch.isfinite(out_both)]).all()


def test_gradients_finite_at_long_durations():
    g = torch.Generator().manual_seed(3)
    x = (torch.rand(2, 5, 3, generator=g, dtype=torch.float64) * 50).requires_grad_(True)
    w = (torch.rand(4, 5, generator=g, dtype=torch.float64) * 8).requires_grad_(True)
    out = lif(x, w, tau_s=0.1, threshold=0.2, max_spikes=10)
    assert torch.isfinite(out).sum() > 5
    torch.where(torch.isfinite(out), out, torch.zeros_like(out)).sum().backward()
    assert torch.isfinite(x.grad).all() and torch.isfinite(w.grad).all()


def test_slot_order_does_not_matter():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(3, 6, 4, generator=g, dtype=torch.float64)
    x[x < 0.2] = INF
    w = torch.rand(5, 6, generator=g, dtype=torch.float64) * 3 - 0.5
    kw = dict(tau_s=0.2, threshold=0.3, max_spikes=6)
    perm = torch.randperm(4, generator=g)
    torch.testing.assert_close(lif(x, w, **kw), lif(x[..., perm], w, **kw))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_inference_path_matches_training_path(dtype):
    """Without autograd the kernel skips the backward records; the spikes must not change."""
    g = torch.Generator().manual_seed(3)
    x = torch.rand(16, 12, 3, generator=g, dtype=dtype)
    x[x > 0.7] = INF
    w = (torch.rand(40, 12, generator=g, dtype=dtype) * 3 - 0.5).requires_grad_()
    kw = dict(tau_s=0.1, threshold=0.2, max_spikes=4)
    out, saturated = lif_with_saturation(x, w, **kw)
    assert out.requires_grad and saturated.any()  # saturation is part of what is compared
    with torch.no_grad():
        out_ng, saturated_ng = lif_with_saturation(x, w, **kw)
    assert not out_ng.requires_grad
    assert torch.equal(out.detach(), out_ng) and torch.equal(saturated, saturated_ng)


@pytest.mark.parametrize("kind", ["spread", "ties", "clustered", "one value"])
def test_event_merge_is_a_stable_time_sort(kind):
    """The merged event list equals a stable sort of the spike slots earlier than t_max."""
    from multispike.dense import _merge_events
    from multispike.parameters import LIFParameters
    g = torch.Generator().manual_seed(4)
    x = torch.rand(5, 30, 4, generator=g, dtype=torch.float64)
    if kind == "ties":
        x = torch.round(x * 4) / 4
    elif kind == "clustered":  # most spikes in a tiny interval, a few far away
        x = torch.where(x < 0.9, 0.5 + x * 1e-9, x * 10)
    elif kind == "one value":
        x = torch.full_like(x, 0.25)
    x[torch.rand(x.shape, generator=g, dtype=torch.float64) < 0.3] = INF
    t_max = 0.8
    tau_s = 0.1
    times, slot, source, n_events, decay_s, decay, z_end = _merge_events(
        x, LIFParameters.create(tau_s, 1.0, t_max=t_max).constants(x.dtype))
    for b in range(len(x)):
        flat = x[b].reshape(-1).numpy()
        keep = np.flatnonzero(flat < t_max)
        order = keep[np.argsort(flat[keep], kind="stable")]
        n = int(n_events[b])
        assert n == len(keep)
        assert np.array_equal(slot[b, :n].numpy(), order)
        assert np.array_equal(times[b, :n].numpy(), flat[order])
        assert torch.equal(source[b, :n], slot[b, :n] // 4)
        # window factors: gaps to the previous event, and each window's end (next event or t_max)
        t = times[b, :n].numpy()
        gap = np.diff(t, prepend=t[0])
        end = np.append(t[1:], t_max) - t
        np.testing.assert_allclose(decay_s[b, :n].numpy(), np.exp(-gap / tau_s), rtol=1e-13)
        np.testing.assert_allclose(decay[b, :n].numpy(), np.exp(-gap / (2 * tau_s)), rtol=1e-13)
        np.testing.assert_allclose(z_end[b, :n].numpy(), np.exp(end / (2 * tau_s)), rtol=1e-13)


def test_outputs_sorted_and_padded():
    g = torch.Generator().manual_seed(1)
    x = torch.rand(8, 10, 3, generator=g)
    w = torch.rand(6, 10, generator=g) * 3 - 0.5
    out = lif(x, w, tau_s=0.1, threshold=0.2, max_spikes=12)
    assert torch.isfinite(out).sum() > 20
    finite = torch.isfinite(out)
    # ascending, and once a slot is empty all later ones are
    assert (out[..., 1:] >= out[..., :-1]).all()
    assert (finite[..., 1:] <= finite[..., :-1]).all()


def test_float32_matches_float64():
    g = torch.Generator().manual_seed(2)
    x = torch.rand(4, 10, 2, generator=g, dtype=torch.float64)
    w = torch.rand(6, 10, generator=g, dtype=torch.float64) * 3 - 0.5
    kw = dict(tau_s=0.1, threshold=0.2, max_spikes=12)
    o64 = lif(x, w, **kw)
    o32 = lif(x.float(), w.float(), **kw)
    assert o32.dtype == torch.float32
    assert torch.equal(torch.isfinite(o32), torch.isfinite(o64))
    torch.testing.assert_close(o32.double(), o64, rtol=0, atol=1e-5)


def test_layer_two_layer_example_backward():
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        multispike.LIF(20, 30, tau_s=0.1, threshold=0.2, max_spikes=5, init=("uniform", 0.0, 1.0)),
        multispike.LIF(30, 4, tau_s=0.1, threshold=0.5, max_spikes=5, init=("uniform", -0.2, 1.0)))
    x = torch.rand(8, 20, 1) * 0.1
    out = net(x)
    assert out.shape == (8, 4, 5)
    torch.where(torch.isfinite(out), out, torch.zeros_like(out)).sum().backward()
    for p in net.parameters():
        assert torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0


BAD_TIMES = [
    (torch.zeros(3, 4), ValueError, "shape"),
    (torch.zeros(2, 5, 1), ValueError, "in_features"),
    (torch.full((2, 4, 1), math.nan), ValueError, "NaN"),
    (torch.full((2, 4, 1), -math.inf), ValueError, "negative"),
    (torch.full((2, 4, 1), -0.5), ValueError, "negative"),
    (torch.zeros(2, 4, 1, dtype=torch.int64), TypeError, "float32 or float64"),
    (torch.zeros(2, 4, 0), ValueError, "slot"),
    ([[[0.0]]], TypeError, "torch.Tensor"),
]


@pytest.mark.parametrize("training", [False, True], ids=["inference", "training"])
@pytest.mark.parametrize("times,error,words", BAD_TIMES)
def test_bad_times_are_rejected(times, error, words, training):
    """Both kernel paths refuse bad spike times: inference (one fused pass) and training
    (events merged first, for the backward pass)."""
    weight = torch.ones(2, 4, requires_grad=training)
    with pytest.raises(error, match=words):
        lif(times, weight, tau_s=0.1, threshold=0.2)


BAD_PARAMS = [
    (dict(tau_s=0.0), ValueError, "tau_s"),
    (dict(tau_s=-1.0), ValueError, "tau_s"),
    (dict(tau_s=math.nan), ValueError, "tau_s"),
    (dict(threshold=0.0), ValueError, "threshold"),
    (dict(threshold=-0.2), ValueError, "threshold"),
    (dict(reset=0.0), ValueError, "reset"),
    (dict(reset=-1.0), ValueError, "reset"),
    (dict(max_spikes=0), ValueError, "max_spikes"),
    (dict(max_spikes=2.5), TypeError, "max_spikes"),
    (dict(t_max=0.0), ValueError, "t_max"),
    (dict(t_max=math.nan), ValueError, "t_max"),
    (dict(tau_s="0.1"), TypeError, "tau_s"),
]


@pytest.mark.parametrize("kwargs,error,words", BAD_PARAMS)
def test_bad_parameters_are_rejected(kwargs, error, words):
    params = dict(tau_s=0.1, threshold=0.2)
    params.update(kwargs)
    with pytest.raises(error, match=words):
        lif(torch.zeros(1, 2, 1), torch.ones(3, 2), **params)
    with pytest.raises(error, match=words):
        multispike.LIF(2, 3, **params)


@pytest.mark.parametrize("weight,error,words", [
    (torch.ones(3), ValueError, "weight"),
    (torch.ones(3, 5), ValueError, "in_features"),
    (torch.ones(3, 2, dtype=torch.int64), TypeError, "weight"),
    (torch.full((3, 2), math.nan), ValueError, "weight"),
    (torch.tensor([[1.0, 0.0], [0.0, math.inf], [0.0, 0.0]]), ValueError, "weight"),
    (torch.tensor([[1.0, 0.0], [0.0, -math.inf], [0.0, 0.0]]), ValueError, "weight"),
])
def test_bad_weights_are_rejected(weight, error, words):
    with pytest.raises(error, match=words):
        lif(torch.zeros(1, 2, 1), weight, tau_s=0.1, threshold=0.2)


def test_bad_layer_sizes():
    with pytest.raises(ValueError, match="in_features"):
        multispike.LIF(0, 3)
    with pytest.raises(ValueError, match="out_features"):
        multispike.LIF(3, -1)


@pytest.mark.parametrize("all_layers", [False, True])
def test_network_inference_in_chunks_equals_one_pass(all_layers):
    torch.manual_seed(5)
    net = multispike.SpikingNetwork([12, 30, 4], tau_s=0.1, thresholds=[0.05, 0.2], max_spikes=[2, 3],
                                    inits=[("uniform", -0.2, 2.0), ("uniform", -0.2, 1.0)])
    x = torch.rand(23, 12, 1) * 0.1
    with torch.no_grad():
        whole = net(x, all_layers=True)
        sat_whole = [layer.saturated.clone() for layer in net.layers]
        net.inference_chunk = 5  # 23 samples: chunks of 5, 5, 5, 5, 3
        chunked = net(x, all_layers=all_layers)
    chunked = chunked if all_layers else [chunked]
    for a, b in zip(whole[-len(chunked):], chunked):
        assert torch.equal(a, b)
    assert any(bool(s.any()) for s in sat_whole) and torch.isfinite(whole[-1]).any()
    for layer, s in zip(net.layers, sat_whole):
        assert torch.equal(layer.saturated, s) and layer.n_saturated == int(s.sum())
    with torch.no_grad(), pytest.raises(TypeError, match="float32 or float64"):
        net(torch.zeros(23, 12, 1, dtype=torch.int64))
    with torch.no_grad(), pytest.raises(ValueError, match="NaN"):
        net(torch.full((23, 12, 1), math.nan))


@pytest.mark.parametrize("chunks", [1, 3, 7, 9])
def test_backward_chunks_do_not_change_gradients(monkeypatch, chunks):
    """The number of sample chunks (one per thread) only changes how the backward work is
    divided, not the gradients; more chunks than samples leaves some empty."""
    from multispike import steps
    g = torch.Generator().manual_seed(6)
    x = torch.rand(7, 9, 2, generator=g, dtype=torch.float64)
    x[x > 0.8] = INF
    w0 = torch.rand(50, 9, generator=g, dtype=torch.float64) * 2 - 0.3
    upstream = torch.randn(7, 50, 4, generator=g, dtype=torch.float64)

    def grads():
        xx = x.clone().requires_grad_()
        w = w0.clone().requires_grad_()
        out = lif(xx, w, tau_s=0.1, threshold=0.2, max_spikes=4)
        torch.where(torch.isfinite(out), out * upstream, torch.zeros_like(out)).sum().backward()
        return xx.grad, w.grad

    reference = grads()
    monkeypatch.setattr(steps, "backward_chunks", lambda batch: chunks)
    for a, b in zip(reference, grads()):
        assert a.abs().sum() > 0
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("n_blocks", [1, 3])
def test_many_tasks_share_working_rows_without_leaking_state(monkeypatch, n_blocks):
    """The training forward runs its (sample, neuron block) tasks in chunks that reuse one
    set of working rows. With more tasks than chunks (and blocks of unequal width), every
    sample must get exactly the spikes, saturation marks and gradients it gets alone."""
    import multispike.dense as F

    monkeypatch.setattr(F, "neuron_blocks", lambda batch, n_out: n_blocks)
    g = torch.Generator().manual_seed(11)
    batch = 300  # x 3 blocks: 900 tasks, more than the 256 chunks
    x = torch.rand(batch, 12, 2, generator=g, dtype=torch.float64)
    x[x > 0.7] = INF
    w0 = torch.rand(20, 12, generator=g, dtype=torch.float64) * 2.5 - 0.5
    upstream = torch.randn(batch, 20, 3, generator=g, dtype=torch.float64)

    def run(rows):
        xx = x[rows].clone().requires_grad_()
        w = w0.clone().requires_grad_()
        out, saturated = lif_with_saturation(xx, w, tau_s=0.1, threshold=0.3, max_spikes=3)
        torch.where(torch.isfinite(out), out * upstream[rows], torch.zeros_like(out)).sum().backward()
        return out.detach(), saturated, xx.grad, w.grad

    out, saturated, grad_x, grad_w = run(slice(None))
    assert torch.isfinite(out).sum() > batch and saturated.any() and not saturated.all()
    total_grad_w = torch.zeros_like(grad_w)
    for b in range(batch):
        out_b, saturated_b, grad_x_b, grad_w_b = run(slice(b, b + 1))
        assert torch.equal(out[b:b + 1], out_b)
        assert torch.equal(saturated[b:b + 1], saturated_b)
        torch.testing.assert_close(grad_x[b:b + 1], grad_x_b, rtol=1e-12, atol=1e-12)
        total_grad_w += grad_w_b
    torch.testing.assert_close(grad_w, total_grad_w, rtol=1e-10, atol=1e-10)


def test_layer_infer_refuses_a_foreign_transposed_weight():
    from multispike.functional import transposed_weight
    layer = multispike.LIF(4, 3, tau_s=0.1, threshold=0.2)
    x = torch.rand(2, 4, 1)
    with torch.no_grad():
        expected = layer(x)
        assert torch.equal(layer.infer(x, transposed_weight(layer.weight, x.dtype)), expected)
        with pytest.raises(ValueError, match="weight_t"):
            layer.infer(x, layer.weight.detach())  # (out, in): not transposed
        with pytest.raises(ValueError, match="weight_t"):
            layer.infer(x, transposed_weight(layer.weight, torch.float64))  # wrong dtype
        with pytest.raises(ValueError, match="NaN or inf"):
            transposed_weight(torch.full((3, 4), math.inf))


def test_window_end_after_an_underflowing_gap():
    """A gap so long that exp(-gap / tau_s) underflows in float32: the window end is then
    taken directly, not as 1 / decay (which would make it infinite)."""
    from multispike.dense import _merge_events
    from multispike.parameters import LIFParameters
    x = torch.tensor([[[0.0], [12.0]]], dtype=torch.float32)
    _, _, _, n_events, decay_s, decay, z_end = _merge_events(
        x, LIFParameters.create(0.1, 1.0).constants(x.dtype))
    assert int(n_events[0]) == 2 and decay_s[0, 1] == 0 and decay[0, 1] == 0
    assert math.isclose(float(z_end[0, 0]), math.exp(60.0), rel_tol=1e-6)
    assert z_end[0, 1] == math.inf


def test_layer_weight_layout_keeps_seeded_initialisation_and_checkpoints():
    """The weight is stored as W^T but drawn in (out, in) order, so a seed gives the same
    network as before the layout change, and plain (out, in) state dicts still load."""
    torch.manual_seed(3)
    layer = multispike.LIF(6, 4, init=("normal", 0.5, 1.0))
    torch.manual_seed(3)
    expected = torch.empty(4, 6).normal_(0.5, 1.0)
    assert torch.equal(layer.weight.detach(), expected)
    assert layer.weight.t().is_contiguous()
    other = multispike.LIF(6, 4)
    other.load_state_dict({"weight": expected.clone()})  # a contiguous (out, in) tensor
    assert torch.equal(other.weight.detach(), expected) and other.weight.t().is_contiguous()


@pytest.mark.parametrize("t_max", [0.3, math.inf])
@pytest.mark.parametrize("n_blocks", [1, 3])
def test_network_hands_hidden_spikes_on_as_events(monkeypatch, t_max, n_blocks):
    """Chunked inference passes each hidden layer's spikes to the next layer as sorted event
    lists (one neuron block per sample; with several blocks the next layer merges the
    spike times itself). Both must give exactly the layer-by-layer results, also with many
    equal spike times (inputs on a coarse grid, strong weights: neurons fire together)."""
    import multispike.dense as F

    monkeypatch.setattr(F, "neuron_blocks", lambda batch, n_out: n_blocks)
    torch.manual_seed(8)
    net = multispike.SpikingNetwork([10, 40, 30, 5], tau_s=0.05, thresholds=[0.1, 0.3, 0.5],
                                    max_spikes=[4, 3, 3], t_max=t_max,
                                    inits=[("uniform", -0.5, 3.0), ("uniform", -0.5, 1.5),
                                           ("uniform", -0.5, 1.0)])
    x = torch.round(torch.rand(30, 10, 2) * 4) / 40  # times on a grid of 0.025: ties
    x[torch.rand(x.shape) < 0.2] = math.inf
    net.inference_chunk = 7
    with torch.no_grad():
        piped = net(x, all_layers=True)
        final_only = net(x)  # hidden outputs not returned: their buffers are reused per chunk
        layer_by_layer, h = [], x
        for layer in net.layers:
            h = layer(h)
            layer_by_layer.append(h)
    hidden = piped[0][torch.isfinite(piped[0])]
    assert len(hidden) > 100 and len(hidden.unique()) < len(hidden)  # ties among hidden spikes
    assert torch.isfinite(piped[-1]).sum() > 10
    for a, b in zip(piped, layer_by_layer):
        assert torch.equal(a, b)
    assert torch.equal(final_only, layer_by_layer[-1])


@pytest.mark.parametrize("emit_t_max", [0.06, math.inf])
def test_emitted_events_are_the_merged_output(emit_t_max):
    """The event lists a layer emits for the next one are exactly what merging its output
    spike times would give: the spikes earlier than the next layer's t_max with their
    source neurons, time-ordered, equal times in slot order."""
    from multispike.dense import _merge_events, infer_lif, transposed_weight
    from multispike.parameters import LIFParameters

    g = torch.Generator().manual_seed(9)
    x = torch.round(torch.rand(12, 10, 2, generator=g) * 4) / 40
    w = torch.rand(40, 10, generator=g) * 3.5 - 0.5
    params = LIFParameters.create(0.05, 0.1, max_spikes=4, t_max=0.3)
    out, _, events = infer_lif(x, transposed_weight(w), params, emit_t_max=emit_t_max)
    assert events is not None
    next_layer = LIFParameters.create(0.05, 0.1, t_max=emit_t_max)
    times, _, source, count = _merge_events(out, next_layer.constants(out.dtype))[:4]
    assert torch.isfinite(out).sum() > 50 and (out >= 0.06).any() and (out < 0.06).any()
    assert torch.equal(events.count, count)
    for b in range(len(x)):
        n = int(count[b])
        assert torch.equal(events.times[b, :n], times[b, :n])
        assert torch.equal(events.source[b, :n], source[b, :n])


def test_too_large_layers_are_refused():
    """Spike-log entries pack neuron and slot into an int32."""
    with pytest.raises(ValueError, match="too large"):
        multispike.LIF(2, 2**26, max_spikes=40)
    with pytest.raises(ValueError, match="too large"):
        lif(torch.zeros(1, 2, 1), torch.ones(2**22, 2), tau_s=0.1, threshold=0.2, max_spikes=2**10)


def test_all_finite_in_any_layout():
    from multispike.functional import all_finite
    w = torch.randn(5, 7)
    for t in (w, w.t(), w[:, ::2], torch.empty(7, 5).t().copy_(w)):
        assert all_finite(t)
        bad = t.clone()
        bad[1, 1] = math.nan
        assert not all_finite(bad)
        bad[1, 1] = -math.inf
        assert not all_finite(bad)
    layer = multispike.LIF(7, 5)
    layer.weight.grad = torch.zeros(7, 5).t()
    layer.weight.grad[4, 6] = math.inf
    assert not all_finite(layer.weight.grad)
