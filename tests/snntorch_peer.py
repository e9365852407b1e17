"""snnTorch as a peer simulator of NIR graphs, for comparisons with the exact simulator.

snnTorch's ``import_from_nir`` builds ``Linear`` + ``Synaptic`` modules that advance on a fixed
grid of ``SNNTORCH_DT`` = 1e-4 s: each step, syn <- alpha syn + W s, mem <- beta mem + syn,
a spike when mem > threshold, then mem <- 0. Input spike times (in multispike time units)
become a 0/1 raster at step ``round(t / step)`` with ``step = SNNTORCH_DT / time_unit``; a
spike in step m is reported at time ``m * step``.

For convolutional graphs snnTorch's import builds ``Conv2d`` modules, maps ``SumPool2d``
through nirtorch's default (``LPPool2d`` with norm 1: the sum of the window) and hands a
``Flatten`` node's dimensions to ``torch.nn.Flatten`` unchanged, although NIR's shapes have no
batch axis (its own export subtracts one): :func:`with_batch_axis_flatten` adds it back.
"""
from __future__ import annotations

import contextlib
import io
import math

import numpy as np
import torch

SNNTORCH_DT = 1e-4  # seconds; fixed inside snntorch.import_nir


def import_into_snntorch(graph):
    """snnTorch's module for ``graph`` (its import prints notes, which are kept quiet here)."""
    from snntorch.import_nir import import_from_nir

    with contextlib.redirect_stdout(io.StringIO()):
        return import_from_nir(graph)


def to_raster(times: torch.Tensor, step: float, n_steps: int) -> torch.Tensor:
    """(n_steps, batch, neurons) 0/1 raster of spike times (batch, neurons, slots)."""
    raster = torch.zeros(n_steps, times.shape[0], times.shape[1])
    b, n, k = torch.isfinite(times).nonzero(as_tuple=True)
    idx = torch.round(times[b, n, k].double() / step).long()
    keep = idx < n_steps
    raster.index_put_((idx[keep], b[keep], n[keep]), torch.ones(int(keep.sum())), accumulate=True)
    return raster


@torch.no_grad()
def simulate(module, times: torch.Tensor, step: float, t_end: float, max_spikes, input_shape=None) -> list:
    """Every spiking layer's spike times (batch, neurons, max_spikes[i]) from snnTorch's
    ``module`` run over [0, t_end] in steps of ``step`` (multispike time units); +inf pads
    empty slots and spikes beyond max_spikes are dropped, as in multispike. ``input_shape``:
    the (C, H, W) the module reads (default: flat). A convolutional layer's neurons are
    numbered in row-major (C, H, W) order, as multispike's flat layer outputs."""
    import snntorch

    n_steps = int(math.ceil(t_end / step)) + 1
    raster = to_raster(times, step, n_steps)
    if input_shape is not None:
        raster = raster.reshape(n_steps, times.shape[0], *input_shape)
    neurons = [m for m in module.modules() if isinstance(m, snntorch.Synaptic)]
    events = [[] for _ in neurons]
    sizes = [0] * len(neurons)

    def record(i, out):
        spikes = out[0] if isinstance(out, tuple) else out
        flat = spikes.reshape(spikes.shape[0], -1)
        sizes[i] = flat.shape[1]
        events[i].append(flat.nonzero())

    hooks = [m.register_forward_hook(lambda mod, inp, out, i=i: record(i, out)) for i, m in enumerate(neurons)]
    try:
        for m in neurons:  # fresh state: snnTorch keeps it inside the modules
            m.syn, m.mem = torch.zeros(0), torch.zeros(0)
        for s in range(n_steps):
            module(raster[s])
    finally:
        for h in hooks:
            h.remove()
    return [_spike_times(e, step, times.shape[0], n, k) for e, n, k in zip(events, sizes, max_spikes)]


def with_batch_axis_flatten(module):
    """``module`` with each ``torch.nn.Flatten`` built from a NIR ``Flatten`` node shifted by
    the batch axis (NIR's dimension d is torch's d + 1)."""
    for name, m in list(module.named_modules()):
        if isinstance(m, torch.nn.Flatten) and m.start_dim >= 0:
            end = m.end_dim + 1 if m.end_dim >= 0 else m.end_dim
            setattr(module, name, torch.nn.Flatten(m.start_dim + 1, end))
    return module


def _spike_times(layer_events, step, batch, n, max_spikes):
    """Slot k of neuron (b, j) holds its k-th spike, from the per-step (b, j) lists."""
    steps = torch.cat([torch.full((len(e),), s, dtype=torch.long) for s, e in enumerate(layer_events)])
    bj = torch.cat(layer_events)
    out = torch.full((batch, n, max_spikes), math.inf, dtype=torch.float64)
    if len(steps) == 0:
        return out
    neuron = bj[:, 0] * n + bj[:, 1]
    order = torch.argsort(neuron * (steps.max() + 1) + steps)  # by neuron, then in time
    neuron, steps = neuron[order], steps[order]
    first = torch.searchsorted(neuron, neuron)  # index of each neuron's first spike
    slot = torch.arange(len(neuron)) - first
    keep = slot < max_spikes
    out.view(-1, max_spikes)[neuron[keep], slot[keep]] = steps[keep].double() * step
    return out


