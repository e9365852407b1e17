"""A feed-forward stack of exact LIF layers: fully connected, or convolution and pooling
layers followed by fully connected ones (``architecture.py``)."""
from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from .architecture import (Conv, Dense, Pool, format_architecture, input_shape_for, layer_shapes,
                           parse_architecture)
from .checks import check_spike_times
from .convolution import spike_pool2d
from .dense import infer_lif, transposed_weight
from .layers import LIF, ConvLIF

__all__ = ["SpikingNetwork"]


def _per_layer(name, value, n_layers):
    values = list(value) if isinstance(value, (list, tuple)) else [value] * n_layers
    if len(values) != n_layers:
        raise ValueError(f"{name} needs one value per layer ({n_layers}), got {len(values)}")
    return values


def _layer_settings(n_layers, thresholds, resets, max_spikes, inits, tau_mem):
    """One threshold, reset, slot count, initialisation and membrane time constant per layer
    (a single value, or a single ("uniform", low, high) / ("normal", mean, std) tuple,
    applies to every layer)."""
    if isinstance(inits, tuple) and inits and isinstance(inits[0], str):
        inits = [inits] * n_layers
    return (_per_layer("thresholds", thresholds, n_layers), _per_layer("resets", resets, n_layers),
            _per_layer("max_spikes", max_spikes, n_layers), _per_layer("inits", inits, n_layers),
            _per_layer("tau_mem", tau_mem, n_layers))


def _checked_architecture(spec: str, n_inputs):
    """(input shape or None, layer specs) of an architecture over ``n_inputs`` input neurons;
    the input shape is None for a fully connected stack."""
    if isinstance(n_inputs, bool) or not isinstance(n_inputs, int) or n_inputs < 1:
        raise TypeError(f"n_inputs must be the number of input neurons, a positive int (e.g. 784 "
                        f"for 1x28x28 images), got {n_inputs!r}")
    shape, specs = parse_architecture(spec)
    if not any(isinstance(layer, Conv) for layer in specs):
        if any(isinstance(layer, Pool) for layer in specs):
            raise ValueError(f"architecture {spec!r}: pooling needs a convolution before it")
        if shape is not None:
            input_shape_for(shape, n_inputs)
        return None, specs
    follows_conv = False
    for layer in specs:
        if isinstance(layer, Pool) and not follows_conv:
            raise ValueError(f"architecture {spec!r}: a pooling layer must follow a convolution")
        follows_conv = isinstance(layer, Conv)
    return input_shape_for(shape, n_inputs), specs


