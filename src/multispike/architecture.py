"""The readable form of a network's layers, shared by presets, the config and the CLI.

A spec lists the layers after the input, separated by "-":

* ``15c5``: a convolution with 15 output channels and a 5x5 kernel; ``15c5s2p1`` adds
  stride 2 and padding 1 (both optional, default 1 and 0);
* ``p2``: spike pooling over 2x2 windows (no weights, no neurons);
* ``300``: a fully connected layer of 300 neurons.

An optional first token ``1x28x28`` gives the input shape (channels x height x width);
without it a convolutional spec takes a square one-channel image (784 inputs: 1x28x28).
``15c5-p2-40c5-p2-300-10`` is the authors' convolutional MNIST network. Per-layer settings
(thresholds, spike slots, initialisations) have one entry per layer with neurons, i.e.
every token but the pooling ones.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

__all__ = ["Conv", "Pool", "Dense", "parse_architecture", "format_architecture",
           "input_shape_for", "layer_shapes"]


@dataclass(frozen=True)
class Conv:
    channels: int
    kernel: int
    stride: int = 1
    padding: int = 0


@dataclass(frozen=True)
class Pool:
    size: int


@dataclass(frozen=True)
class Dense:
    size: int


_CONV = re.compile(r"^(\d+)c(\d+)(?:s(\d+))?(?:p(\d+))?$")
_POOL = re.compile(r"^p(\d+)$")
_SHAPE = re.compile(r"^(\d+)x(\d+)x(\d+)$")


def parse_architecture(spec: str):
    """(input shape or None, list of Conv / Pool / Dense) of a spec; ValueError naming the
    token that is not understood."""
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"architecture must be a non-empty string such as "
                         f"'15c5-p2-40c5-p2-300-10', got {spec!r}")
    tokens = spec.strip().lower().split("-")
    shape = None
    if _SHAPE.match(tokens[0]):
        shape = tuple(int(v) for v in _SHAPE.match(tokens[0]).groups())
        tokens = tokens[1:]
    layers = []
    for token in tokens:
        if token.isdigit():
            layers.append(Dense(int(token)))
        elif _POOL.match(token):
            layers.append(Pool(int(_POOL.match(token).group(1))))
        elif _CONV.match(token):
            c, k, s, p = _CONV.match(token).groups()
            layers.append(Conv(int(c), int(k), int(s or 1), int(p or 0)))
        else:
            raise ValueError(f"architecture token {token!r} in {spec!r} is not a layer: use "
                             f"'<channels>c<kernel>[s<stride>][p<padding>]', 'p<size>' or "
                             f"'<neurons>'")
    if not layers or not isinstance(layers[-1], Dense):
        raise ValueError(f"architecture {spec!r} must end with a fully connected layer (the outputs)")
    if any(isinstance(a, Dense) and not isinstance(b, Dense) for a, b in zip(layers, layers[1:])):
        raise ValueError(f"architecture {spec!r}: convolution and pooling must come before "
                         f"the fully connected layers")
    for layer in layers:
        sizes = [v for name, v in vars(layer).items() if name != "padding"]
        if min(sizes) < 1:
            raise ValueError(f"architecture {spec!r} has a size below 1 in {layer}")
    return shape, layers


def format_architecture(shape, layers) -> str:
    """The spec of (input shape or None, layers)."""
    tokens = [] if shape is None else ["x".join(str(v) for v in shape)]
    for layer in layers:
        if isinstance(layer, Dense):
            tokens.append(str(layer.size))
        elif isinstance(layer, Pool):
            tokens.append(f"p{layer.size}")
        else:
            tokens.append(f"{layer.channels}c{layer.kernel}"
                          + (f"s{layer.stride}" if layer.stride != 1 else "")
                          + (f"p{layer.padding}" if layer.padding else ""))
    return "-".join(tokens)


def input_shape_for(shape, n_inputs: int):
    """The (channels, height, width) of the input: ``shape`` when the spec gave one (it
    must hold n_inputs neurons), else a square one-channel image of n_inputs pixels."""
    if shape is not None:
        if math.prod(shape) != n_inputs:
            raise ValueError(f"input shape {shape} holds {math.prod(shape)} neurons, but the "
                             f"data has {n_inputs} inputs")
        return shape
    side = math.isqrt(n_inputs)
    if side * side != n_inputs:
        raise ValueError(f"a convolutional architecture needs the input shape as its first "
                         f"token (e.g. '1x28x28-...') for {n_inputs} inputs, which are no square image")
    return (1, side, side)


def layer_shapes(shape, layers):
    """The (channels, height, width) after each convolution or pooling layer, and the
    flat size after each dense one; ValueError where a layer does not fit its input."""
    out = []
    c, h, w = shape
    flat = None
    for layer in layers:
        if isinstance(layer, Conv):
            h2 = (h + 2 * layer.padding - layer.kernel) // layer.stride + 1
            w2 = (w + 2 * layer.padding - layer.kernel) // layer.stride + 1
            if h2 < 1 or w2 < 1:
                raise ValueError(f"{format_architecture(None, [layer])}: kernel larger than "
                                 f"its padded {h}x{w} input")
            c, h, w = layer.channels, h2, w2
            out.append((c, h, w))
        elif isinstance(layer, Pool):
            if h % layer.size or w % layer.size:
                raise ValueError(f"p{layer.size}: a {h}x{w} input cannot be pooled "
                                 f"(height and width must be multiples of {layer.size})")
            h, w = h // layer.size, w // layer.size
            out.append((c, h, w))
        else:
            flat = layer.size
            out.append(flat)
    return out