def with_subtractive_reset(module):
    """``module`` with each Synaptic neuron replaced by one that resets by subtracting the
    threshold (snnTorch's import always resets to zero, whatever the graph's v_reset)."""
    import snntorch

    for name, m in list(module.named_modules()):
        if isinstance(m, snntorch.Synaptic):
            setattr(module, name, snntorch.Synaptic(
                alpha=m.alpha.clone(), beta=m.beta.clone(), threshold=m.threshold.clone(),
                reset_mechanism="subtract", init_hidden=True, reset_delay=False))
    return module


def native_network(weights, thresholds, tau_s: float, step: float):
    """An snnTorch CuBa LIF network written the snnTorch way: Linear (no bias) + Synaptic
    per layer with alpha = 1 - step / tau_s, beta = 1 - step / (2 tau_s) and reset by
    subtraction, whose weights W * step make its membrane that of a multispike network with
    weights W (each input spike raises syn by W step instead of an impulse of area W)."""
    import snntorch

    modules = []
    for i, (w, threshold) in enumerate(zip(weights, thresholds)):
        n_out, n_in = w.shape
        linear = torch.nn.Linear(n_in, n_out, bias=False)
        with torch.no_grad():
            linear.weight.copy_(torch.as_tensor(w) * step)
        modules += [linear, snntorch.Synaptic(
            alpha=torch.full((n_out,), 1 - step / tau_s), beta=torch.full((n_out,), 1 - step / (2 * tau_s)),
            threshold=torch.full((n_out,), float(threshold)), init_hidden=True,
            output=i == len(weights) - 1)]
    return torch.nn.Sequential(*modules)


def native_conv_network(conv_weight, map_shape, dense_weight, thresholds, tau_s: float, step: float):
    """:func:`native_network` with a convolution first: Conv2d (no bias) + Synaptic over its
    (C, H, W) ``map_shape``, Flatten, Linear + Synaptic; weights scaled by ``step`` likewise.
    (snnTorch exports pooling only as AvgPool2d, which is not our spike pooling.)"""
    import snntorch

    conv_weight, dense_weight = torch.as_tensor(conv_weight), torch.as_tensor(dense_weight)
    conv = torch.nn.Conv2d(conv_weight.shape[1], conv_weight.shape[0], tuple(conv_weight.shape[2:]), bias=False)
    linear = torch.nn.Linear(dense_weight.shape[1], dense_weight.shape[0], bias=False)
    with torch.no_grad():
        conv.weight.copy_(conv_weight * step)
        linear.weight.copy_(dense_weight * step)

    def neurons(shape, threshold, output):
        return snntorch.Synaptic(alpha=torch.full(shape, 1 - step / tau_s), beta=torch.full(shape, 1 - step / (2 * tau_s)),
                                 threshold=torch.full(shape, float(threshold)), init_hidden=True, output=output)

    return torch.nn.Sequential(conv, neurons(tuple(map_shape), thresholds[0], False), torch.nn.Flatten(), linear,
                               neurons((dense_weight.shape[0],), thresholds[1], True))


def export_native(module, n_inputs):
    """snnTorch's own NIR export of ``module``; ``n_inputs`` is an int or the (C, H, W) input shape."""
    from snntorch.export_nir import export_to_nir

    shape = (n_inputs,) if isinstance(n_inputs, int) else tuple(n_inputs)
    with contextlib.redirect_stdout(io.StringIO()):
        return export_to_nir(module, torch.zeros(1, *shape), ignore_dims=[0])


def agreement(ours: torch.Tensor, theirs: torch.Tensor, step: float) -> dict:
    """How far two layers' spike times (batch, neurons, slots) lie apart, in steps: the share
    of neurons with equal spike counts, and over the spikes of those neurons the quantiles of
    |difference| / step and the mean of (ours - theirs) / step; first spikes separately."""
    ours, theirs = ours.double(), theirs.double()
    same = torch.isfinite(ours).sum(-1) == torch.isfinite(theirs).sum(-1)
    both = torch.isfinite(ours) & torch.isfinite(theirs) & same[..., None]
    diff = ((ours - theirs) / step)[both]
    first = ((ours - theirs)[..., 0] / step)[both[..., 0]]
    # numpy: torch.quantile refuses more than 2**24 values (a convolutional layer has more spikes)
    quant = np.quantile(diff.abs().numpy(), [0.5, 0.9, 0.99, 1.0]).tolist() if len(diff) else [math.nan] * 4
    return {"neurons": int(same.numel()), "equal_counts": float(same.double().mean()),
            "spikes_ours": int(torch.isfinite(ours).sum()), "spikes_theirs": int(torch.isfinite(theirs).sum()),
            "compared": int(len(diff)), "median": quant[0], "p90": quant[1], "p99": quant[2], "max": quant[3],
            "mean_signed": float(diff.mean()) if len(diff) else math.nan,
            "first_max": float(first.abs().max()) if len(first) else math.nan}