class SpikingNetwork(nn.Module):
    """A feed-forward stack of LIF layers: fully connected ``sizes[0] -> sizes[1] -> ... ->
    sizes[-1]``, or convolutions, spike pooling and fully connected layers from an
    architecture spec (:meth:`from_architecture`).

    Per-layer settings (``thresholds``, ``resets``, ``max_spikes``, ``inits``, ``tau_mem``)
    take one value for all layers or a sequence with one entry per layer; ``tau_mem`` None
    is 2 ``tau_s``. ``forward(times)`` returns the
    output spike times; ``forward(times, all_layers=True)`` the list of every layer's.

    Without autograd (inference) a large batch runs through the whole network in chunks of
    ``inference_chunk`` samples: the hidden layers' (chunk, neurons, slots) buffers stay
    small enough to be reused instead of being mapped and zeroed afresh. In a fully
    connected stack each hidden layer also hands its spikes to the next one
    as time-ordered event lists, so that the next layer need not check, gather and sort
    them again, and unless ``all_layers`` it does not write the hidden spike times at all.
    Results and ``layer.saturated`` are the same as layer by layer.
    """

    inference_chunk = 100

    def __init__(self, sizes: Sequence[int] | str, tau_s: float, thresholds, resets=None,
                 max_spikes=1, t_max: float = math.inf, inits=("uniform", -1.0, 1.0),
                 dtype=torch.float32, n_inputs: int | None = None, tau_mem=None):
        """``sizes``: ``[inputs, hidden..., outputs]`` of a fully connected stack, or an
        architecture spec (see :meth:`from_architecture`, which also needs ``n_inputs``)."""
        super().__init__()
        if isinstance(sizes, str):
            shape, specs = _checked_architecture(sizes, n_inputs)
        else:
            if len(sizes) < 2:
                raise ValueError(f"sizes needs at least an input and an output size, got {list(sizes)}")
            shape, specs, n_inputs = None, [Dense(size) for size in sizes[1:]], sizes[0]
        shapes = layer_shapes(shape, specs) if shape is not None else [spec.size for spec in specs]
        n = sum(not isinstance(layer, Pool) for layer in specs)
        thresholds, resets, max_spikes, inits, tau_mem = _layer_settings(
            n, thresholds, resets, max_spikes, inits, tau_mem)
        layers, pools, sizes, map_shapes = [], [], [n_inputs], []
        before = shape if shape is not None else n_inputs
        for layer, after in zip(specs, shapes):
            if isinstance(layer, Pool):
                pools[-1] = layer.size
                before = after
                continue
            i = len(layers)
            kw = dict(tau_s=tau_s, threshold=thresholds[i], reset=resets[i],
                      max_spikes=max_spikes[i], t_max=t_max, init=tuple(inits[i]), dtype=dtype,
                      tau_mem=tau_mem[i])
            if isinstance(layer, Conv):
                layers.append(ConvLIF(before[0], layer.channels, layer.kernel, stride=layer.stride,
                                      padding=layer.padding, **kw))
                sizes.append(math.prod(after))
                map_shapes.append(tuple(after))
            else:
                flat = before if isinstance(before, int) else math.prod(before)
                layers.append(LIF(flat, layer.size, **kw))
                sizes.append(layer.size)
                map_shapes.append(None)
            pools.append(0)
            before = after
        self.sizes = sizes
        self.layers = nn.ModuleList(layers)
        self.input_shape = tuple(shape) if shape is not None else None  # (channels, height, width)
        self.pools = pools  # pooling window after each layer (0: none)
        self.map_shapes = map_shapes  # (channels, height, width) of each convolution's output
        self.architecture = format_architecture(None, specs)

    @classmethod
    def from_architecture(cls, spec: str, n_inputs: int, tau_s: float, thresholds, resets=None,
                          max_spikes=1, t_max: float = math.inf,
                          inits=("uniform", -1.0, 1.0), dtype=torch.float32,
                          tau_mem=None) -> "SpikingNetwork":
        """A network from a spec such as ``15c5-p2-40c5-p2-300-10`` (``architecture.py``)
        over ``n_inputs`` input neurons; per-layer settings have one entry per convolution
        or fully connected layer. Inputs may be given flat (batch, n_inputs, slots) or as
        (batch, channels, height, width, slots)."""
        return cls(spec, tau_s, thresholds, resets, max_spikes, t_max, inits, dtype,
                   n_inputs=n_inputs, tau_mem=tau_mem)

    def forward(self, times: torch.Tensor, all_layers: bool = False):
        if self.input_shape is not None:
            return self._forward_conv(times, all_layers)
        # layers with delays shift their spike times around the kernels: layer by layer
        delayed = any(getattr(layer, "delays", None) for layer in self.layers)
        if torch.is_grad_enabled() or not isinstance(times, torch.Tensor) \
                or times.dim() == 0 or len(times) <= self.inference_chunk or delayed:
            outputs = self._forward_layers(times)
            return outputs if all_layers else outputs[-1]
        check_spike_times(times, "times", values=False)
        self.layers[0].check_input(times)
        # each weight is transposed (and checked) once for all chunks
        weights_t = [transposed_weight(layer.weight, times.dtype) for layer in self.layers]
        next_t_max = [layer.t_max for layer in self.layers[1:]] + [None]
        emitted = [None] * len(self.layers)  # event-list buffers, reused from chunk to chunk

        def run(part):
            outs = []
            events = None  # each hidden layer hands its spikes to the next as sorted events
            for i, (layer, weight_t, t_max) in enumerate(zip(self.layers, weights_t, next_t_max)):
                # hidden spike times are only written when returned or needed
                part, saturated, events = infer_lif(
                    part, weight_t, layer.params, events, emit_t_max=t_max,
                    emit_into=emitted[i], keep_times=all_layers or t_max is None)
                layer.record_saturation(saturated)
                emitted[i] = events if events is not None else emitted[i]
                outs.append(part)
            return outs

        return self._in_chunks(times, run, all_layers)

    def _in_chunks(self, times, run, all_layers):
        """``run`` (one chunk's inputs -> every layer's outputs) over chunks of
        ``inference_chunk`` samples; the outputs and each layer's saturation record are
        those of the whole batch."""
        chunks, saturated = [], []
        for part in times.split(self.inference_chunk):
            outs = run(part)
            chunks.append(outs if all_layers else outs[-1:])
            saturated.append([layer.saturated for layer in self.layers])
        for i, layer in enumerate(self.layers):
            layer.record_saturation(torch.cat([s[i] for s in saturated]))
        outputs = [torch.cat(parts) for parts in zip(*chunks)]
        return outputs if all_layers else outputs[-1]

    def layer_input(self, k: int, times: torch.Tensor, outputs) -> torch.Tensor:
        """The spike trains (batch, neurons, slots) that layer ``k`` receives, from the
        network input ``times`` and the layer outputs ``outputs`` of
        ``forward(times, all_layers=True)``: the input for ``k = 0``, otherwise the output of
        layer k - 1, pooled when a pooling layer follows it (the outputs are returned
        unpooled). Differentiable like the outputs."""
        if not 0 <= k < len(self.layers):
            raise ValueError(f"k must be a layer index in [0, {len(self.layers)}), got {k}")
        if k == 0:
            return times if times.dim() == 3 else times.reshape(times.shape[0], -1, times.shape[-1])
        before = outputs[k - 1]
        if not self.pools[k - 1]:
            return before
        batch = before.shape[0]
        maps = before.reshape(batch, *self.map_shapes[k - 1], before.shape[-1])
        pooled = spike_pool2d(maps, self.pools[k - 1])
        return pooled.reshape(batch, -1, pooled.shape[-1])

    def _forward_conv(self, times, all_layers):
        """Layer by layer (in chunks without autograd); each layer's output is returned
        flat, (batch, neurons, slots), and pooled before it feeds the next layer."""
        if not isinstance(times, torch.Tensor) or times.dim() not in (3, 5):
            raise ValueError(f"times must be (batch, {math.prod(self.input_shape)}, slots) or "
                             f"(batch, {', '.join(map(str, self.input_shape))}, slots), got "
                             f"{getattr(times, 'shape', type(times).__name__)}")
        if times.dim() == 3:
            if times.shape[1] != math.prod(self.input_shape):
                raise ValueError(f"times has {times.shape[1]} input neurons on axis 1, expected "
                                 f"{math.prod(self.input_shape)} = {'x'.join(map(str, self.input_shape))}")
            times = times.reshape(times.shape[0], *self.input_shape, times.shape[2])
        if torch.is_grad_enabled() or len(times) <= self.inference_chunk:
            outputs = self._conv_layers(times)
            return outputs if all_layers else outputs[-1]
        return self._in_chunks(times, self._conv_layers, all_layers)

    def _conv_layers(self, times):
        outputs = []
        batch = times.shape[0]
        for layer, pool in zip(self.layers, self.pools):
            if isinstance(layer, LIF) and times.dim() == 5:
                times = times.reshape(batch, -1, times.shape[-1])
            times = layer(times)
            outputs.append(times.reshape(batch, -1, times.shape[-1]))
            if pool:
                times = spike_pool2d(times, pool)
        return outputs

    def _forward_layers(self, times):
        outputs = []
        for layer in self.layers:
            times = layer(times)
            outputs.append(times)
        return outputs
