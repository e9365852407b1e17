"""The NIR nodes of one layer, each way: what :mod:`multispike.nir.graph` writes for a layer's
neurons, weights and pooling, and what it reads back (the equations are in its docstring).

* ``CubaLIF``: the neurons of a layer, parameters of shape (neurons,) after a ``Linear`` node
  and (C, H, W) after a ``Conv2d`` node.
* ``Linear`` / ``Affine`` (zero bias): a fully connected layer's weight (out, in).
* ``Conv2d``: a :class:`~multispike.ConvLIF` layer's shared kernels (out_channels,
  in_channels, k, k) as in ``torch.nn.Conv2d``, its stride and padding in both directions,
  dilation 1, groups 1, bias 0, and ``input_shape`` the (height, width) it sees. Input neuron
  (c, y, x) reaches output neuron (o, oy, ox) through W[o, c, y + padding - oy stride,
  x + padding - ox stride], NIR's (and torch's) cross-correlation.
* ``SumPool2d`` with kernel p, stride p and padding 0 for our p x p spike pooling. Our pooled
  neuron carries the union of its p x p source spike trains; a sum pool adds the spikes of
  the window, so each source spike reaches the next layer once, with its own time, in both.
* ``Flatten`` with ``start_dim`` 0 and ``end_dim`` -1 before the first fully connected
  layer. NIR's shapes have no batch axis, so this flattens the whole (C, H, W) map, in
  row-major order: neuron (c, y, x) becomes input c H W + y W + x of the ``Linear`` node,
  as in our network's ``reshape`` of (batch, C, H, W, slots) spike trains.

The readers accept what a :class:`~multispike.SpikingNetwork` and its architecture spec
(:mod:`multispike.architecture`) can say and refuse the rest with a ValueError naming the node.
"""
from __future__ import annotations

import math

import numpy as np

from ..architecture import Conv, Pool
from ..layers import ConvLIF

__all__ = ["cuba_lif_node", "conv_node", "sum_pool_node", "flatten_node", "read_cuba_lif",
           "read_linear", "read_conv", "read_sum_pool", "read_flatten", "node_shape"]


# ---------------------------------------------------------------------------- export

def cuba_lif_node(nir, layer, shape, time_unit: float, dt: float | None):
    """The ``CubaLIF`` node of the neurons of ``layer`` (LIF or ConvLIF), parameters of ``shape``."""
    tau_syn, tau_mem = layer.tau_s * time_unit, layer.tau_mem * time_unit
    # r w_in a time_unit = tau_syn tau_mem with a = 1 (Dirac) or a = dt (one-step pulses)
    r, w_in = (tau_mem / time_unit, tau_syn) if dt is None else (tau_mem / dt, tau_syn / time_unit)
    full = lambda value: np.full(shape, value, dtype=np.float64)  # noqa: E731
    return nir.CubaLIF(
        tau_syn=full(tau_syn), tau_mem=full(tau_mem), r=full(r), v_leak=full(0.0),
        v_threshold=full(layer.threshold), v_reset=full(layer.threshold - layer.reset),
        w_in=full(w_in))


def conv_node(nir, layer: ConvLIF, shape):
    """(``Conv2d`` node of ``layer`` on a (C, H, W) input, the (C_out, H_out, W_out) after it)."""
    height, width = shape[1:]
    node = nir.Conv2d(input_shape=(height, width), weight=layer.weight.detach().cpu().numpy().copy(),
                      stride=layer.stride, padding=layer.padding, dilation=1, groups=1,
                      bias=np.zeros(layer.out_channels, dtype=np.float64))
    return node, (layer.out_channels, *layer.output_shape(height, width))


