"""Prediction latency: the decision a network would take from its output spikes so far.

The decision at time t uses only the output spikes strictly before t:

* ``"first_spike"`` (TTFS): the class of the earliest output spike; once made it never
  changes.
* ``"spike_count"``: the class with most spikes so far, ties broken by the earlier first
  spike (and then by the lower class index).

Both rules are :func:`multispike.losses.decide`, applied here to the spikes before t.

Before the first output spike there is no decision (-1, counted as wrong). For t later than
every output spike the decision equals :func:`multispike.losses.predict` on the full output.

Because the decision changes only at output spike times, the *decision time* of a sample is
computed exactly from its sorted output spikes: it is the time of the output spike at which
the decision took its final value, i.e. the earliest t after which the decision no longer
changes. It is +inf when the network never decides (no output spike). Spikes at the same time
are one event. For TTFS the decision time is the first output spike time; for spike counts it
is at or after it.

Data layout: output spike times (batch, classes, slots), +inf in empty slots.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .losses import RULES, decide, predict

__all__ = ["RULES", "decisions_at", "accuracy_over_time", "decision_times", "LatencySummary",
           "latency_summary", "default_time_grid"]


def _check(out_times, rule):
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
    if not isinstance(out_times, torch.Tensor) or out_times.dim() != 3:
        raise ValueError("out_times must be a (batch, classes, slots) spike-time tensor, got "
                         f"{getattr(out_times, 'shape', type(out_times).__name__)}")
    if torch.isnan(out_times).any():
        raise ValueError("out_times contains NaN; use +inf for empty spike slots")


def _chunk(batch: int, per_sample: int, budget: int = 1 << 22) -> int:
    """Samples per chunk so that a chunk's work arrays hold about ``budget`` entries."""
    return max(1, min(batch, budget // max(per_sample, 1)))


def decisions_at(out_times: torch.Tensor, t, rule: str) -> torch.Tensor:
    """Decisions (batch, len(t)) from the output spikes strictly before each time in ``t``."""
    _check(out_times, rule)
    grid = torch.as_tensor(t, dtype=torch.float64).reshape(-1).contiguous()
    times = out_times.detach().to(torch.float64).sort(-1).values  # slots in time order
    batch, n_classes, _ = times.shape
    result = torch.empty((batch, grid.numel()), dtype=torch.int64)
    first_all = times[..., 0]  # (batch, classes)
    step = _chunk(batch, n_classes * grid.numel())
    for i in range(0, batch, step):
        block = times[i:i + step].contiguous()
        # spikes of each class before each t: (b, C, T) -> (b, T, C)
        counts = torch.searchsorted(block, grid.expand(*block.shape[:2], -1).contiguous(), side="left")
        counts = counts.transpose(1, 2)
        first = first_all[i:i + step].unsqueeze(1)  # (b, 1, C)
        first = torch.where(counts > 0, first, torch.full(counts.shape, math.inf, dtype=torch.float64))
        result[i:i + step] = decide(counts, first, rule)
    return result


def accuracy_over_time(out_times: torch.Tensor, labels: torch.Tensor, t, rule: str) -> torch.Tensor:
    """Accuracy (float64, one value per time in ``t``) of the decisions made before t."""
    labels = torch.as_tensor(labels, dtype=torch.int64)
    if labels.shape != (out_times.shape[0],):
        raise ValueError(f"labels must have shape ({out_times.shape[0]},), got {tuple(labels.shape)}")
    dec = decisions_at(out_times, t, rule)
    if dec.shape[0] == 0:
        return torch.zeros(dec.shape[1], dtype=torch.float64)
    return (dec == labels.unsqueeze(1)).to(torch.float64).mean(0)


def decision_times(out_times: torch.Tensor, rule: str):
    """Exact decision time and final decision of every sample.

    Returns ``(times, decisions)``: float64 (batch,) decision times (+inf where no output
    neuron fired) and int64 (batch,) final decisions (-1 where none), which equal
    ``multispike.losses.predict(out_times, rule)``.
    """
    _check(out_times, rule)
    times = out_times.detach().to(torch.float64)
    batch, n_classes, slots = times.shape
    final = predict(times, rule)
    if batch == 0:
        return torch.zeros(0, dtype=torch.float64), final
    if rule == "first_spike":
        t_first = times.reshape(batch, -1).min(-1).values
        return t_first, final
    step = _chunk(batch, (n_classes * slots) * n_classes)
    t_dec = torch.cat([_settle_times(times[i:i + step], final[i:i + step], rule)
                       for i in range(0, batch, step)])
    return t_dec, final


def _settle_times(times: torch.Tensor, final: torch.Tensor, rule: str) -> torch.Tensor:
    """Decision times of a chunk of samples under a count rule (see :func:`decision_times`)."""
    batch, n_classes, slots = times.shape
    # all spikes of a sample in time order, with their class
    flat = times.reshape(batch, n_classes * slots)
    order = flat.argsort(dim=1, stable=True)
    sorted_t = flat.gather(1, order)
    cls = torch.div(order, slots, rounding_mode="floor")
    finite = torch.isfinite(sorted_t)
    # counts of every class after each event (batch, E, C)
    onehot = torch.nn.functional.one_hot(cls, n_classes) * finite.unsqueeze(-1)
    counts = onehot.cumsum(1)
    first = times.min(-1).values.unsqueeze(1)  # (batch, 1, C)
    first = torch.where(counts > 0, first, torch.full(counts.shape, math.inf, dtype=torch.float64))
    dec = decide(counts, first, rule)  # decision after each event (batch, E)
    # spikes at the same time are one event: every event takes the decision of the last
    # event of its group
    same_as_next = torch.zeros_like(finite)
    same_as_next[:, :-1] = (sorted_t[:, 1:] == sorted_t[:, :-1]) & finite[:, 1:]
    group_start = torch.ones_like(finite)
    group_start[:, 1:] = ~same_as_next[:, :-1]
    group_id = group_start.cumsum(1) - 1
    idx = torch.arange(sorted_t.shape[1]).expand(batch, -1)
    last_of_group = torch.zeros_like(idx).scatter_reduce(1, group_id, idx, reduce="amax")
    dec = dec.gather(1, last_of_group.gather(1, group_id))
    # the final value is held from the first event after the last disagreeing one
    differs = (dec != final.unsqueeze(1)) & finite
    n_events = finite.sum(1)
    last_diff = torch.where(differs, idx, torch.full_like(idx, -1)).max(1).values
    settle = (last_diff + 1).clamp(max=sorted_t.shape[1] - 1)
    t_dec = sorted_t.gather(1, settle.unsqueeze(1)).squeeze(1)
    return torch.where(n_events > 0, t_dec, torch.full_like(t_dec, math.inf))


@dataclass
class LatencySummary:
    """Decision-time statistics of a test set (times in the network's time units)."""

    accuracy: float
    decided_fraction: float
    mean_decision_time_correct: float
    median_decision_time_correct: float
    mean_decision_time: float
    median_decision_time: float

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def _finite_stats(values: torch.Tensor):
    values = values[torch.isfinite(values)]
    if values.numel() == 0:
        return math.nan, math.nan
    return float(values.mean()), float(values.quantile(0.5))


def latency_summary(out_times: torch.Tensor, labels: torch.Tensor, rule: str) -> LatencySummary:
    """Accuracy and mean / median decision time over correct predictions (and over all
    decided samples); NaN when there are none."""
    labels = torch.as_tensor(labels, dtype=torch.int64)
    t_dec, final = decision_times(out_times, rule)
    correct = final == labels
    n = max(len(labels), 1)
    mean_c, median_c = _finite_stats(t_dec[correct])
    mean_a, median_a = _finite_stats(t_dec)
    return LatencySummary(float(correct.sum()) / n, float((final >= 0).sum()) / n,
                          mean_c, median_c, mean_a, median_a)


def default_time_grid(out_times: torch.Tensor, n: int = 200, end: float | None = None) -> torch.Tensor:
    """``n`` evenly spaced times from 0 to ``end`` (default: just past the last output spike,
    so that the last point sees every spike)."""
    if end is None:
        finite = out_times[torch.isfinite(out_times)]
        end = float(finite.max()) if finite.numel() else 1.0
        end = end * (1 + 1e-6) + 1e-9
    return torch.linspace(0.0, float(end), n, dtype=torch.float64)
