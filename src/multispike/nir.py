"""Export to and import from NIR, the Neuromorphic Intermediate Representation.

NIR (PyPI ``nir``, ``pip install "multispike[nir]"``) is the exchange format read by
snnTorch, Norse, Sinabs, Rockpool, Lava and others. A :class:`SpikingNetwork` becomes the
chain ``Input -> Linear -> CubaLIF -> Linear -> CubaLIF ... -> Output``, one ``Linear`` (the
weight W, shape (out, in)) and one ``CubaLIF`` per layer.

Equations. NIR's CubaLIF node reads, for input spike train S = W s,

    tau_syn dI/dt = -I + w_in S,        tau_mem dv/dt = (v_leak - v) + r I,

spike when v > v_threshold, then v <- v_reset. Ours (:mod:`multispike.functional`) reads

    du/dt = -u/tau + g,                 dg/dt = -g/tau_s + sum_j W_j sum_{t_j} delta(t - t_j),

with tau = 2 tau_s; u drops by ``reset`` at a spike. They agree with

    tau_syn = tau_s * time_unit,  tau_mem = 2 tau_syn,  v_leak = 0,
    v_threshold = threshold,      v_reset = threshold - reset,
    r * w_in * a * time_unit = tau_syn * tau_mem,

where ``time_unit`` is the length of one multispike time unit in seconds (NIR's time
constants are in seconds) and ``a`` is the integral of one input spike of S. The reset is
exact because the membrane equals the threshold at the moment of our (continuous-time)
spike, so "v <- v_reset" and "u -= reset" give the same membrane.

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
tau_syn, tau_mem = 2 tau_syn and one ratio (v_threshold - v_reset) / v_threshold.

Graph metadata written by :func:`to_nir`: ``time_unit`` (seconds), ``spike_input``
("dirac" or "step" with ``dt``), ``t_max`` (the simulation end, in seconds; inf for none) and
``max_spikes`` (the spike slots per neuron of each layer); :func:`from_nir` reads them back,
so a round trip is exact. A graph from elsewhere carries none of them: give ``max_spikes``
(and, if wanted, ``t_max``, ``time_unit``, ``dt``) to :func:`from_nir`.

Spike slots have no NIR equivalent. Our layer drops a neuron's spikes beyond ``max_spikes``;
a NIR consumer lets the neuron fire as often as its membrane makes it, and passes those
spikes on. The graph computes what the trained network computes only where no neuron fills
its slots (``layer.saturated`` says where one did). A TTFS network (one slot) is the extreme
case: most of its neurons would fire again, and elsewhere it is a different network.

Import refuses what the exact simulator cannot represent, with a ValueError that names the
node: tau_mem != 2 tau_syn, a non-zero v_leak, a non-zero bias, recurrent edges, nested
graphs, node types other than Input, Linear/Affine, CubaLIF and Output (convolution and
pooling are refused for now), missing nodes, shape mismatches and unreadable files.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from .layers import LIF
from .network import SpikingNetwork

__all__ = ["to_nir", "from_nir", "read_graph", "write_graph"]

INSTALL_HINT = 'NIR interchange needs the nir package: pip install "multispike[nir]" (or pip install nir)'
FORMAT = "multispike-nir-1"
# Relative tolerance for constants that must be equal (tau_mem = 2 tau_syn, one tau_syn per
# layer): graphs from discrete-time libraries carry time constants rebuilt from float32 decay
# factors, off by up to ~1e-5 relative.
DEFAULT_RTOL = 1e-4


def _import_nir():
    try:
        import nir as nir_package
    except ImportError as exc:
        raise ImportError(INSTALL_HINT) from exc
    return nir_package


def _spike_integral(dt) -> float:
    """``a``, the integral of one input spike: 1 for Dirac impulses, dt for a one-step pulse."""
    if dt is None:
        return 1.0
    return _positive("dt", dt)


def _positive(name, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a positive number of seconds, got {value!r}")
    value = float(value)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be finite and > 0, got {value}")
    return value


# ---------------------------------------------------------------------------- export

def to_nir(net: SpikingNetwork, time_unit: float = 1.0, dt: float | None = None,
           metadata: dict | None = None):
    """The NIR graph of ``net`` (see the module docstring for the mapping).

    ``time_unit``: seconds per multispike time unit. ``dt``: None for NIR's literal reading
    (input spikes are Dirac impulses), or the step in seconds of a discrete-time consumer
    that reads input spikes as one-step pulses (snnTorch: ``dt=1e-4``). ``metadata``: extra
    graph metadata (str, number or list values).
    """
    nir = _import_nir()
    if not isinstance(net, SpikingNetwork):
        raise TypeError(f"net must be a multispike SpikingNetwork, got {type(net).__name__}")
    time_unit = _positive("time_unit", time_unit)
    dt = None if dt is None else _positive("dt", dt)
    nodes = {"input": nir.Input(input_type=np.array([net.sizes[0]]))}
    for i, layer in enumerate(net.layers):
        exporter = _EXPORTERS.get(type(layer))
        if exporter is None:
            raise ValueError(f"layer {i} is a {type(layer).__name__}; NIR export supports "
                             f"{', '.join(c.__name__ for c in _EXPORTERS)} layers")
        nodes.update(exporter(nir, layer, f"{i}", time_unit, dt))
    nodes["output"] = nir.Output(output_type=np.array([net.sizes[-1]]))
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


def _dense_nodes(nir, layer: LIF, suffix: str, time_unit: float, dt: float | None) -> dict:
    """``Linear`` + ``CubaLIF`` nodes of one fully connected layer."""
    n = layer.out_features
    tau_syn = layer.tau_s * time_unit
    tau_mem = 2.0 * tau_syn
    # r w_in a time_unit = tau_syn tau_mem with a = 1 (Dirac) or a = dt (one-step pulses)
    r, w_in = (tau_mem / time_unit, tau_syn) if dt is None else (tau_mem / dt, tau_syn / time_unit)
    full = lambda value: np.full(n, value, dtype=np.float64)  # noqa: E731
    return {
        f"linear{suffix}": nir.Linear(weight=layer.weight.detach().cpu().numpy().copy()),
        f"lif{suffix}": nir.CubaLIF(
            tau_syn=full(tau_syn), tau_mem=full(tau_mem), r=full(r), v_leak=full(0.0),
            v_threshold=full(layer.threshold), v_reset=full(layer.threshold - layer.reset),
            w_in=full(w_in)),
    }


# The layer classes that export knows; a convolutional layer adds its entry here (Conv2d /
# SumPool2d / Flatten nodes) and a reader in _LAYER_READERS below.
_EXPORTERS = {LIF: _dense_nodes}


def write_graph(graph, path) -> Path:
    """Write ``graph`` to the NIR (HDF5) file ``path``."""
    nir = _import_nir()
    path = Path(path)
    nir.write(path, graph)
    return path


def read_graph(path):
    """Read a NIR file, with a clear error for a missing or unreadable one."""
    nir = _import_nir()
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
    nir = _import_nir()
    if isinstance(graph, (str, Path)):
        graph = read_graph(graph)
    if not isinstance(graph, nir.NIRGraph):
        raise TypeError(f"graph must be a nir.NIRGraph or a path to a .nir file, got {type(graph).__name__}")
    meta = graph.metadata if isinstance(graph.metadata, dict) else {}
    time_unit = _positive("time_unit", time_unit if time_unit is not None else meta.get("time_unit", 1.0))
    if dt is None and str(meta.get("spike_input", "dirac")) == "step":
        if "dt" not in meta:
            raise ValueError("the graph's metadata says input spikes are one-step pulses but gives no dt: pass dt")
        dt = meta["dt"]
    a = _spike_integral(dt)

    chain = _chain(nir, graph)
    layers = [_LAYER_READERS[type(neuron).__name__](nir, name, synapse, neuron, time_unit, a, rtol)
              for name, synapse, neuron in _pair_layers(nir, graph, chain)]
    tau_s = layers[0]["tau_s"]
    for layer in layers:
        if not math.isclose(layer["tau_s"], tau_s, rel_tol=rtol):
            raise ValueError(f"node {layer['name']!r} has tau_syn {layer['tau_s'] * time_unit} s but the first "
                             f"layer {tau_s * time_unit} s; a SpikingNetwork has one tau_s for all layers")
    sizes = [layers[0]["weight"].shape[1]] + [layer["weight"].shape[0] for layer in layers]

    if max_spikes is None:
        max_spikes = meta.get("max_spikes")
        if max_spikes is None:
            raise ValueError("the graph does not say how many spikes a neuron may fire (no multispike "
                             "metadata): pass max_spikes (spike slots per neuron, one int or one per layer)")
        max_spikes = [int(k) for k in np.atleast_1d(max_spikes)]
    if t_max is None:
        t_max = float(meta.get("t_max", math.inf)) / time_unit
    net = SpikingNetwork(sizes, tau_s=tau_s, thresholds=[layer["threshold"] for layer in layers],
                         resets=[layer["reset"] for layer in layers], max_spikes=max_spikes,
                         t_max=t_max, dtype=dtype)
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


def _pair_layers(nir, graph, chain):
    """(neuron node name, synapse node, neuron node) for each layer of the chain, which must
    read Input, (Linear|Affine, CubaLIF) ..., Output with matching shapes."""
    middle = chain[1:-1]
    for name in middle:
        node = graph.nodes[name]
        if type(node).__name__ in _REFUSED_FOR_NOW:
            raise ValueError(f"node {name!r} is a {type(node).__name__}: convolution and pooling are not "
                             "supported by multispike's NIR import yet")
        if isinstance(node, nir.NIRGraph):
            raise ValueError(f"node {name!r} is a nested graph (as recurrent layers are exported); "
                             "multispike reads a flat feed-forward chain")
        if not isinstance(node, (nir.Linear, nir.Affine)) and type(node).__name__ not in _LAYER_READERS:
            raise ValueError(f"node {name!r} has type {type(node).__name__}, which multispike cannot "
                             "simulate; it reads Linear or Affine nodes each followed by a CubaLIF node")
    if not middle or len(middle) % 2:
        raise ValueError(f"expected Input, then pairs of Linear/Affine and CubaLIF nodes, then Output; "
                         f"got {[type(graph.nodes[k]).__name__ for k in chain]}")
    n_in = _size(graph.nodes[chain[0]].input_type, chain[0])
    for k in range(0, len(middle), 2):
        syn_name, neuron_name = middle[k], middle[k + 1]
        synapse, neuron = graph.nodes[syn_name], graph.nodes[neuron_name]
        if not isinstance(synapse, (nir.Linear, nir.Affine)) or type(neuron).__name__ not in _LAYER_READERS:
            raise ValueError(f"expected a Linear/Affine node followed by a CubaLIF node, got {syn_name!r} "
                             f"({type(synapse).__name__}) then {neuron_name!r} ({type(neuron).__name__})")
        weight = np.asarray(synapse.weight)
        if weight.ndim != 2 or weight.shape[1] != n_in:
            raise ValueError(f"node {syn_name!r} has weight shape {weight.shape}, expected (out, {n_in}) "
                             f"to match the {n_in} neurons before it")
        n_in = weight.shape[0]
        yield neuron_name, synapse, neuron
    n_out = _size(graph.nodes[chain[-1]].output_type, chain[-1])
    if n_out != n_in:
        raise ValueError(f"output node {chain[-1]!r} has {n_out} neurons but the last layer {n_in}")


def _size(types, name) -> int:
    shape = np.asarray(next(iter(types.values())) if isinstance(types, dict) and types else types).ravel()
    if shape.size != 1:
        raise ValueError(f"node {name!r} has shape {tuple(shape)}; multispike reads flat (neurons,) layers")
    return int(shape[0])


def _read_cuba_lif(nir, name, synapse, neuron, time_unit, a, rtol) -> dict:
    """Our layer constants and weight from a Linear/Affine node and a CubaLIF node."""
    weight = np.array(synapse.weight)  # its own dtype: an unscaled weight is copied exactly
    n = weight.shape[0]
    params = {}
    for field in ("tau_syn", "tau_mem", "r", "v_leak", "v_threshold", "v_reset", "w_in"):
        value = np.broadcast_to(np.asarray(getattr(neuron, field), dtype=np.float64), (n,)) \
            if np.asarray(getattr(neuron, field)).size in (1, n) else None
        if value is None:
            raise ValueError(f"node {name!r}: {field} has shape {np.shape(getattr(neuron, field))}, "
                             f"expected ({n},) for the {n} neurons of its Linear node")
        if not np.all(np.isfinite(value)):
            raise ValueError(f"node {name!r}: {field} must be finite")
        params[field] = value
    if isinstance(synapse, nir.Affine) and np.any(np.asarray(synapse.bias) != 0):
        raise ValueError(f"the Affine node before {name!r} has a non-zero bias, a constant input current "
                         "that multispike's neurons do not have")
    tau_syn, tau_mem = params["tau_syn"], params["tau_mem"]
    if np.any(tau_syn <= 0) or not np.allclose(tau_syn, tau_syn[0], rtol=rtol, atol=0):
        raise ValueError(f"node {name!r}: tau_syn must be positive and equal for all neurons of the layer, "
                         f"got {_span(tau_syn)}")
    if not np.allclose(tau_mem, 2.0 * tau_syn, rtol=rtol, atol=0):
        raise ValueError(f"node {name!r}: tau_mem must be 2 tau_syn (the closed form of the exact "
                         f"simulator), got tau_mem {_span(tau_mem)} and tau_syn {_span(tau_syn)}")
    if np.any(params["v_leak"] != 0):
        raise ValueError(f"node {name!r}: v_leak must be 0, got {_span(params['v_leak'])}")
    v_th, reset = params["v_threshold"], params["v_threshold"] - params["v_reset"]
    if np.any(v_th <= 0) or np.any(reset <= 0):
        raise ValueError(f"node {name!r}: needs v_threshold > 0 and v_reset < v_threshold, got "
                         f"v_threshold {_span(v_th)} and v_reset {_span(params['v_reset'])}")
    threshold = float(v_th[0])
    membrane = v_th / threshold  # neuron n's membrane is divided by this to get a common threshold
    if not np.allclose(reset / membrane, reset[0], rtol=rtol, atol=0):
        raise ValueError(f"node {name!r}: (v_threshold - v_reset) / v_threshold must be the same for all "
                         "neurons of the layer")
    scale = params["r"] * params["w_in"] * a * time_unit / (tau_syn * tau_mem) / membrane
    # constants that equal ours up to rounding leave the weights as they are (exact round trip)
    scale = np.where(np.isclose(scale, 1.0, rtol=1e-12, atol=0), 1.0, scale)
    if np.any(scale != 1.0):
        weight = weight * scale[:, None]
    return {"name": name, "weight": weight,
            "tau_s": float(tau_syn[0]) / time_unit, "threshold": threshold, "reset": float(reset[0])}


def _span(values) -> str:
    lo, hi = float(np.min(values)), float(np.max(values))
    return f"{lo:g}" if lo == hi else f"{lo:g} .. {hi:g}"


# Neuron node type name -> reader of one layer; a convolutional layer adds its entry here
# and leaves _REFUSED_FOR_NOW.
_LAYER_READERS = {"CubaLIF": _read_cuba_lif}
_REFUSED_FOR_NOW = ("Conv1d", "Conv2d", "SumPool2d", "AvgPool2d", "Flatten")
