"""ConvLIF and SpikePool2d: exact against a fully connected LIF with the unrolled weight,
gradcheck of a conv -> pool -> dense stack, pooling as a sorted union, bad input."""
import math

import pytest
import torch

import multispike
from multispike.functional import (conv_lif, conv_lif_with_saturation, lif,
                                   lif_with_saturation, spike_pool2d)

INF = math.inf


def _finite_or_zero(t):
    return torch.where(torch.isfinite(t), t, torch.zeros_like(t))


def _spike_maps(seed, shape, t_span=0.1, p_empty=0.3):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(shape, generator=g, dtype=torch.float64) * t_span
    x[torch.rand(shape, generator=g, dtype=torch.float64) < p_empty] = INF
    return x


def _receptive_fields(weight_shape, height, width, stride, padding):
    """(oy, ox, y, x, ky, kx) for every kernel entry that an output position uses."""
    k_h, k_w = weight_shape[2:]
    h_out = (height + 2 * padding - k_h) // stride + 1
    w_out = (width + 2 * padding - k_w) // stride + 1
    for oy in range(h_out):
        for ox in range(w_out):
            for ky in range(k_h):
                for kx in range(k_w):
                    y, x = oy * stride - padding + ky, ox * stride - padding + kx
                    if 0 <= y < height and 0 <= x < width:
                        yield oy, ox, y, x, ky, kx


def _unrolled(weight, height, width, stride, padding):
    """The dense (C_out H_out W_out, C_in H W) weight of the convolution."""
    n_out, n_in, k_h, k_w = weight.shape
    h_out = (height + 2 * padding - k_h) // stride + 1
    w_out = (width + 2 * padding - k_w) // stride + 1
    dense = torch.zeros(n_out, h_out, w_out, n_in, height, width, dtype=weight.dtype)
    for oy, ox, y, x, ky, kx in _receptive_fields(weight.shape, height, width, stride, padding):
        dense[:, oy, ox, :, y, x] = weight[:, :, ky, kx]
    return dense.reshape(n_out * h_out * w_out, n_in * height * width), (h_out, w_out)


def _fold(dense_grad, weight_shape, height, width, stride, padding, out_hw):
    """The kernel gradient: the unrolled weight's gradient summed over positions."""
    n_out, n_in = weight_shape[:2]
    g = dense_grad.reshape(n_out, *out_hw, n_in, height, width)
    folded = torch.zeros(weight_shape, dtype=dense_grad.dtype)
    for oy, ox, y, x, ky, kx in _receptive_fields(weight_shape, height, width, stride, padding):
        folded[:, :, ky, kx] += g[:, oy, ox, :, y, x]
    return folded


CASES = [
    # stride, padding, K_in, max_spikes, threshold, reset (x threshold), t_max, weight range
    (1, 0, 1, 1, 0.2, 1.0, INF, (0.0, 1.5)),
    (2, 0, 3, 1, 0.4, 1.0, INF, (-0.5, 1.5)),
    (1, 1, 2, 6, 0.2, 1.0, INF, (-0.5, 1.5)),
    (2, 1, 2, 6, 0.2, 0.5, 0.15, (-0.5, 1.5)),
    (1, 1, 3, 8, 0.2, 2.0, 0.2, (-0.5, 1.5)),
    (2, 1, 1, 2, 0.1, 1.0, INF, (0.0, 2.0)),  # saturation: strong input, two slots
]


