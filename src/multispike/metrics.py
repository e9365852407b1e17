"""Activity and energy metrics of a spiking network's layer outputs.

* spikes per sample, per layer: the energy proxy of the paper;
* synaptic operations per sample: every spike costs one operation per outgoing synapse
  (its neuron's fan-out, the next layer's width; output spikes cost none);
* silent fraction: share of (sample, neuron) pairs without any spike;
* saturated fraction: share of (sample, neuron) pairs that wanted more spikes than slots;
* full-slots fraction: share of (sample, neuron) pairs that used every spike slot.

:func:`network_activity` runs any trained network over a data set and returns its output
spikes with these numbers; :func:`tradeoff_metrics` adds accuracy and prediction latency.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

__all__ = ["ActivityTotals", "accumulate_activity", "network_activity", "tradeoff_metrics"]


@dataclass
class ActivityTotals:
    """Running sums over samples of each layer's activity; call :meth:`summary` at the end."""

    n_samples: int = 0
    spikes: list = field(default_factory=list)
    silent: list = field(default_factory=list)
    saturated: list = field(default_factory=list)
    neurons: list = field(default_factory=list)
    fan_out: list = field(default_factory=list)

    def summary(self) -> dict:
        n = max(self.n_samples, 1)
        spikes = [s / n for s in self.spikes]
        synops = [s * f for s, f in zip(spikes, self.fan_out)]
        return {
            "spikes_per_sample": spikes,
            "total_spikes_per_sample": sum(spikes),
            "synops_per_sample": synops,
            "total_synops_per_sample": sum(synops),
            "silent_fraction": [s / (n * m) for s, m in zip(self.silent, self.neurons)],
            "saturated_fraction": [s / (n * m) for s, m in zip(self.saturated, self.neurons)],
        }


def accumulate_activity(totals: ActivityTotals, outputs, saturated_masks) -> None:
    """Add one batch: ``outputs`` and ``saturated_masks`` hold each layer's spike times
    (batch, neurons, slots) and saturation mask (batch, neurons)."""
    if not totals.spikes:
        n = len(outputs)
        totals.spikes = [0.0] * n
        totals.silent = [0.0] * n
        totals.saturated = [0.0] * n
        totals.neurons = [o.shape[1] for o in outputs]
        totals.fan_out = [outputs[i + 1].shape[1] if i + 1 < n else 0 for i in range(n)]
    totals.n_samples += outputs[0].shape[0]
    for i, (out, sat) in enumerate(zip(outputs, saturated_masks)):
        counts = torch.isfinite(out).sum(-1)
        totals.spikes[i] += float(counts.sum())
        totals.silent[i] += float((counts == 0).sum())
        totals.saturated[i] += float(sat.sum())


@torch.no_grad()
def network_activity(net, times: torch.Tensor, batch_size: int = 500):
    """Run ``net`` (a :class:`~multispike.network.SpikingNetwork`) over ``times`` in batches.

    Returns ``(out_times, summary)``: the last layer's spike times (N, classes, slots) and
    the :meth:`ActivityTotals.summary` of all layers, extended by ``full_slots_fraction``
    (per layer, share of (sample, neuron) pairs whose every slot holds a spike).
    """
    totals = ActivityTotals()
    full, slots, outs = None, None, []
    for i in range(0, len(times), batch_size):
        outputs = net(times[i:i + batch_size], all_layers=True)
        accumulate_activity(totals, outputs, [layer.saturated for layer in net.layers])
        if full is None:
            full = [0.0] * len(outputs)
            slots = [o.shape[-1] for o in outputs]
        for j, out in enumerate(outputs):
            full[j] += float((torch.isfinite(out).sum(-1) == slots[j]).sum())
        outs.append(outputs[-1])
    summary = totals.summary()
    n = max(totals.n_samples, 1)
    summary["full_slots_fraction"] = [f / (n * m) for f, m in zip(full or [], totals.neurons)]
    if outs:
        out_times = torch.cat(outs)
    else:
        last = net.layers[-1]
        out_times = torch.empty((0, last.out_features, last.max_spikes))
    return out_times, summary


def tradeoff_metrics(net, times: torch.Tensor, labels: torch.Tensor, rule: str,
                     batch_size: int = 500) -> dict:
    """Accuracy, energy proxies (spikes and synaptic operations per sample, per layer and in
    total), sparsity (silent, saturated and full-slots fractions) and prediction latency
    (mean / median decision time of correct predictions; see :mod:`multispike.latency`)."""
    from .latency import latency_summary

    out_times, summary = network_activity(net, times, batch_size)
    latency = latency_summary(out_times, labels, rule).as_dict()
    return {**latency, **summary}
