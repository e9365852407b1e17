"""White-box attacks on input spike times, driven by the exact gradients with respect to them.

Threat model. The attacker knows the network and changes the input spike trains of a sample
in one of two ways:

* **time shifts** (an L-infinity ball in time): every existing input spike of an attackable
  input neuron moves by at most ``epsilon``, and stays inside the encoding window
  ``window = (t_lo, t_hi)`` (0 <= t_lo < t_hi); empty slots (+inf) stay empty, no spike is
  created or removed;
* **deletions**: ``k`` existing spikes of attackable input neurons are removed (set to +inf).

``attackable`` is a (neurons,) bool mask of the input neurons the attacker may touch (default:
all). A constant reference input such as the Yin-Yang bias spike, which fires at the same time
for every sample, is part of the network rather than of the data, and the study leaves it
out.

Objective. The attacks maximise the regime's training loss per sample, ``loss_fn(out_times,
labels) -> (batch,)`` (:func:`multispike.losses.training_loss` builds it from a training configuration), so the
attacker uses the very signal the network was trained with:

* TTFS: cross-entropy on first spike times. It is differentiable in the input times wherever
  no spike appears or vanishes, and its gradient is exact.
* spike count: 0.5 sum (target - count)^2 is piecewise constant in the input times. Its
  gradient is the one training uses, the paper's count error (target - count) handed to every
  output spike as dL/dt, carried back to the input times exactly; it is the exact gradient of
  the linearised loss sum_k (target_n(k) - count_n(k)) t_k at fixed counts.

Gradient attacks (sign steps, as for an L-infinity ball):

* :func:`fgsm`: t' = P(t + epsilon sign(dL/dt)), P the projection onto the allowed set;
* :func:`pgd`: a uniform random start in the allowed set, then ``steps`` steps
  t <- P(t + alpha sign(dL/dt)) with alpha = 2.5 epsilon / steps by default.

Both return, per sample, the first evaluated input that the network misclassifies (the clean
input counts), and otherwise the one with the highest loss: the attacker sees the prediction.
:func:`random_search` does the same over uniform random draws from the allowed set (the
reference a gradient attack must beat).

Deletions. An input spike at or after the first layer's ``t_max`` is ignored by the layer, so
moving spike j from t_j to t_end = t_max deletes it exactly. The first-order estimate of the
loss change of deleting it is therefore the linear term along that path,

    Delta L_j ~ dL/dt_j (t_end - t_j),

from one exact backward pass for all spikes of a batch. :func:`delete_by_gradient` deletes,
k times, the spike with the largest estimate, recomputing the gradient after each deletion.
:func:`delete_by_exact_effect` does the same with the exact loss after each candidate deletion
(one forward pass per candidate spike: the reference for the estimate, affordable when
samples have few spikes), and :func:`delete_at_random` deletes spikes in a random order.
Each returns the inputs after 0, 1, ..., k deletions.

Every function leaves its arguments unchanged and works on any batch size; networks are
any module mapping input spike times to output spike times (e.g. a
:class:`multispike.SpikingNetwork`), in any float dtype.
"""
from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn

from .functional import check_spike_times, positive_int
from .losses import RegimeLoss, predict, training_loss

__all__ = ["RegimeLoss", "training_loss", "input_time_gradient", "allowed_range", "fgsm", "pgd",
           "random_search", "deletion_estimates", "delete_by_gradient", "delete_by_exact_effect",
           "exact_deletion_effects", "delete_at_random", "losses_and_predictions"]


LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _check_inputs(times, labels) -> None:
    check_spike_times(times, "times")
    if not isinstance(labels, torch.Tensor) or labels.shape != (times.shape[0],):
        raise ValueError(f"labels must be a tensor of shape ({times.shape[0]},), got "
                         f"{getattr(labels, 'shape', type(labels).__name__)}")


def input_time_gradient(net: nn.Module, times: torch.Tensor, labels: torch.Tensor, loss_fn: LossFn):
    """(per-sample losses, output spike times, dL_i/dt for every input spike of sample i).

    One forward and one exact backward pass; the gradient has the shape of ``times`` and is
    0 in empty slots. Each sample's gradient is that of its own loss.
    """
    _check_inputs(times, labels)
    x = times.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        out = net(x)
        losses = loss_fn(out, labels)
        (grad,) = torch.autograd.grad(losses.sum(), x, allow_unused=True)
    if grad is None:  # the loss does not depend on the inputs (e.g. every output silent)
        grad = torch.zeros_like(times)
    grad = torch.where(torch.isfinite(times), grad, torch.zeros_like(grad))
    return losses.detach(), out.detach(), grad


