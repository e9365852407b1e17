"""Export to and import from NIR, the Neuromorphic Intermediate Representation.

NIR (PyPI ``nir``, ``pip install "multispike[nir]"``) is the exchange format read by
snnTorch, Norse, Sinabs, Rockpool, Lava and others. A fully connected :class:`SpikingNetwork`
becomes the chain ``Input -> Linear -> CubaLIF -> Linear -> CubaLIF ... -> Output``, one
``Linear`` (the weight W, shape (out, in)) and one ``CubaLIF`` per layer. A convolutional one
becomes ``Input (C, H, W) -> (Conv2d -> CubaLIF [-> SumPool2d]) ... -> Flatten -> (Linear ->
CubaLIF) ... -> Output``: each :class:`~multispike.ConvLIF` layer is a ``Conv2d`` node and a
``CubaLIF`` node whose parameters have the layer's (C, H, W) shape, each spike pooling a
``SumPool2d`` node (:mod:`multispike.nir.nodes` gives each node and its conventions).

Equations. NIR's CubaLIF node reads, for input spike train S = W s,

    tau_syn dI/dt = -I + w_in S,        tau_mem dv/dt = (v_leak - v) + r I,

spike when v > v_threshold, then v <- v_reset. Ours (:mod:`multispike.functional`) reads

    du/dt = -u/tau + g,                 dg/dt = -g/tau_s + sum_j W_j sum_{t_j} delta(t - t_j),

with tau the layer's ``tau_mem`` (2 tau_s unless given); u drops by ``reset`` at a spike. One
input spike of weight W at t = 0 gives, in seconds, NIR's membrane

    v(t) = W r w_in a / (tau_mem - tau_syn) (exp(-t/tau_mem) - exp(-t/tau_syn))

and ours u(t) = W kappa (exp(-t/tau_mem) - exp(-t/tau_syn)), kappa = tau_mem tau_syn /
((tau_mem - tau_syn) time_unit), for any ratio tau_mem != tau_syn. They agree with

    tau_syn = tau_s * time_unit,  tau_mem = tau * time_unit,  v_leak = 0,
    v_threshold = threshold,      v_reset = threshold - reset,
    r * w_in * a * time_unit = tau_syn * tau_mem,

where ``time_unit`` is the length of one multispike time unit in seconds (NIR's time
constants are in seconds) and ``a`` is the integral of one input spike of S. The reset is
exact because the membrane equals the threshold at the moment of our (continuous-time)
spike, so "v <- v_reset" and "u -= reset" give the same membrane. A convolutional layer
follows the same equations with S the ``Conv2d`` node's output.

The factor ``a`` is where NIR's consumers disagree, and ``dt`` selects it:

* ``dt=None`` (the default, NIR's equations read literally): S is a sum of Dirac impulses,
  a = 1, and we write r = tau_mem / time_unit and w_in = tau_syn. With time_unit = 1 that
  makes I our g and r I / tau_mem our drive of u, term by term.
* ``dt`` in seconds (discrete-time consumers, such as snnTorch, that feed S as a 0/1 raster
  on a grid of step dt): one spike has integral a = dt, and we write r = tau_mem / dt and
  w_in = tau_syn / time_unit. snnTorch requires exactly r = tau_mem / dt with its fixed
  dt = 1e-4 s and folds w_in dt / tau_syn into its threshold; it resets to zero whatever
  v_reset says, which equals our reset only for reset = threshold (v_reset = 0).

The weights are written unchanged; all scaling is in r and w_in. On import the same relation
is solved for our weight of neuron n: W_ours[n] = W[n] * r_n w_in_n a time_unit /
(tau_syn tau_mem). A per-neuron threshold is absorbed the same way (row n is divided by
v_threshold[n] / threshold), so a layer may have per-neuron r, w_in and v_threshold, but one
tau_syn (the same in every layer), one tau_mem != tau_syn (imported as our 2:1 closed form
where it is 2 tau_syn up to ``rtol``) and one ratio (v_threshold - v_reset) / v_threshold. In a
convolutional layer "neuron n" is an output channel, whose kernel all its positions share:
r, w_in and v_threshold may differ between channels but not between positions.

Graph metadata written by :func:`to_nir`: ``time_unit`` (seconds), ``spike_input``
("dirac" or "step" with ``dt``), ``t_max`` (the simulation end, in seconds; inf for none) and
``max_spikes`` (the spike slots per neuron of each convolutional or fully connected layer);
:func:`from_nir` reads them back, so a round trip is exact. A graph from elsewhere carries
none of them: give ``max_spikes`` (and, if wanted, ``t_max``, ``time_unit``, ``dt``) to
:func:`from_nir`.

Spike slots have no NIR equivalent. Our layer drops a neuron's spikes beyond ``max_spikes``;
a NIR consumer lets the neuron fire as often as its membrane makes it, and passes those
spikes on. The graph computes what the trained network computes only where no neuron fills
its slots (``layer.saturated`` says where one did). A TTFS network (one slot) is the extreme
case: most of its neurons would fire again, and elsewhere it is a different network.

Import refuses what the exact simulator cannot represent, with a ValueError that names the
node: tau_mem = tau_syn, a non-zero v_leak, a non-zero bias, recurrent edges, nested
graphs, node types other than Input, Conv2d, SumPool2d, Flatten, Linear/Affine, CubaLIF and
Output (AvgPool2d among them), convolutions that are not square or have dilation or groups,
pooling that is not square, overlapping or padded, parameters that differ between the
positions of a channel, missing nodes, shape mismatches and unreadable files.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from ..architecture import Conv, Dense, format_architecture
from ..extras import require
from ..functional import positive_number
from ..layers import LIF, ConvLIF
from ..network import SpikingNetwork
from .nodes import (conv_node, cuba_lif_node, flatten_node, node_shape, read_conv, read_cuba_lif,
                        read_flatten, read_linear, read_sum_pool, sum_pool_node)

__all__ = ["to_nir", "from_nir", "read_graph", "write_graph"]

FORMAT = "multispike-nir-1"
# Relative tolerance for constants that must be equal (one tau_syn and one tau_mem per layer,
# tau_mem = 2 tau_syn read as the closed form): graphs from discrete-time libraries carry time constants rebuilt from float32 decay
# factors, off by float32 rounding.
DEFAULT_RTOL = 1e-4


def require_nir():
    """The ``nir`` package, or a :class:`multispike.extras.MissingExtra` naming its install command."""
    return require("nir", "nir", "NIR interchange")


def _spike_integral(dt) -> float:
    """``a``, the integral of one input spike: 1 for Dirac impulses, dt for a one-step pulse."""
    if dt is None:
        return 1.0
    return positive_number("dt", dt, "seconds")


# ---------------------------------------------------------------------------- export

def to_nir(net: SpikingNetwork, time_unit: float = 1.0, dt: float | None = None,
           metadata: dict | None = None):
    """The NIR graph of ``net`` (see the module docstring for the mapping).

    ``time_unit``: seconds per multispike time unit. ``dt``: None for NIR's literal reading
    (input spikes are Dirac impulses), or the step in seconds of a discrete-time consumer
    that reads input spikes as one-step pulses (snnTorch: ``dt=1e-4``). ``metadata``: extra
    graph metadata (str, number or list values).
    """
    nir = require_nir()
    if not isinstance(net, SpikingNetwork):
        raise TypeError(f"net must be a multispike SpikingNetwork, got {type(net).__name__}")
    time_unit = positive_number("time_unit", time_unit, "seconds")
    dt = None if dt is None else positive_number("dt", dt, "seconds")
    shape = tuple(net.input_shape) if net.input_shape is not None else (net.sizes[0],)
    nodes = {"input": nir.Input(input_type=np.array(shape))}
    for i, (layer, pool) in enumerate(zip(net.layers, net.pools)):
        if isinstance(layer, ConvLIF):
            nodes[f"conv{i}"], shape = conv_node(nir, layer, shape)
        elif isinstance(layer, LIF):
            if len(shape) > 1:
                nodes["flatten"], shape = flatten_node(nir, shape), (math.prod(shape),)
            nodes[f"linear{i}"] = nir.Linear(weight=layer.weight.detach().cpu().numpy().copy())
            shape = (layer.out_features,)
        else:
            raise ValueError(f"layer {i} is a {type(layer).__name__}; NIR export supports LIF and "
                             "ConvLIF layers")
        nodes[f"lif{i}"] = cuba_lif_node(nir, layer, shape, time_unit, dt)
        if pool:
            nodes[f"pool{i}"], shape = sum_pool_node(nir, pool, shape)
    nodes["output"] = nir.Output(output_type=np.array(shape))
    names = list(nodes)
    t_max = net.layers[-1].t_max
    info = {"format": FORMAT, "time_unit": time_unit,
            "spike_input": "dirac" if dt is None else "step",
            "t_max": t_max * time_unit if math.isfinite(t_max) else math.inf,
            "max_spikes": [layer.max_spikes for layer in net.layers]}
    if dt is not None:
        info["dt"] = dt
    info.update(metadata or {})
    return nir.NIRGraph(nodes=nodes, edges=list(zip(names[:-1], names[1:])), metadata=info)


def write_graph(graph, path) -> Path:
    """Write ``graph`` to the NIR (HDF5) file ``path``."""
    nir = require_nir()
    path = Path(path)
    nir.write(path, graph)
    return path


def read_graph(path):
    """Read a NIR file, with a clear error for a missing or unreadable one."""
    nir = require_nir()
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"NIR file {path} does not exist")
    try:
        return nir.read(path)
    except Exception as exc:  # h5py and nir raise many kinds for a damaged or foreign file
        raise ValueError(f"{path} is not a readable NIR file: {type(exc).__name__}: {exc}") from exc


# ---------------------------------------------------------------------------- import

def from_nir(graph, max_spikes=None, t_max: float | None = None, time_unit: float | None = None,
             dt: float | None = None, dtype=torch.float32, rtol: float = DEFAULT_RTOL) -> SpikingNetwork:
    """A :class:`SpikingNetwork` that computes what the NIR ``graph`` (or file path) says.

    The graph's metadata (written by :func:`to_nir`) supplies ``max_spikes`` (slots per
    neuron, one int or one per layer), ``t_max`` (the simulation end), ``time_unit``
    (seconds per our time unit) and ``dt`` (None: Dirac input spikes; seconds: one-step
    pulses); arguments given here override it, ``t_max`` in our time units. A graph without
    that metadata needs ``max_spikes``; ``t_max`` then defaults to inf and ``time_unit`` to 1.
    ``rtol``: relative tolerance for constants that must be equal. Raises ValueError for
    anything the exact simulator cannot represent (see the module docstring).
    """
    nir = require_nir()
    if isinstance(graph, (str, Path)):
        graph = read_graph(graph)
    if not isinstance(graph, nir.NIRGraph):
        raise TypeError(f"graph must be a nir.NIRGraph or a path to a .nir file, got {type(graph).__name__}")
    meta = graph.metadata if isinstance(graph.metadata, dict) else {}
    time_unit = positive_number("time_unit", time_unit if time_unit is not None else meta.get("time_unit", 1.0),
                                "seconds")
    if dt is None and str(meta.get("spike_input", "dirac")) == "step":
        if "dt" not in meta:
            raise ValueError("the graph's metadata says input spikes are one-step pulses but gives no dt: pass dt")
        dt = meta["dt"]
    a = _spike_integral(dt)

    input_shape, specs, layers = _read_layers(nir, graph, _chain(nir, graph), time_unit, a, rtol)
    tau_s = layers[0]["tau_s"]
    for layer in layers:
        if not math.isclose(layer["tau_s"], tau_s, rel_tol=rtol):
            raise ValueError(f"node {layer['name']!r} has tau_syn {layer['tau_s'] * time_unit} s but the first "
                             f"layer {tau_s * time_unit} s; a SpikingNetwork has one tau_s for all layers")

    if max_spikes is None:
        max_spikes = meta.get("max_spikes")
        if max_spikes is None:
            raise ValueError("the graph does not say how many spikes a neuron may fire (no multispike "
                             "metadata): pass max_spikes (spike slots per neuron, one int or one per layer; "
                             "--max-spikes on the command line)")
        max_spikes = [int(k) for k in np.atleast_1d(max_spikes)]
    if t_max is None:
        t_max = float(meta.get("t_max", math.inf)) / time_unit
    settings = dict(tau_s=tau_s, tau_mem=[layer["tau_mem"] for layer in layers],
                    thresholds=[layer["threshold"] for layer in layers],
                    resets=[layer["reset"] for layer in layers], max_spikes=max_spikes, t_max=t_max,
                    dtype=dtype)
    if any(isinstance(spec, Conv) for spec in specs):
        net = SpikingNetwork.from_architecture(format_architecture(input_shape, specs),
                                               math.prod(input_shape), **settings)
    else:
        net = SpikingNetwork([math.prod(input_shape)] + [spec.size for spec in specs], **settings)
    with torch.no_grad():
        for module, layer in zip(net.layers, layers):
            module.weight.copy_(torch.as_tensor(layer["weight"]))
    return net


def _chain(nir, graph) -> list:
    """The node names from the one Input to the one Output, checking that the graph is a
    simple feed-forward chain whose edges name existing nodes."""
    for edge in graph.edges:
        for name in edge:
            if name not in graph.nodes:
                raise ValueError(f"edge {tuple(edge)} names node {name!r}, which is missing from the graph "
                                 f"(nodes: {', '.join(graph.nodes)})")
    inputs = [k for k, v in graph.nodes.items() if isinstance(v, nir.Input)]
    outputs = [k for k, v in graph.nodes.items() if isinstance(v, nir.Output)]
    if len(inputs) != 1 or len(outputs) != 1:
        raise ValueError(f"the graph needs exactly one Input and one Output node, got inputs {inputs} "
                         f"and outputs {outputs}")
    successors = {name: [] for name in graph.nodes}
    for src, dst in graph.edges:
        successors[src].append(dst)
    chain = [inputs[0]]
    while chain[-1] != outputs[0]:
        nexts = successors[chain[-1]]
        if len(nexts) != 1:
            raise ValueError(f"node {chain[-1]!r} has {len(nexts)} outgoing edges ({nexts}); multispike "
                             "reads a feed-forward chain, one edge from each node to the next")
        if nexts[0] in chain:
            raise ValueError(f"recurrent edge {chain[-1]!r} -> {nexts[0]!r}: multispike simulates "
                             "feed-forward networks only")
        chain.append(nexts[0])
    unused = [name for name in graph.nodes if name not in chain]
    if unused:
        raise ValueError(f"nodes {unused} are not on the path from {inputs[0]!r} to {outputs[0]!r}")
    if len(graph.edges) != len(chain) - 1:
        raise ValueError("the graph has edges besides the Input -> ... -> Output chain (a recurrent "
                         "or parallel connection); multispike simulates feed-forward chains only")
    return chain


def _read_layers(nir, graph, chain, time_unit, a, rtol):
    """(input shape, architecture specs, one dict per layer with its weight and constants) of
    a chain that reads Input, (Conv2d, CubaLIF [, SumPool2d]) ..., Flatten, (Linear|Affine,
    CubaLIF) ..., Output, with matching shapes."""
    middle = chain[1:-1]
    for name in middle:
        node = graph.nodes[name]
        if isinstance(node, nir.NIRGraph):
            raise ValueError(f"node {name!r} is a nested graph (as recurrent layers are exported); "
                             "multispike reads a flat feed-forward chain")
        if isinstance(node, nir.AvgPool2d):
            raise ValueError(f"node {name!r} is an AvgPool2d, which scales spikes by 1 / kernel area; "
                             "multispike's pooling passes every spike on unchanged (SumPool2d)")
        if type(node).__name__ not in _NODE_TYPES:
            raise ValueError(f"node {name!r} has type {type(node).__name__}, which multispike cannot "
                             f"simulate; it reads {', '.join(_NODE_TYPES)} nodes")
    input_shape = shape = node_shape(graph.nodes[chain[0]].input_type, chain[0])
    specs, layers = [], []
    k = 0
    while k < len(middle):
        name, node = middle[k], graph.nodes[middle[k]]
        if isinstance(node, nir.SumPool2d):
            if not specs or not isinstance(specs[-1], Conv):
                raise ValueError(f"node {name!r}: a SumPool2d node must follow the CubaLIF node of a "
                                 "convolution (one pooling per convolutional layer)")
            spec, shape = read_sum_pool(name, node, shape)
            specs.append(spec)
            k += 1
            continue
        if isinstance(node, nir.Flatten):
            shape = read_flatten(name, node, shape)
            k += 1
            continue
        neuron_name = middle[k + 1] if k + 1 < len(middle) else None
        if not isinstance(node, (nir.Linear, nir.Affine, nir.Conv2d)) or neuron_name is None \
                or not isinstance(graph.nodes[neuron_name], nir.CubaLIF):
            after = "nothing" if neuron_name is None else \
                f"{neuron_name!r} ({type(graph.nodes[neuron_name]).__name__})"
            raise ValueError(f"expected a Conv2d or Linear/Affine node followed by a CubaLIF node, got "
                             f"{name!r} ({type(node).__name__}) then {after}")
        if isinstance(node, nir.Conv2d):
            if specs and isinstance(specs[-1], Dense):
                raise ValueError(f"node {name!r}: a convolution after a fully connected layer; "
                                 "multispike's convolutions come first")
            spec, weight, shape = read_conv(name, node, shape)
        else:
            weight = read_linear(nir, name, node, shape)
            spec, shape = Dense(weight.shape[0]), (weight.shape[0],)
        layer = read_cuba_lif(neuron_name, graph.nodes[neuron_name], shape, time_unit, a, rtol)
        scale = layer.pop("scale")
        if np.any(scale != 1.0):
            weight = weight * scale.reshape(-1, *[1] * (weight.ndim - 1))
        specs.append(spec)
        layers.append({"weight": weight, **layer})
        k += 2
    if not specs or not isinstance(specs[-1], Dense):
        raise ValueError(f"expected Input, then Conv2d + CubaLIF (+ SumPool2d) layers, a Flatten, then "
                         f"pairs of Linear/Affine and CubaLIF nodes, then Output; got "
                         f"{[type(graph.nodes[k]).__name__ for k in chain]}")
    n_out = node_shape(graph.nodes[chain[-1]].output_type, chain[-1])
    if n_out != shape:
        raise ValueError(f"output node {chain[-1]!r} has shape {n_out} but the last layer {shape}")
    return input_shape, specs, layers


# The node types of a chain that from_nir reads (besides its Input and Output).
_NODE_TYPES = ("Conv2d", "CubaLIF", "SumPool2d", "Flatten", "Linear", "Affine")