@pytest.mark.parametrize("stride,padding,k_in,max_spikes,threshold,reset,t_max,w_range", CASES)
def test_conv_equals_lif_with_unrolled_weight(stride, padding, k_in, max_spikes, threshold,
                                              reset, t_max, w_range):
    batch, c_in, height, width, c_out = 3, 2, 7, 6, 4
    x = _spike_maps(1, (batch, c_in, height, width, k_in)).sort(-1).values
    g = torch.Generator().manual_seed(2)
    w = torch.rand(c_out, c_in, 3, 3, generator=g, dtype=torch.float64)
    w = w * (w_range[1] - w_range[0]) + w_range[0]
    kw = dict(tau_s=0.05, threshold=threshold, reset=reset * threshold,
              max_spikes=max_spikes, t_max=t_max)

    xc, wc = x.clone().requires_grad_(), w.clone().requires_grad_()
    out, saturated = conv_lif_with_saturation(xc, wc, stride=stride, padding=padding, **kw)
    dense, out_hw = _unrolled(w, height, width, stride, padding)
    xd, dd = x.clone().requires_grad_(), dense.requires_grad_()
    ref, ref_saturated = lif_with_saturation(xd.reshape(batch, -1, k_in), dd, **kw)
    ref = ref.reshape(batch, c_out, *out_hw, max_spikes)

    assert out.shape == (batch, c_out, *out_hw, max_spikes)
    finite = torch.isfinite(ref)
    assert finite.sum() > 20
    assert torch.equal(torch.isfinite(out), finite)
    torch.testing.assert_close(out[finite], ref[finite], rtol=0, atol=1e-12)
    assert torch.equal(saturated, ref_saturated.reshape(batch, c_out, *out_hw))
    if max_spikes == 2:
        assert saturated.any()

    upstream = torch.randn(out.shape, generator=g, dtype=torch.float64)
    (_finite_or_zero(out) * upstream).sum().backward()
    (_finite_or_zero(ref) * upstream).sum().backward()
    assert xd.grad.abs().sum() > 0
    torch.testing.assert_close(xc.grad, xd.grad, rtol=1e-9, atol=1e-11)
    folded = _fold(dd.grad, w.shape, height, width, stride, padding, out_hw)
    torch.testing.assert_close(wc.grad, folded, rtol=1e-9, atol=1e-11)

    with torch.no_grad():  # the inference path gives the same spikes
        again = conv_lif(x, w, stride=stride, padding=padding, **kw)
    assert torch.equal(again, out.detach())