@torch.no_grad()
def losses_and_predictions(net: nn.Module, times: torch.Tensor, labels: torch.Tensor, loss_fn: LossFn,
                           rule: str):
    """(per-sample losses, predicted classes) of the network on ``times``."""
    out = net(times)
    return loss_fn(out, labels).detach(), predict(out, rule)


def _movable(times: torch.Tensor, attackable) -> torch.Tensor:
    """(batch, neurons, slots) mask of the spikes the attacker may move or delete."""
    mask = torch.isfinite(times)
    if attackable is None:
        return mask
    attackable = torch.as_tensor(attackable, dtype=torch.bool)
    if attackable.shape != (times.shape[1],):
        raise ValueError(f"attackable must be a bool mask of shape ({times.shape[1]},) (one entry per "
                         f"input neuron), got {tuple(attackable.shape)}")
    return mask & attackable.view(1, -1, 1)


def allowed_range(times: torch.Tensor, epsilon: float, window, attackable=None):
    """(low, high, movable): the interval [max(t - eps, t_lo), min(t + eps, t_hi)] of every
    movable spike (low = high = t elsewhere) and the movable mask.

    Raises ValueError for a negative or non-finite ``epsilon``, a window that is not
    0 <= t_lo < t_hi < inf, or a movable spike outside the window.
    """
    epsilon = float(epsilon)
    if not (math.isfinite(epsilon) and epsilon >= 0):
        raise ValueError(f"epsilon must be a finite number >= 0, got {epsilon}")
    t_lo, t_hi = (float(v) for v in window)
    if not (0 <= t_lo < t_hi < math.inf):
        raise ValueError(f"window must be (t_lo, t_hi) with 0 <= t_lo < t_hi < inf, got {tuple(window)}")
    movable = _movable(times, attackable)
    inside = (times >= t_lo) & (times <= t_hi)
    if bool((movable & ~inside).any()):
        raise ValueError(f"an attackable input spike lies outside the window [{t_lo}, {t_hi}]")
    t = times.detach()
    low = torch.where(movable, (t - epsilon).clamp_min(t_lo), t)
    high = torch.where(movable, (t + epsilon).clamp_max(t_hi), t)
    return low, high, movable


_GOALS = ("misclassify", "loss")


class _Best:
    """Per sample, the input an attack returns: with goal "misclassify" the first
    misclassified input seen, else the one with the highest loss; with goal "loss" the one
    with the highest loss. Starts from the clean input."""

    def __init__(self, net, times, labels, loss_fn, rule, goal):
        if goal not in _GOALS:
            raise ValueError(f"goal must be one of {_GOALS}, got {goal!r}")
        losses, pred = losses_and_predictions(net, times, labels, loss_fn, rule)
        self.times = times.detach().clone()
        self.loss = losses.clone()
        self.labels = labels
        self.stop_when_fooled = goal == "misclassify"
        self.fooled = (pred != labels) & self.stop_when_fooled

    def active(self) -> torch.Tensor:
        """Indices of the samples still worth attacking."""
        return (~self.fooled).nonzero().flatten()

    def offer(self, rows, times, losses, pred) -> None:
        """Candidate inputs ``times`` of the samples ``rows``."""
        take = ~self.fooled[rows] & (losses > self.loss[rows])
        if self.stop_when_fooled:
            fooled = pred != self.labels[rows]
            take |= ~self.fooled[rows] & fooled
            self.fooled[rows] |= fooled
        self.times[rows[take]] = times[take]
        self.loss[rows[take]] = losses[take]


def _sign_ascent(net, labels, loss_fn, rule, best: _Best, start, low, high, movable, steps,
                 step_size, offer_start: bool) -> None:
    """``steps`` projected sign steps from ``start`` for the samples still active in
    ``best``, offering every iterate (the start only if ``offer_start``)."""
    rows = best.active()
    x, lo, hi, mv, y = start[rows], low[rows], high[rows], movable[rows], labels[rows]
    for step in range(steps + 1):
        if len(rows) == 0:
            return
        if step == steps:  # the last iterate needs no gradient
            best.offer(rows, x, *losses_and_predictions(net, x, y, loss_fn, rule))
            return
        losses, out, grad = input_time_gradient(net, x, y, loss_fn)
        if step > 0 or offer_start:
            best.offer(rows, x, losses, predict(out, rule))
            keep = ~best.fooled[rows]
            if not bool(keep.all()):
                rows, x, lo, hi, mv, y, grad = (v[keep] for v in (rows, x, lo, hi, mv, y, grad))
        x = torch.where(mv, torch.minimum(torch.maximum(x + step_size * grad.sign(), lo), hi), x)


