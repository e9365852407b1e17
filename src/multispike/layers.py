"""``torch.nn.Module`` wrappers around :mod:`multispike.functional`."""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from .checks import check_layer_size, check_spike_times, positive_int
from .config import check_init
from .convolution import conv_lif_layer, spike_pool2d
from .delays import (check_delay_kind, check_delay_settings, initial_delays, project_delays,
                     shift_spikes)
from .dense import infer_lif, lif_layer
from .parameters import LIFParameters

__all__ = ["LIF", "ConvLIF", "SpikePool2d", "neuron_layers"]


def _draw_weight(weight: nn.Parameter, init) -> None:
    """Fill ``weight`` from init = ("uniform", low, high) or ("normal", mean, std), drawn in
    the order of its shape, so that a seed gives the same weights whatever the memory layout."""
    kind, a, b = init
    values = torch.empty(weight.shape, dtype=weight.dtype)
    if kind == "uniform":
        values.uniform_(a, b)
    elif kind == "normal":
        values.normal_(a, b)
    else:
        raise ValueError(f"init must be ('uniform', low, high) or ('normal', mean, std), got {init!r}")
    with torch.no_grad():
        weight.copy_(values)


def _check_move(fn, dtype) -> None:
    """Refuse moves to another device or dtype the kernels cannot run (``.cuda()``,
    ``.to("cuda")``, ``.half()``) with a clear error, before anything is moved."""
    try:
        probe = fn(torch.zeros(1, dtype=dtype))
    except (AssertionError, RuntimeError) as exc:
        raise ValueError(f"multispike layers run on the CPU only (numba kernels); this "
                         f"move failed: {exc}") from None
    if probe.device.type != "cpu":
        raise ValueError(f"multispike layers run on the CPU only (numba kernels); "
                         f"cannot move to device {probe.device}")
    if probe.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"multispike layers compute in float32 or float64, not {probe.dtype}")


def _check_dtype(dtype) -> None:
    if dtype not in (torch.float32, torch.float64):
        raise TypeError(f"dtype must be torch.float32 or torch.float64 (the kernels' "
                        f"types), got {dtype}")


#: The layers' defaults: the neuron of the paper's multi-spike MNIST hidden layer (synaptic
#: time constant, threshold, spike slots), the same for :class:`LIF` and :class:`ConvLIF`.
DEFAULT_TAU_S = 0.13
DEFAULT_THRESHOLD = 0.2
DEFAULT_MAX_SPIKES = 30


class _Neurons(nn.Module):
    """What :class:`LIF` and :class:`ConvLIF` share: the neuron constants (``params``, readable
    as attributes), the weight and its initialisation, the saturation record, and the refusal
    to move to a device or precision the kernels do not support."""

    def _set_neurons(self, weight: torch.Tensor, n_out: int, tau_s, threshold, reset, max_spikes,
                     t_max, init, tau_mem) -> None:
        self.params = LIFParameters.create(tau_s, threshold, reset, max_spikes, t_max, tau_mem)
        check_layer_size(n_out, self.params.max_spikes)
        self.weight = nn.Parameter(weight)
        self.init = check_init(tuple(init) if isinstance(init, list) else init)
        self.reset_parameters()
        self.saturated: torch.Tensor | None = None
        self.n_saturated = 0

    def reset_parameters(self) -> None:
        _draw_weight(self.weight, self.init)

    def record_saturation(self, saturated: torch.Tensor) -> None:
        """Keep the mask of the last call's saturated neurons (the shape of one output slot
        of the layer) and their count."""
        self.saturated = saturated
        self.n_saturated = int(np.count_nonzero(saturated.numpy()))  # torch's bool sum is slow

    def _apply(self, fn, *args, **kwargs):
        _check_move(fn, self.weight.dtype)
        return super()._apply(fn, *args, **kwargs)

    tau_s = property(lambda self: self.params.tau_s)
    tau_mem = property(lambda self: self.params.tau_mem)
    threshold = property(lambda self: self.params.threshold)
    reset = property(lambda self: self.params.reset)
    max_spikes = property(lambda self: self.params.max_spikes)
    t_max = property(lambda self: self.params.t_max)