def test_conv_float32_matches_float64():
    x = _spike_maps(3, (2, 3, 8, 8, 1))
    w = torch.rand(5, 3, 3, 3, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    kw = dict(tau_s=0.05, threshold=0.3, max_spikes=4)
    out64 = conv_lif(x, w, **kw)
    out32 = conv_lif(x.float(), w.float(), **kw)
    assert torch.equal(torch.isfinite(out64), torch.isfinite(out32))
    torch.testing.assert_close(out32.double()[torch.isfinite(out64)],
                               out64[torch.isfinite(out64)], rtol=0, atol=1e-5)


def test_gradcheck_conv_pool_dense():
    """float64 gradcheck of conv -> pool -> dense, through weights and input spike times."""
    x = _spike_maps(5, (2, 1, 6, 6, 1), p_empty=0.2).requires_grad_()
    g = torch.Generator().manual_seed(6)
    w1 = (torch.rand(3, 1, 3, 3, generator=g, dtype=torch.float64) * 2.0).requires_grad_()
    w2 = (torch.rand(4, 3 * 2 * 2, generator=g, dtype=torch.float64) * 3 - 0.5).requires_grad_()

    def stack(x, w1, w2):
        h = conv_lif(x, w1, tau_s=0.05, threshold=0.2, max_spikes=3, padding=1)  # 6x6
        h = spike_pool2d(h, 3)  # 2x2, 27 slots
        out = lif(h.reshape(h.shape[0], -1, h.shape[-1]), w2, tau_s=0.05, threshold=0.3,
                  max_spikes=3)
        return _finite_or_zero(out)

    out = stack(x, w1, w2)
    assert torch.isfinite(out).all() and (out > 0).sum() >= 4
    assert torch.autograd.gradcheck(stack, (x, w1, w2), eps=1e-7, atol=1e-5, rtol=1e-4)


def test_pool_is_the_sorted_union_and_routes_gradients():
    x = _spike_maps(7, (2, 3, 4, 6, 2), p_empty=0.4).requires_grad_()
    out = multispike.SpikePool2d(2)(x)
    assert out.shape == (2, 3, 2, 3, 8)
    for b in range(2):
        for c in range(3):
            for oy in range(2):
                for ox in range(3):
                    union = x[b, c, 2 * oy:2 * oy + 2, 2 * ox:2 * ox + 2].reshape(-1)
                    assert torch.equal(out[b, c, oy, ox], union.detach().sort().values)
    upstream = torch.randn(out.shape, dtype=torch.float64)
    (_finite_or_zero(out) * upstream).sum().backward()
    # each finite input spike receives the upstream gradient of its copy in the output
    for b, c, y, xx, k in torch.nonzero(torch.isfinite(x)).tolist():
        t = x[b, c, y, xx, k]
        row = out[b, c, y // 2, xx // 2]
        j = int(torch.nonzero(row == t)[0])
        assert x.grad[b, c, y, xx, k] == upstream[b, c, y // 2, xx // 2, j]
    assert (x.grad[~torch.isfinite(x)] == 0).all()


def test_pool_equals_a_stable_sort_with_ties():
    """Equal spike times (a coarse time grid) keep the window's order, as a stable sort of
    the union does, and each tied copy's gradient goes to its own source slot."""
    x = (_spike_maps(8, (2, 2, 4, 4, 3), p_empty=0.3) * 30).round() / 30
    x = x.requires_grad_()
    union = x.reshape(2, 2, 2, 2, 2, 2, 3).permute(0, 1, 2, 4, 3, 5, 6).reshape(2, 2, 2, 2, 12)
    ref = torch.sort(union, dim=-1, stable=True).values
    out = spike_pool2d(x, 2)
    assert torch.equal(out, ref)
    upstream = torch.randn(out.shape, generator=torch.Generator().manual_seed(9),
                           dtype=torch.float64)
    (grad,) = torch.autograd.grad((_finite_or_zero(out) * upstream).sum(), x)
    (ref_grad,) = torch.autograd.grad((_finite_or_zero(ref) * upstream).sum(), x)
    assert torch.equal(grad, ref_grad)
    u = union.detach()
    finite_ties = (u[..., :, None] == u[..., None, :]) & torch.isfinite(u)[..., :, None]
    assert finite_ties.sum() > torch.isfinite(u).sum()  # more than each spike with itself


def test_pool_refuses_sizes_it_cannot_pool():
    with pytest.raises(ValueError, match="divisible by kernel_size = 2"):
        spike_pool2d(torch.zeros(1, 1, 5, 4, 1))
    with pytest.raises(ValueError, match="divisible by kernel_size = 3"):
        spike_pool2d(torch.zeros(1, 1, 6, 4, 1), 3)
    assert spike_pool2d(torch.zeros(1, 1, 6, 9, 1), 3).shape == (1, 1, 2, 3, 9)


def test_bad_input_is_refused():
    layer = multispike.ConvLIF(2, 3, 3, tau_s=0.1, threshold=0.5)
    with pytest.raises(ValueError, match="batch, channels, height, width, slots"):
        layer(torch.zeros(1, 2, 5, 5))
    with pytest.raises(ValueError, match="in_channels = 2"):
        layer(torch.zeros(1, 3, 5, 5, 1))
    with pytest.raises(ValueError, match="larger than the padded input"):
        layer(torch.zeros(1, 2, 2, 5, 1))
    with pytest.raises(TypeError, match="float32 or float64"):
        layer(torch.zeros(1, 2, 5, 5, 1, dtype=torch.int64))
    x = torch.zeros(1, 2, 5, 5, 1)
    x[0, 1, 2, 2, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        layer(x)
    x[0, 1, 2, 2, 0] = -1.0
    with pytest.raises(ValueError, match="negative"):
        layer(x)
    with pytest.raises(ValueError, match="stride"):
        conv_lif(torch.zeros(1, 2, 5, 5, 1), layer.weight, 0.1, 0.5, stride=0)
    with pytest.raises(ValueError, match="threshold"):
        multispike.ConvLIF(2, 3, 3, tau_s=0.1, threshold=-1.0)
    with pytest.raises(ValueError, match="weight contains NaN"):
        conv_lif(torch.zeros(1, 2, 5, 5, 1), torch.full((3, 2, 3, 3), float("nan")), 0.1, 0.5)


def test_module_layout_and_saturation_record():
    layer = multispike.ConvLIF(1, 4, (3, 2), tau_s=0.1, threshold=0.1, max_spikes=1,
                               stride=2, padding=1, init=("uniform", 1.0, 2.0))
    assert layer.weight.shape == (4, 1, 3, 2)
    out = layer(torch.zeros(2, 1, 7, 6, 1))
    assert out.shape == (2, 4, *layer.output_shape(7, 6), 1) == (2, 4, 4, 4, 1)
    assert layer.saturated.shape == (2, 4, 4, 4) and layer.n_saturated > 0


def test_an_input_spike_reaches_only_the_positions_that_contain_it():
    """Event-driven spreading: one input spike is copied to exactly the output positions
    whose receptive field holds it (a corner pixel: one position without padding)."""
    import numpy as np
    from multispike.kernels.conv import ConvGeometry, count_position_events
    g = ConvGeometry(2, 6, 6, 3, 3, 1, 0, 4, 4)
    counts = np.empty((1, 16), dtype=np.int64)
    for (c, y, x), expected in (((1, 0, 0), {0}), ((0, 2, 3), {4 * oy + ox for oy in range(3)
                                                              for ox in range(1, 4)})):
        source = np.array([[c * 36 + y * 6 + x]], dtype=np.int32)
        count_position_events(source, np.array([1]), g, counts)
        assert set(np.flatnonzero(counts[0])) == expected and counts.max() == 1