def fgsm(net: nn.Module, times: torch.Tensor, labels: torch.Tensor, loss_fn: LossFn, rule: str,
         epsilon: float, window, attackable=None, goal: str = "misclassify") -> torch.Tensor:
    """One sign step of size ``epsilon`` from the clean input, projected (see the module
    docstring); per sample the clean input is kept if it is already misclassified or has the
    higher loss (``goal="loss"``: if it has the higher loss)."""
    _check_inputs(times, labels)
    low, high, movable = allowed_range(times, epsilon, window, attackable)
    best = _Best(net, times, labels, loss_fn, rule, goal)
    _sign_ascent(net, labels, loss_fn, rule, best, times.detach(), low, high, movable, 1,
                 float(epsilon), offer_start=False)
    return best.times


def _uniform_draw(low, high, movable, generator) -> torch.Tensor:
    u = torch.rand(low.shape, generator=generator, dtype=torch.float64).to(low.dtype)
    return torch.where(movable, low + u * (high - low), low)


def pgd(net: nn.Module, times: torch.Tensor, labels: torch.Tensor, loss_fn: LossFn, rule: str,
        epsilon: float, window, steps: int = 10, step_size: float | None = None,
        restarts: int = 1, random_start: bool = True, attackable=None, seed: int = 0,
        goal: str = "misclassify") -> torch.Tensor:
    """Projected gradient ascent of the loss in the epsilon ball of every movable spike
    (see the module docstring): ``steps`` sign steps of ``step_size`` (default
    2.5 epsilon / steps), from ``restarts`` uniform random starts (``seed``), or once from
    the clean input (``random_start=False``). Returns per sample the first misclassified
    iterate, else the highest-loss one (``goal="loss"``: the highest-loss one; the clean
    input counts in both)."""
    _check_inputs(times, labels)
    steps = positive_int("steps", steps)
    restarts = positive_int("restarts", restarts)
    step_size = 2.5 * float(epsilon) / steps if step_size is None else float(step_size)
    if not (math.isfinite(step_size) and step_size >= 0):
        raise ValueError(f"step_size must be a finite number >= 0, got {step_size}")
    low, high, movable = allowed_range(times, epsilon, window, attackable)
    best = _Best(net, times, labels, loss_fn, rule, goal)
    if not random_start:
        _sign_ascent(net, labels, loss_fn, rule, best, times.detach(), low, high, movable, steps,
                     step_size, offer_start=False)
        return best.times
    g = torch.Generator().manual_seed(int(seed))
    for _ in range(restarts):
        start = _uniform_draw(low, high, movable, g)
        _sign_ascent(net, labels, loss_fn, rule, best, start, low, high, movable, steps, step_size,
                     offer_start=True)
    return best.times


def random_search(net: nn.Module, times: torch.Tensor, labels: torch.Tensor, loss_fn: LossFn,
                  rule: str, epsilon: float, window, draws: int = 20, attackable=None,
                  seed: int = 0, goal: str = "misclassify") -> torch.Tensor:
    """The best of ``draws`` uniform random draws from the allowed set, chosen per sample as
    by :func:`pgd` (the clean input counts)."""
    _check_inputs(times, labels)
    draws = positive_int("draws", draws)
    low, high, movable = allowed_range(times, epsilon, window, attackable)
    best = _Best(net, times, labels, loss_fn, rule, goal)
    g = torch.Generator().manual_seed(int(seed))
    for _ in range(draws):
        x = _uniform_draw(low, high, movable, g)
        rows = best.active()
        if len(rows) == 0:
            break
        best.offer(rows, x[rows], *losses_and_predictions(net, x[rows], labels[rows], loss_fn, rule))
    return best.times


def _check_k(k) -> int:
    if isinstance(k, bool) or not isinstance(k, int) or k < 0:
        raise ValueError(f"k must be an int >= 0, got {k!r}")
    return k


def _first_layer_t_max(net: nn.Module, t_end) -> float:
    if t_end is None:
        from .layers import neuron_layers
        layers = neuron_layers(net)
        t_end = layers[0].t_max if layers else math.inf
    t_end = float(t_end)
    if not math.isfinite(t_end):
        raise ValueError("the deletion estimate needs a finite t_end (the first layer's t_max, "
                         "at which an input spike is ignored); pass t_end for this network")
    return t_end


