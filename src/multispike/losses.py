"""Losses on output spike times and the matching prediction rules.

* TTFS: softmax cross-entropy on first spike times, logits = -t_first / tau_loss.
  The class whose neuron fires first wins (:func:`predict_first_spike`).
* Spike count: L = 0.5 sum_n (target_n - count_n)^2, target_n = target_true for the label,
  target_false otherwise. Counts are not differentiable; as in the paper every spike k of
  neuron n receives the error dL/dt_k = (target_n - count_n), which moves the spikes of a
  neuron that fires too little earlier and those of one that fires too much later. Silent
  neurons receive no error. The class with most spikes wins, ties broken by the earlier first
  spike (:func:`predict_spike_count`).

Both losses are averaged over the batch; ``reduction="none"`` returns one loss per sample
(``"sum"`` their sum), whose gradients are each sample's own.

A training configuration names its loss (``loss`` = "ttfs" or "spike_count"); this module
is the one home of what that name means: :func:`training_loss` builds the loss with the
configuration's settings, :func:`prediction_rule` names the matching prediction rule, and
:func:`compute_loss` adds the silent-label term the trainer uses.

* Silent label neurons: a sample whose label neuron does not fire gets no gradient for that
  neuron from either loss (the cross-entropy has no first spike time to move, the spike-count
  loss no spike to hand its count error to), so a label neuron that fell silent on part of
  the input is never revived. :func:`silent_label_loss` adds, for those samples only, the
  distance of the label neuron's peak membrane potential from the threshold:

      L_silent = (1/N) sum_{i : label neuron y_i silent} (theta - u_peak(i, y_i)) / theta,

  u_peak the largest potential on [first input, t_max] in closed form
  (:func:`membrane.peak_potential`), a function of the label neuron's input weights and input
  spike times that exists whether or not the neuron fires. A label neuron whose potential is
  nowhere positive (u_peak <= 0: its inputs are inhibitory on balance) counts
  1 - u_mean / theta (>= 1) instead, u_mean its mean potential over the input window
  (:func:`membrane.mean_potential`): there the largest potential sits just after the first
  input event, where its gradient vanishes with the gap to the next event, whereas every
  input's weight moves u_mean in proportion to the integral of its postsynaptic kernel. Its exact gradients (the equations
  are in :mod:`membrane`) raise the weight of every input that arrives before the peak, in
  proportion to its postsynaptic kernel at the peak, and move those inputs' spike times so as
  to raise the peak; through the hidden layer's exact backward pass they reach every earlier
  layer. The term is continuous where it switches off: the label
  neuron starts to fire exactly when u_peak reaches theta, where the term is 0. It is zero,
  with zero gradient, on a batch without a silent label neuron, so the loss is then the plain
  cross-entropy. This is the "dead neuron" remedy of exact TTFS training (a push that exists
  for a silent neuron), made exact: instead of bumping the weights by a fixed amount, it
  follows the gradient of how close the neuron came to firing. Added to the spike-count loss
  it acts the same way: u_peak of a neuron without spikes is its actual reset-free potential
  whatever its number of slots, and the input spike times may come from a multi-spike layer
  (each of their slots is one input event). Once the label neuron fires, the term vanishes
  for that sample and the count error (target - count) drives its spikes.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import torch

from .membrane import mean_potential, peak_potential

__all__ = ["ttfs_cross_entropy", "silent_label_loss", "spike_count_loss", "spike_counts", "first_spike_times",
           "RULES", "decide", "predict_first_spike", "predict_spike_count", "predict", "LOSSES", "prediction_rule",
           "RegimeLoss", "training_loss", "compute_loss"]


def _check(out_times, labels):
    if not isinstance(out_times, torch.Tensor) or out_times.dim() != 3:
        raise ValueError("out_times must be a (batch, classes, slots) spike-time tensor, got "
                         f"{getattr(out_times, 'shape', type(out_times).__name__)}")
    if not isinstance(labels, torch.Tensor) or labels.dtype not in (torch.int64, torch.int32):
        raise TypeError("labels must be an int64 tensor of class indices")
    if labels.shape != (out_times.shape[0],):
        raise ValueError(f"labels must have shape ({out_times.shape[0]},), got {tuple(labels.shape)}")
    if len(labels) and (labels.min() < 0 or labels.max() >= out_times.shape[1]):
        raise ValueError(f"labels must lie in [0, {out_times.shape[1]}), got "
                         f"[{int(labels.min())}, {int(labels.max())}]")


def spike_counts(times: torch.Tensor) -> torch.Tensor:
    """Number of spikes per neuron: (batch, neurons) int64."""
    return torch.isfinite(times).sum(-1)


def first_spike_times(times: torch.Tensor) -> torch.Tensor:
    """Earliest spike per neuron (+inf if silent): (batch, neurons)."""
    return times.min(-1).values


_REDUCTIONS = ("mean", "sum", "none")


def _reduce(per_sample: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "mean":
        return per_sample.mean()
    if reduction == "sum":
        return per_sample.sum()
    return per_sample


def _check_reduction(reduction) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def ttfs_cross_entropy(out_times, labels, tau_loss=0.005, silent_time=None, reduction="mean"):
    """Softmax cross-entropy on first spike times, logits = -t_first / tau_loss.

    A silent neuron has logit -inf. If the labelled neuron is silent the loss is infinite
    and carries no information on how to make that neuron fire; its gradient would only
    push every other output neuron later, with the largest weight any sample can have
    (sum_j p_j / tau_loss = 1 / tau_loss). A few such samples then dominate a batch, silence
    more label neurons through the shared hidden layer, and training collapses into a fully
    silent output layer (seen on MNIST with the paper's TTFS settings).
    ``silent_time`` (for example the simulation end t_max) therefore stands in for the
    missing spike time in the reported loss and such samples contribute no gradient here;
    :func:`silent_label_loss` is the term that gives them one.
    With ``silent_time=None`` they give an infinite loss, as in the plain definition.
    """
    _check(out_times, labels)
    _check_reduction(reduction)
    if not tau_loss > 0:
        raise ValueError(f"tau_loss must be > 0, got {tau_loss}")
    labels = labels.long()
    first = first_spike_times(out_times)
    if silent_time is None:
        return torch.nn.functional.cross_entropy(-first / tau_loss, labels, reduction=reduction)
    silent = torch.isinf(first)
    first = torch.where(silent, torch.full_like(first, float(silent_time)), first)
    per_sample = torch.nn.functional.cross_entropy(-first / tau_loss, labels, reduction="none")
    label_silent = silent[torch.arange(len(labels)), labels]
    per_sample = torch.where(label_silent, per_sample.detach(), per_sample)
    return _reduce(per_sample, reduction)


def silent_label_loss(out_times, labels, in_times, weight, tau_s, threshold, t_max=math.inf,
                      tau_mem=None):
    """(1/N) sum over samples whose label neuron is silent of (theta - u_peak) / theta, or
    1 - u_mean / theta where u_peak <= 0 (see the module docstring); 0 with zero gradient
    when no label neuron is silent.

    ``in_times`` (batch, in_features, slots) are the output layer's input spike times (the
    last hidden layer's output, with its autograd graph) and ``weight`` its (classes,
    in_features) weights; ``tau_s``, ``threshold``, ``t_max`` and ``tau_mem`` (None: 2 tau_s)
    are the output layer's.
    """
    _check(out_times, labels)
    if not (isinstance(threshold, (int, float)) and threshold > 0):
        raise ValueError(f"threshold must be a number > 0, got {threshold!r}")
    if not isinstance(in_times, torch.Tensor) or in_times.dim() != 3 or len(in_times) != len(labels):
        raise ValueError(f"in_times must be a ({len(labels)}, in_features, slots) tensor, got "
                         f"{getattr(in_times, 'shape', type(in_times).__name__)}")
    if not isinstance(weight, torch.Tensor) or weight.dim() != 2 or weight.shape[0] != out_times.shape[1]:
        raise ValueError(f"weight must be a ({out_times.shape[1]}, in_features) tensor, got "
                         f"{getattr(weight, 'shape', type(weight).__name__)}")
    labels = labels.long()
    silent = torch.isinf(first_spike_times(out_times.detach())[torch.arange(len(labels)), labels])
    if not bool(silent.any()):
        return (0.0 * weight.sum()).to(out_times.dtype)
    label = labels[silent].unsqueeze(1)
    peak = peak_potential(in_times[silent], weight, tau_s, t_max, tau_mem).gather(1, label).squeeze(1)
    mean = mean_potential(in_times[silent], weight, tau_s, t_max, tau_mem).gather(1, label).squeeze(1)
    distance = torch.where(peak.detach() > 0, torch.relu(threshold - peak) / threshold,
                           1 - mean / threshold)
    return distance.sum() / len(labels)


class _SpikeCountLoss(torch.autograd.Function):
    """0.5 sum_n (target_n - count_n)^2, reduced over the batch by ``reduction``, with
    dL/dt_k = target_n - count_n (divided by the batch size for the mean)."""

    @staticmethod
    def forward(ctx, out_times, targets, reduction):
        spiking = torch.isfinite(out_times)
        error = targets - spiking.sum(-1).to(out_times.dtype)  # (batch, classes)
        ctx.save_for_backward(spiking, error)
        ctx.reduction = reduction
        if reduction == "none":
            return 0.5 * (error ** 2).sum(-1)
        total = 0.5 * (error ** 2).sum()
        return total / out_times.shape[0] if reduction == "mean" else total

    @staticmethod
    def backward(ctx, grad):
        spiking, error = ctx.saved_tensors
        if ctx.reduction == "none":
            return (grad.unsqueeze(-1) * error).unsqueeze(-1) * spiking, None, None
        if ctx.reduction == "mean":
            error = error / spiking.shape[0]
        return grad * (error.unsqueeze(-1) * spiking), None, None


def spike_count_loss(out_times, labels, target_true=15.0, target_false=3.0, reduction="mean"):
    """0.5 sum (target - count)^2 averaged over the batch, with the paper's count error
    handed to every spike of a neuron as dL/dt (see the module docstring)."""
    _check(out_times, labels)
    _check_reduction(reduction)
    targets = torch.full(out_times.shape[:2], float(target_false), dtype=out_times.dtype)
    targets[torch.arange(len(labels)), labels] = float(target_true)
    return _SpikeCountLoss.apply(out_times, targets, reduction)


#: The prediction rules: the earliest output spike decides (TTFS), or the most spikes do.
RULES = ("first_spike", "spike_count")


def decide(counts: torch.Tensor, first: torch.Tensor, rule: str) -> torch.Tensor:
    """The class ``rule`` picks from spike counts (..., classes) and first spike times
    (..., classes; +inf where a class has not fired); -1 where no class has fired.

    "first_spike": the class of the earliest spike. "spike_count": the class with the most
    spikes, ties broken by the earlier first spike. Remaining ties go to the lower class
    index. The one definition of the prediction rules: :func:`predict` applies it to whole
    outputs, :mod:`multispike.latency` to the spikes before each time.
    """
    if rule == "first_spike":
        key = first
    elif rule == "spike_count":
        best = counts.max(-1, keepdim=True).values
        key = torch.where(counts == best, first, torch.full_like(first, math.inf))
    else:
        raise ValueError(f"rule must be 'first_spike' or 'spike_count', got {rule!r}")
    pred = key.argmin(-1)
    return torch.where((counts == 0).all(-1), torch.full_like(pred, -1), pred)


def predict_first_spike(out_times) -> torch.Tensor:
    """Class of the earliest output spike; -1 where no output neuron fired."""
    return predict(out_times, "first_spike")


def predict_spike_count(out_times) -> torch.Tensor:
    """Class with the most output spikes, ties broken by the earlier first spike; -1 where
    no output neuron fired."""
    return predict(out_times, "spike_count")


def predict(out_times, rule: str) -> torch.Tensor:
    """The class ``rule`` ("first_spike" (TTFS) or "spike_count") picks from the whole output
    spike times (batch, classes, slots); see :func:`decide`."""
    return decide(spike_counts(out_times), first_spike_times(out_times), rule)

#: The losses a training configuration may name, each with its prediction rule.
_RULE_OF_LOSS = {"spike_count": "spike_count", "ttfs": "first_spike"}
LOSSES = tuple(_RULE_OF_LOSS)


def prediction_rule(loss: str) -> str:
    """The prediction rule that matches ``loss``: "first_spike" for "ttfs" (the earliest
    output spike decides), "spike_count" for "spike_count"."""
    if loss not in _RULE_OF_LOSS:
        raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
    return _RULE_OF_LOSS[loss]


@dataclass(frozen=True)
class RegimeLoss:
    """The training loss of a regime as a function of output spike times, per sample by
    default.

    ``kind`` "ttfs": cross-entropy on first spike times with ``tau_loss`` (a silent label
    neuron counts as firing at ``silent_time``); "spike_count": targets ``target_true`` /
    ``target_false``.
    """

    kind: str
    tau_loss: float = 0.005
    silent_time: Optional[float] = None
    target_true: float = 15.0
    target_false: float = 3.0

    def __post_init__(self):
        if self.kind not in LOSSES:
            raise ValueError(f"kind must be 'ttfs' or 'spike_count', got {self.kind!r}")

    @property
    def rule(self) -> str:
        """The prediction rule that matches this loss."""
        return prediction_rule(self.kind)

    def __call__(self, out_times: torch.Tensor, labels: torch.Tensor, reduction: str = "none") -> torch.Tensor:
        if self.kind == "ttfs":
            return ttfs_cross_entropy(out_times, labels, self.tau_loss, self.silent_time, reduction=reduction)
        return spike_count_loss(out_times, labels, self.target_true, self.target_false, reduction=reduction)


def training_loss(config) -> RegimeLoss:
    """The training loss of a :class:`multispike.config.TrainConfig` (a silent TTFS label
    neuron stands at a finite ``t_max``)."""
    if config.loss == "ttfs":
        silent = config.t_max if math.isfinite(config.t_max) else None
        return RegimeLoss("ttfs", tau_loss=config.tau_loss, silent_time=silent)
    return RegimeLoss("spike_count", target_true=config.target_true, target_false=config.target_false)


def compute_loss(config, out_times, labels, net=None, in_times=None):
    """The config's loss averaged over the batch plus, with ``config.silent_label_penalty``
    > 0, the silent-label term (for either loss), which also needs the network ``net`` and
    its output layer's input spike times ``in_times``."""
    loss = training_loss(config)(out_times, labels, reduction="mean")
    if config.silent_label_penalty > 0:
        if net is None or in_times is None:
            raise ValueError("silent_label_penalty > 0 needs the network (net) and the output "
                             "layer's input spike times (in_times)")
        out = net.layers[-1]
        if out.weight.dim() != 2:
            raise ValueError("silent_label_penalty > 0 needs a fully connected output layer; "
                             "this network ends with a convolution")
        loss = loss + config.silent_label_penalty * silent_label_loss(
            out_times, labels, in_times, out.weight, out.tau_s, out.threshold, out.t_max, out.tau_mem)
    return loss
