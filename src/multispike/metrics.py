"""Activity and energy metrics of a spiking network's layer outputs.

* spikes per sample, per layer: the energy proxy of the paper;
* synaptic operations per sample: every spike costs one operation per outgoing synapse
  (its neuron's fan-out, the next layer's width; output spikes cost none);
* silent fraction: share of (sample, neuron) pairs without any spike;
* saturated fraction: share of (sample, neuron) pairs that wanted more spikes than slots.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

__all__ = ["ActivityTotals", "accumulate_activity"]


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
