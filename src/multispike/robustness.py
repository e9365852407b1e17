"""Robustness of a trained network to four kinds of noise.

* ``input_jitter``: every input spike time moves by Gaussian noise of standard deviation
  ``sigma`` (time units of the network); times are clamped at 0 and empty slots (+inf) stay
  empty.
* ``input_deletion``: every input spike is deleted (set to +inf) with probability ``p``.
* ``weight``: multiplicative Gaussian noise on every weight, w -> w (1 + sigma xi).
* ``threshold``: multiplicative Gaussian noise on every neuron's threshold,
  theta_n -> theta (1 + sigma xi_n); in a convolutional layer one draw per output channel
  (below).

Weight and threshold noise act on every layer of neurons, fully connected (:class:`LIF`) and
convolutional (:class:`ConvLIF`). A convolution's weights are its shared kernels, so weight
noise perturbs each kernel entry once, for every position that uses it.

Threshold noise and the weight equivalence: the exact kernel takes one threshold per layer,
but with reset = threshold a neuron of threshold theta (1 + eps) and incoming weights w
fires at exactly the same times as a neuron of threshold theta and weights w / (1 + eps).
The membrane potential is linear in the weights and in the reset,
u(t) = sum_j w_j k(t - t_j) - reset sum_k r(t - t_k), so dividing the spike condition
u = theta (1 + eps) (with reset = theta (1 + eps)) by (1 + eps) gives the spike condition of
the second neuron, with the same earlier spikes; by induction all spikes coincide. Per-neuron
threshold noise is therefore applied by dividing each neuron's row of incoming weights by
its factor (1 + eps), which is clamped at ``min_factor`` > 0 because a threshold must stay
positive. Layers whose reset differs from the threshold are refused (ValueError). The
neurons of one output channel of a convolution share their incoming kernel, so a weight
scale can only give them one common factor: there the threshold noise is drawn per output
channel (exact for that noise model: every neuron of channel o has threshold
theta (1 + sigma xi_o)), not per neuron.

None of these functions modifies its arguments: they return perturbed copies. Randomness
comes from an explicit ``torch.Generator`` (or a seed), so every draw is reproducible.
"""
from __future__ import annotations

import copy
import math
from typing import Iterable, Mapping, Sequence

import torch
from torch import nn

from .layers import neuron_layers
from .losses import predict

__all__ = ["NOISE_KINDS", "jitter_spike_times", "delete_spikes", "perturb_weights",
           "perturb_thresholds", "threshold_as_weight_scale", "apply_noise", "noisy_accuracy",
           "robustness_sweep"]

NOISE_KINDS = ("input_jitter", "input_deletion", "weight", "threshold")


def _generator(generator=None, seed=None) -> torch.Generator:
    if generator is not None:
        if not isinstance(generator, torch.Generator):
            raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
        return generator
    g = torch.Generator()
    g.manual_seed(0 if seed is None else int(seed))
    return g


def _level(name, value, upper=None) -> float:
    value = float(value)
    if not (math.isfinite(value) and value >= 0) or (upper is not None and value > upper):
        bound = f" and <= {upper}" if upper is not None else ""
        raise ValueError(f"{name} must be a finite number >= 0{bound}, got {value}")
    return value


def _neuron_layers(net: nn.Module) -> list:
    """:func:`~multispike.layers.neuron_layers` of ``net``; ValueError if there are none."""
    layers = neuron_layers(net)
    if not layers:
        raise ValueError(f"{type(net).__name__} contains no multispike.LIF or ConvLIF layer")
    return layers


def jitter_spike_times(times: torch.Tensor, sigma: float, generator=None, seed=None) -> torch.Tensor:
    """A copy of ``times`` with N(0, sigma^2) added to every spike time, clamped at >= 0;
    +inf (empty slot) stays +inf."""
    sigma = _level("sigma", sigma)
    out = times.detach().clone()
    if sigma == 0:
        return out
    noise = torch.randn(out.shape, generator=_generator(generator, seed), dtype=torch.float64)
    finite = torch.isfinite(out)
    jittered = (out.to(torch.float64) + sigma * noise).clamp_min(0.0).to(out.dtype)
    return torch.where(finite, jittered, out)


def delete_spikes(times: torch.Tensor, p: float, generator=None, seed=None) -> torch.Tensor:
    """A copy of ``times`` where every spike is deleted (+inf) independently with
    probability ``p``."""
    p = _level("p", p, upper=1.0)
    out = times.detach().clone()
    if p == 0:
        return out
    drop = torch.rand(out.shape, generator=_generator(generator, seed), dtype=torch.float64) < p
    return out.masked_fill(drop, math.inf)


def perturb_weights(net: nn.Module, sigma: float, generator=None, seed=None) -> nn.Module:
    """A deep copy of ``net`` whose weights (LIF and ConvLIF) are multiplied by
    (1 + sigma xi), xi ~ N(0, 1) drawn independently per weight (per kernel entry in a
    convolution)."""
    sigma = _level("sigma", sigma)
    g = _generator(generator, seed)
    noisy = copy.deepcopy(net)
    if sigma == 0:
        return noisy
    with torch.no_grad():
        for layer in _neuron_layers(noisy):
            w = layer.weight
            xi = torch.randn(w.shape, generator=g, dtype=torch.float64)
            w.copy_((w.to(torch.float64) * (1.0 + sigma * xi)).to(w.dtype))
    return noisy