class LIF(_Neurons):
    """A fully connected layer of exact event-driven LIF neurons.

    ``layer(times)`` maps input spike times (batch, in_features, K_in) to output spike times
    (batch, out_features, max_spikes), ascending and +inf padded; see
    :func:`multispike.functional.lif` for the model. After each call,
    ``saturated`` holds the (batch, out_features) mask of neurons that hit ``max_spikes``
    (their later spikes were dropped) and ``n_saturated`` its count.

    Weights are drawn from ``init`` = ("uniform", low, high) or ("normal", mean, std);
    the default uniform(-1, 1) is the paper's multi-spike initialisation.

    ``delays="axonal"`` adds a learnable delay per input neuron (``delay``, shape
    (in_features,)): every spike of input j arrives at t_j + delay[j] at all the neurons.
    ``delays="dendritic"`` adds one per neuron (shape (out_features,)): every output spike
    of neuron n is moved to t + delay[n]. The neurons fire until ``t_max`` (it bounds the
    soma's firing): a dendritic delay shifts those spikes after the cut, so outputs may lie
    up to ``max_delay`` past ``t_max``; an axonal delay can push inputs past ``t_max``,
    where they no longer act. ``delay_init`` is a number or ("uniform", low, high) within
    [0, ``max_delay``] (None: no maximum). The gradient with respect to a delay is exact,
    the sum of the gradients of the spike times it shifts (:mod:`multispike.delays`);
    delays are kept in [0, ``max_delay``] by projection: each call first clamps ``delay``
    in place (:meth:`project_delays`, which can also be an optimizer's step hook), so a
    step that leaves the range lands on its bound and the gradient there is the plain one
    (projected gradient descent; no delay gets stuck with a zero gradient). Inputs that
    coincide after a delay (a tie) are not a kink of the layer: each input's effect depends
    smoothly on its own arrival time, so each gets its own ordinary gradient.
    ``delays=None`` (default) adds no parameter and leaves the layer unchanged.
    """

    def __init__(self, in_features: int, out_features: int, tau_s: float = DEFAULT_TAU_S,
                 threshold: float = DEFAULT_THRESHOLD, reset: float | None = None,
                 max_spikes: int = DEFAULT_MAX_SPIKES,
                 t_max: float = math.inf, init=("uniform", -1.0, 1.0), dtype=torch.float32,
                 tau_mem: float | None = None, delays: str | None = None, delay_init=0.0,
                 max_delay: float | None = None):
        super().__init__()
        positive_int("in_features", in_features)
        positive_int("out_features", out_features)
        _check_dtype(dtype)
        self.in_features = in_features
        self.out_features = out_features
        # (out_features, in_features) like nn.Linear, stored in memory as its transpose:
        # the kernels read W^T (in, out) and produce the gradient in that layout, so a
        # training step transposes no weight and no gradient (dense.transposed_weight).
        self._set_neurons(torch.empty(in_features, out_features, dtype=dtype).t(), out_features,
                          tau_s, threshold, reset, max_spikes, t_max, init, tau_mem)
        self.delays = check_delay_kind(delays)
        if self.delays is not None:
            self.delay_init, self.max_delay = check_delay_settings(delay_init, max_delay)
            n = in_features if self.delays == "axonal" else out_features
            self.delay = nn.Parameter(initial_delays(n, self.delay_init, dtype))

    def project_delays(self) -> None:
        """Clamp ``delay`` in place into [0, max_delay] (done at each call; a layer without
        delays has nothing to do). ``optimizer.register_step_post_hook(lambda *_:
        layer.project_delays())`` keeps the stored delays in range after every step too."""
        if self.delays is not None:
            project_delays(self.delay, self.max_delay)

    def forward(self, times: torch.Tensor) -> torch.Tensor:
        self.check_input(times)
        self.project_delays()
        if self.delays == "axonal":
            check_spike_times(times, "times", values=False)
            times = shift_spikes(times, self.delay)
        out, saturated = lif_layer(times, self.weight, self.params)
        self.record_saturation(saturated)
        if self.delays == "dendritic":
            out = shift_spikes(out, self.delay)
        return out

    def infer(self, times: torch.Tensor, weight_t: torch.Tensor) -> torch.Tensor:
        """The output spike times without autograd, with ``weight_t =
        functional.transposed_weight(self.weight, times.dtype)`` computed once by the caller
        for many chunks of a batch. (A network's chunked inference also hands event lists
        from layer to layer: :meth:`multispike.SpikingNetwork.forward`.)"""
        self.check_input(times)
        check_spike_times(times, "times", values=False)
        self.project_delays()
        if self.delays == "axonal":
            times = shift_spikes(times, self.delay.detach())
        if weight_t.shape != (self.in_features, self.out_features) or weight_t.dtype != times.dtype:
            raise ValueError(f"weight_t must be this layer's transposed weight in the dtype of "
                             f"times, got shape {tuple(weight_t.shape)} and dtype {weight_t.dtype}")
        out, saturated, _ = infer_lif(times, weight_t, self.params)
        self.record_saturation(saturated)
        if self.delays == "dendritic":
            out = shift_spikes(out, self.delay.detach())
        return out

    def check_input(self, times) -> None:
        """ValueError unless (batch, neurons, slots) ``times`` has ``in_features`` neurons."""
        if isinstance(times, torch.Tensor) and times.dim() == 3 and times.shape[1] != self.in_features:
            raise ValueError(f"times has {times.shape[1]} input neurons on axis 1, "
                             f"but this layer has in_features = {self.in_features}")

    def extra_repr(self) -> str:
        p = self.params
        delays = "" if self.delays is None else f", delays={self.delays!r}, max_delay={self.max_delay}"
        return (f"{self.in_features}, {self.out_features}, tau_s={p.tau_s}, tau_mem={p.tau_mem}, "
                f"threshold={p.threshold}, reset={p.reset}, max_spikes={p.max_spikes}, t_max={p.t_max}"
                f"{delays}")