def sum_pool_node(nir, size: int, shape):
    """(``SumPool2d`` node of our size x size spike pooling, the (C, H, W) after it)."""
    pair = np.array([size, size])
    node = nir.SumPool2d(kernel_size=pair, stride=pair.copy(), padding=np.zeros(2, dtype=np.int64))
    out = (shape[0], shape[1] // size, shape[2] // size)
    node.input_type, node.output_type = {"input": np.array(shape)}, {"output": np.array(out)}
    return node, out


def flatten_node(nir, shape):
    """``Flatten`` node of a (C, H, W) map into C H W neurons."""
    return nir.Flatten(input_type=np.array(shape), start_dim=0, end_dim=-1)


# ---------------------------------------------------------------------------- import

def read_cuba_lif(name, neuron, shape, time_unit, a, rtol) -> dict:
    """Our layer constants from a CubaLIF node of ``shape``: (neurons,) after a Linear node,
    (C, H, W) after a Conv2d node. ``scale`` (one per weight row: neuron or output channel)
    is the factor that turns the node's weights into ours; ``tau_mem`` is None where the node's
    tau_mem is 2 tau_syn (up to ``rtol``: the closed form), else its value in our time units."""
    params = {}
    for field in ("tau_syn", "tau_mem", "r", "v_leak", "v_threshold", "v_reset", "w_in"):
        value = np.asarray(getattr(neuron, field), dtype=np.float64)
        try:
            value = np.broadcast_to(value, shape)
        except ValueError:
            raise ValueError(f"node {name!r}: {field} has shape {value.shape}, expected {shape} for the "
                             f"neurons of the node before it") from None
        if not np.all(np.isfinite(value)):
            raise ValueError(f"node {name!r}: {field} must be finite")
        if len(shape) == 3:  # one value per channel: its positions share one kernel
            per_channel = value[:, :1, :1]
            if not np.allclose(value, per_channel, rtol=rtol, atol=0):
                raise ValueError(f"node {name!r}: {field} differs between the positions of a channel; "
                                 "they share one kernel, so multispike needs one value per channel")
            value = per_channel.reshape(-1)
        params[field] = value
    tau_syn, tau_mem = params["tau_syn"], params["tau_mem"]
    if np.any(tau_syn <= 0) or not np.allclose(tau_syn, tau_syn[0], rtol=rtol, atol=0):
        raise ValueError(f"node {name!r}: tau_syn must be positive and equal for all neurons of the layer, "
                         f"got {_span(tau_syn)}")
    if np.any(tau_mem <= 0) or not np.allclose(tau_mem, tau_mem[0], rtol=rtol, atol=0):
        raise ValueError(f"node {name!r}: tau_mem must be positive and equal for all neurons of the layer, "
                         f"got {_span(tau_mem)}")
    if np.allclose(tau_mem, tau_syn, rtol=rtol, atol=0):
        raise ValueError(f"node {name!r}: tau_mem = tau_syn = {_span(tau_syn)} (the t exp(-t/tau) kernel) "
                         "is not supported yet; any other ratio of the time constants is")
    if np.any(params["v_leak"] != 0):
        raise ValueError(f"node {name!r}: v_leak must be 0, got {_span(params['v_leak'])}")
    v_th, reset = params["v_threshold"], params["v_threshold"] - params["v_reset"]
    if np.any(v_th <= 0) or np.any(reset <= 0):
        raise ValueError(f"node {name!r}: needs v_threshold > 0 and v_reset < v_threshold, got "
                         f"v_threshold {_span(v_th)} and v_reset {_span(params['v_reset'])}")
    threshold = float(v_th[0])
    membrane = v_th / threshold  # neuron n's membrane is divided by this to get a common threshold
    if not np.allclose(reset / membrane, reset[0], rtol=rtol, atol=0):
        raise ValueError(f"node {name!r}: (v_threshold - v_reset) / v_threshold must be the same for all "
                         "neurons of the layer")
    scale = params["r"] * params["w_in"] * a * time_unit / (tau_syn * tau_mem) / membrane
    # constants that equal ours up to rounding leave the weights as they are (exact round trip)
    scale = np.where(np.isclose(scale, 1.0, rtol=1e-12, atol=0), 1.0, scale)
    two_to_one = np.allclose(tau_mem, 2.0 * tau_syn, rtol=rtol, atol=0)
    return {"name": name, "scale": scale, "tau_s": float(tau_syn[0]) / time_unit,
            "tau_mem": None if two_to_one else float(tau_mem[0]) / time_unit,
            "threshold": threshold, "reset": float(reset[0])}


def _span(values) -> str:
    lo, hi = float(np.min(values)), float(np.max(values))
    return f"{lo:g}" if lo == hi else f"{lo:g} .. {hi:g}"


def read_linear(nir, name, node, shape):
    """The (out, in) weight of a Linear/Affine node on a flat input of ``shape``."""
    if len(shape) != 1:
        raise ValueError(f"node {name!r} is a {type(node).__name__} on a {tuple(shape)} map; a Flatten "
                         "node must come before the first fully connected layer")
    weight = np.array(node.weight)  # its own dtype: an unscaled weight is copied exactly
    if weight.ndim != 2 or weight.shape[1] != shape[0]:
        raise ValueError(f"node {name!r} has weight shape {weight.shape}, expected (out, {shape[0]}) "
                         f"to match the {shape[0]} neurons before it")
    if isinstance(node, nir.Affine) and np.any(np.asarray(node.bias) != 0):
        raise ValueError(f"the Affine node {name!r} has a non-zero bias, a constant input current that "
                         "multispike's neurons do not have")
    return weight


def node_shape(types, name) -> tuple:
    """The shape of an Input node's input_type or an Output node's output_type."""
    shape = _ints(next(iter(types.values())) if isinstance(types, dict) and types else types)
    if len(shape) not in (1, 3):
        raise ValueError(f"node {name!r} has shape {shape}; multispike reads flat (neurons,) "
                         "layers and (channels, height, width) maps")
    return shape


def _pair(name, field, value, minimum) -> tuple[int, int]:
    """An int or an (h, w) pair of ints >= minimum as a pair."""
    values = np.atleast_1d(np.asarray(value))
    if values.ndim != 1 or values.size not in (1, 2) or not np.all(values == np.round(values)) \
            or np.any(values < minimum):
        raise ValueError(f"node {name!r}: {field} must be an int or a pair of ints >= {minimum}, "
                         f"got {value!r}")
    values = np.broadcast_to(values, (2,))
    return int(values[0]), int(values[1])


def _ints(values) -> tuple:
    return tuple(int(v) for v in np.asarray(values).ravel())


def _square(name, field, pair, why) -> int:
    if pair[0] != pair[1]:
        raise ValueError(f"node {name!r}: {field} {pair} differs between height and width; {why}")
    return pair[0]


def _spatial(name, shape, kind):
    if len(shape) != 3:
        raise ValueError(f"node {name!r} is a {kind} and needs a (channels, height, width) input, "
                         f"got shape {tuple(shape)}")


def read_conv(name, node, shape):
    """(:class:`Conv` spec, weight (out, in, k, k), (C_out, H_out, W_out)) of a ``Conv2d``
    node on a (C, H, W) input."""
    _spatial(name, shape, "Conv2d")
    weight = np.array(node.weight)
    if weight.ndim != 4 or weight.shape[1] != shape[0]:
        raise ValueError(f"node {name!r} has weight shape {weight.shape}, expected (out_channels, "
                         f"{shape[0]}, kH, kW) for the {shape[0]} channels before it")
    square = "multispike's convolutions are square with one stride and one padding"
    kernel = _square(name, "kernel", weight.shape[2:], square)
    stride = _square(name, "stride", _pair(name, "stride", node.stride, 1), square)
    padding = node.padding
    if isinstance(padding, (str, bytes)):
        padding = padding.decode() if isinstance(padding, bytes) else padding
        if padding == "valid":
            padding = 0
        elif padding == "same" and stride == 1 and kernel % 2:
            padding = (kernel - 1) // 2
        else:
            raise ValueError(f"node {name!r}: padding {padding!r} with a {kernel}x{kernel} kernel and "
                             f"stride {stride} is not a symmetric padding multispike can represent")
    else:
        padding = _square(name, "padding", _pair(name, "padding", padding, 0), square)
    if _pair(name, "dilation", node.dilation, 1) != (1, 1):
        raise ValueError(f"node {name!r}: dilation {np.asarray(node.dilation).tolist()} is not "
                         "supported; multispike's kernels are dense (dilation 1)")
    if int(np.asarray(node.groups)) != 1:
        raise ValueError(f"node {name!r}: groups = {int(np.asarray(node.groups))} is not supported; "
                         "every output channel of a multispike convolution sees all input channels")
    if node.bias is not None and np.any(np.asarray(node.bias) != 0):
        raise ValueError(f"node {name!r} has a non-zero bias, a constant input current that "
                         "multispike's neurons do not have")
    if node.input_shape is not None and _ints(node.input_shape) != tuple(shape[1:]):
        raise ValueError(f"node {name!r} says its input is {_ints(node.input_shape)} "
                         f"(height, width), but the node before it gives {tuple(shape[1:])}")
    height, width = ((n + 2 * padding - kernel) // stride + 1 for n in shape[1:])
    if height < 1 or width < 1:
        raise ValueError(f"node {name!r}: a {kernel}x{kernel} kernel is larger than its padded "
                         f"{shape[1]}x{shape[2]} input")
    return Conv(weight.shape[0], kernel, stride, padding), weight, (weight.shape[0], height, width)


def read_sum_pool(name, node, shape):
    """(:class:`Pool` spec, (C, H / p, W / p)) of a ``SumPool2d`` node on a (C, H, W) input."""
    _spatial(name, shape, "SumPool2d")
    why = "multispike pools square, non-overlapping windows (stride = kernel)"
    size = _square(name, "kernel_size", _pair(name, "kernel_size", node.kernel_size, 1), why)
    stride = _pair(name, "stride", node.stride, 1)
    if stride != (size, size):
        raise ValueError(f"node {name!r}: stride {stride} differs from the kernel {size}; {why}")
    if _pair(name, "padding", node.padding, 0) != (0, 0):
        raise ValueError(f"node {name!r}: pooling padding {np.asarray(node.padding).tolist()} is not "
                         "supported; multispike pools without padding")
    if shape[1] % size or shape[2] % size:
        raise ValueError(f"node {name!r}: a {shape[1]}x{shape[2]} map cannot be pooled in {size}x{size} "
                         "windows without dropping neurons (height and width must be multiples)")
    return Pool(size), (shape[0], shape[1] // size, shape[2] // size)


def read_flatten(name, node, shape):
    """The flat (neurons,) shape after a ``Flatten`` node, which must flatten all of ``shape``
    (NIR's shapes have no batch axis: start_dim 0 and end_dim -1)."""
    declared = node.input_type.get("input") if isinstance(node.input_type, dict) else None
    if declared is not None and _ints(declared) != tuple(shape):
        raise ValueError(f"node {name!r} says its input is {_ints(declared)}, but the "
                         f"node before it gives {tuple(shape)}")
    ndim = len(shape)
    start, end = int(node.start_dim), int(node.end_dim)
    if start not in (0, -ndim) or end not in (-1, ndim - 1):
        raise ValueError(f"node {name!r} flattens dimensions {start}..{end} of {tuple(shape)}; multispike "
                         "reads a Flatten of the whole map (start_dim 0, end_dim -1: NIR's shapes have "
                         "no batch axis)")
    return (math.prod(shape),)