def deletion_estimates(net: nn.Module, times: torch.Tensor, labels: torch.Tensor, loss_fn: LossFn,
                       t_end: float | None = None, attackable=None) -> torch.Tensor:
    """First-order estimate of the loss increase from deleting each spike,
    dL/dt_j (t_end - t_j) (``t_end``: default the first layer's t_max); -inf where no
    spike can be deleted. See the module docstring."""
    t_end = _first_layer_t_max(net, t_end)
    movable = _movable(times, attackable)
    _, _, grad = input_time_gradient(net, times, labels, loss_fn)
    estimate = grad * (t_end - times.detach().clamp_max(t_end))
    return torch.where(movable, estimate, torch.full_like(estimate, -math.inf))


def _delete_best(times: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
    """A copy of ``times`` without, per sample, the spike of the highest score (a sample
    whose scores are all -inf keeps its spikes)."""
    flat = scores.reshape(len(scores), -1)
    best = flat.argmax(-1)
    has = flat.gather(1, best.unsqueeze(1)).squeeze(1) > -math.inf
    out = times.detach().clone().reshape(len(times), -1)
    rows = torch.arange(len(times))[has]
    out[rows, best[has]] = math.inf
    return out.reshape(times.shape)


def delete_by_gradient(net: nn.Module, times: torch.Tensor, labels: torch.Tensor, loss_fn: LossFn,
                       k: int, t_end: float | None = None, attackable=None) -> list:
    """Inputs after 0, 1, ..., k deletions, each deleting the spike of the largest
    :func:`deletion_estimates` (recomputed after every deletion)."""
    _check_inputs(times, labels)
    k = _check_k(k)
    sequence = [times.detach().clone()]
    for _ in range(k):
        scores = deletion_estimates(net, sequence[-1], labels, loss_fn, t_end, attackable)
        sequence.append(_delete_best(sequence[-1], scores))
    return sequence


@torch.no_grad()
def exact_deletion_effects(net: nn.Module, times: torch.Tensor, labels: torch.Tensor, loss_fn: LossFn,
                           attackable=None, chunk: int = 2000) -> torch.Tensor:
    """The loss of each sample after deleting each of its spikes alone (-inf where no spike
    can be deleted): one forward pass per candidate spike, in batches of ``chunk`` inputs."""
    movable = _movable(times, attackable).reshape(len(times), -1)
    n_cand = int(movable.sum(-1).max()) if len(times) else 0
    effects = torch.full(movable.shape, -math.inf, dtype=torch.float64)
    if n_cand == 0:
        return effects.reshape(times.shape)
    cand = movable.to(torch.float32).topk(n_cand, dim=-1)  # candidates first, per sample
    rows = torch.arange(len(times)).repeat_interleave(n_cand)
    cols = cand.indices.reshape(-1)
    valid = cand.values.reshape(-1) > 0
    rows, cols = rows[valid], cols[valid]
    flat = times.detach().reshape(len(times), -1)
    for i in range(0, len(rows), chunk):
        r, c = rows[i:i + chunk], cols[i:i + chunk]
        variants = flat[r].clone()
        variants[torch.arange(len(r)), c] = math.inf
        losses = loss_fn(net(variants.reshape(len(r), *times.shape[1:])), labels[r])
        effects[r, c] = losses.to(torch.float64)
    return effects.reshape(times.shape)


def delete_by_exact_effect(net: nn.Module, times: torch.Tensor, labels: torch.Tensor, loss_fn: LossFn,
                           k: int, attackable=None) -> list:
    """Inputs after 0, 1, ..., k deletions, each deleting the spike whose deletion alone gives
    the highest loss (computed exactly, one forward pass per candidate)."""
    _check_inputs(times, labels)
    k = _check_k(k)
    sequence = [times.detach().clone()]
    for _ in range(k):
        effects = exact_deletion_effects(net, sequence[-1], labels, loss_fn, attackable)
        sequence.append(_delete_best(sequence[-1], effects))
    return sequence


def delete_at_random(times: torch.Tensor, k: int, attackable=None, seed: int = 0) -> list:
    """Inputs after 0, 1, ..., k deletions of movable spikes in a uniformly random order per
    sample (``seed``)."""
    check_spike_times(times, "times")
    k = _check_k(k)
    movable = _movable(times, attackable)
    g = torch.Generator().manual_seed(int(seed))
    keys = torch.rand(times.shape, generator=g, dtype=torch.float64)
    scores = torch.where(movable, keys, torch.full_like(keys, -math.inf))
    sequence = [times.detach().clone()]
    for _ in range(k):
        nxt = _delete_best(sequence[-1], scores)
        scores = torch.where(torch.isinf(nxt) & ~torch.isinf(sequence[-1]),
                             torch.full_like(scores, -math.inf), scores)
        sequence.append(nxt)
    return sequence