class ConvLIF(_Neurons):
    """A convolutional layer of exact event-driven LIF neurons (the neuron of :class:`LIF`
    with shared kernels; see :func:`multispike.functional.conv_lif`).

    ``layer(times)`` maps (batch, in_channels, H, W, K_in) input spike times to
    (batch, out_channels, H_out, W_out, max_spikes), ascending and +inf padded.
    ``weight`` is (out_channels, in_channels, kH, kW) as in ``torch.nn.Conv2d``;
    ``kernel_size`` is an int or a (kH, kW) pair, ``stride`` and ``padding`` ints.
    After each call ``saturated`` holds the (batch, out_channels, H_out, W_out) mask of
    neurons that hit ``max_spikes`` and ``n_saturated`` its count.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, *,
                 tau_s: float = DEFAULT_TAU_S, threshold: float = DEFAULT_THRESHOLD,
                 reset: float | None = None, max_spikes: int = DEFAULT_MAX_SPIKES,
                 t_max: float = math.inf, stride: int = 1, padding: int = 0,
                 init=("uniform", -1.0, 1.0), dtype=torch.float32, tau_mem: float | None = None):
        super().__init__()
        self.in_channels = positive_int("in_channels", in_channels)
        self.out_channels = positive_int("out_channels", out_channels)
        pair = tuple(kernel_size) if isinstance(kernel_size, (tuple, list)) else (kernel_size,) * 2
        if len(pair) != 2:
            raise ValueError(f"kernel_size must be an int or a (kH, kW) pair, got {kernel_size!r}")
        self.kernel_size = (positive_int("kernel_size", pair[0]), positive_int("kernel_size", pair[1]))
        self.stride = positive_int("stride", stride)
        if isinstance(padding, bool) or not isinstance(padding, int) or padding < 0:
            raise ValueError(f"padding must be an int >= 0, got {padding!r}")
        self.padding = padding
        _check_dtype(dtype)
        self._set_neurons(torch.empty(out_channels, in_channels, *self.kernel_size, dtype=dtype),
                          out_channels, tau_s, threshold, reset, max_spikes, t_max, init, tau_mem)

    def output_shape(self, height: int, width: int) -> tuple[int, int]:
        """(H_out, W_out) for an input of height x width."""
        k_h, k_w = self.kernel_size
        return ((height + 2 * self.padding - k_h) // self.stride + 1,
                (width + 2 * self.padding - k_w) // self.stride + 1)

    def forward(self, times: torch.Tensor) -> torch.Tensor:
        out, saturated = conv_lif_layer(times, self.weight, self.params, self.stride,
                                        self.padding)
        self.record_saturation(saturated)
        return out

    def extra_repr(self) -> str:
        p = self.params
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, tau_s={p.tau_s}, tau_mem={p.tau_mem}, "
                f"threshold={p.threshold}, reset={p.reset}, max_spikes={p.max_spikes}, "
                f"t_max={p.t_max}")


class SpikePool2d(nn.Module):
    """Spike pooling (:func:`multispike.functional.spike_pool2d`): (B, C, H, W, K) ->
    (B, C, H // s, W // s, s * s * K), the union of each s x s window's spike trains."""

    def __init__(self, kernel_size: int = 2):
        super().__init__()
        self.kernel_size = positive_int("kernel_size", kernel_size)

    def forward(self, times: torch.Tensor) -> torch.Tensor:
        return spike_pool2d(times, self.kernel_size)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}"


def neuron_layers(module: nn.Module) -> list:
    """The layers of neurons of ``module`` (:class:`LIF` and :class:`ConvLIF`, the layers
    with weights, thresholds and t_max), in module order."""
    return [m for m in module.modules() if isinstance(m, _Neurons)]