def threshold_as_weight_scale(weight: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Incoming weights (out, in) of neurons, or kernels (out_channels, in_channels, kH, kW)
    of output channels, whose threshold (= reset) is multiplied by ``factor`` (out,),
    expressed at the original threshold: each row (kernel) divided by its factor. See the
    module docstring for the equivalence."""
    factor = torch.as_tensor(factor, dtype=torch.float64)
    if factor.shape != (weight.shape[0],):
        raise ValueError(f"factor needs one value per neuron or output channel "
                         f"({weight.shape[0]}), got shape {tuple(factor.shape)}")
    if not bool((factor > 0).all()):
        raise ValueError("threshold factors must be > 0")
    scale = factor.view(-1, *([1] * (weight.dim() - 1)))
    return (weight.detach().to(torch.float64) / scale).to(weight.dtype)


def perturb_thresholds(net: nn.Module, sigma: float, generator=None, seed=None,
                       min_factor: float = 0.01) -> nn.Module:
    """A deep copy of ``net`` in which every neuron n of every LIF layer behaves as if its
    threshold (and reset) were theta (1 + sigma xi_n), xi_n ~ N(0, 1), the factor clamped at
    ``min_factor`` (in a ConvLIF layer one xi per output channel, shared by its positions).
    Implemented exactly by scaling the incoming weights by 1 / (1 + sigma xi); requires
    reset == threshold in every layer."""
    sigma = _level("sigma", sigma)
    if not min_factor > 0:
        raise ValueError(f"min_factor must be > 0, got {min_factor}")
    layers = _neuron_layers(net)
    for i, layer in enumerate(layers):
        if not math.isclose(layer.reset, layer.threshold, rel_tol=1e-12):
            raise ValueError(f"threshold noise needs reset == threshold (layer {i} has threshold "
                             f"{layer.threshold} and reset {layer.reset}); the weight-scaling "
                             "equivalence does not hold otherwise")
    g = _generator(generator, seed)
    noisy = copy.deepcopy(net)
    if sigma == 0:
        return noisy
    with torch.no_grad():
        for layer in _neuron_layers(noisy):
            xi = torch.randn(layer.weight.shape[0], generator=g, dtype=torch.float64)
            factor = (1.0 + sigma * xi).clamp_min(min_factor)
            layer.weight.copy_(threshold_as_weight_scale(layer.weight, factor))
    return noisy


def apply_noise(net: nn.Module, times: torch.Tensor, kind: str, level: float, generator=None,
                seed=None):
    """(network, input times) with noise ``kind`` at ``level``; both are copies."""
    g = _generator(generator, seed)
    if kind == "input_jitter":
        return copy.deepcopy(net), jitter_spike_times(times, level, g)
    if kind == "input_deletion":
        return copy.deepcopy(net), delete_spikes(times, level, g)
    if kind == "weight":
        return perturb_weights(net, level, g), times.detach().clone()
    if kind == "threshold":
        return perturb_thresholds(net, level, g), times.detach().clone()
    raise ValueError(f"kind must be one of {NOISE_KINDS}, got {kind!r}")


@torch.no_grad()
def noisy_accuracy(net: nn.Module, times: torch.Tensor, labels: torch.Tensor, rule: str,
                   kind: str, level: float, seed: int = 0, batch_size: int = 500) -> float:
    """Test accuracy of ``net`` under one draw (``seed``) of noise ``kind`` at ``level``."""
    noisy_net, noisy_times = apply_noise(net, times, kind, level, seed=seed)
    noisy_net.eval()
    correct = 0
    for i in range(0, len(noisy_times), batch_size):
        out = noisy_net(noisy_times[i:i + batch_size])
        correct += int((predict(out, rule) == labels[i:i + batch_size]).sum())
    return correct / max(len(labels), 1)


def robustness_sweep(net: nn.Module, times: torch.Tensor, labels: torch.Tensor, rule: str,
                     levels: Mapping[str, Sequence[float]], seeds: Iterable[int] = range(5),
                     batch_size: int = 500) -> list:
    """Accuracy under every noise kind and level in ``levels`` ({kind: [level, ...]}),
    repeated over ``seeds``. Returns one row per (kind, level): mean, std (population, 0 for
    one seed) and the list of per-seed accuracies."""
    seeds = list(seeds)
    if not seeds:
        raise ValueError("seeds must not be empty")
    rows = []
    for kind, kind_levels in levels.items():
        if kind not in NOISE_KINDS:
            raise ValueError(f"kind must be one of {NOISE_KINDS}, got {kind!r}")
        for level in kind_levels:
            accs = [noisy_accuracy(net, times, labels, rule, kind, level, seed, batch_size)
                    for seed in seeds]
            acc = torch.tensor(accs, dtype=torch.float64)
            rows.append({"kind": kind, "level": float(level), "mean": float(acc.mean()),
                         "std": float(acc.std(unbiased=False)), "accuracies": accs})
    return rows
