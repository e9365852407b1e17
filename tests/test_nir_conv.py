"""NIR interchange of convolutional networks: Conv2d + CubaLIF per convolution, SumPool2d per
spike pooling, one Flatten before the fully connected layers. Round trips on real MNIST
images, the flattening order, refusals of what the exact simulator cannot represent, the
command line, and snnTorch's simulation of an exported convolutional graph."""
from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest
import torch

nir = pytest.importorskip("nir")
pytestmark = pytest.mark.filterwarnings("ignore:nirtorch.extract_nir_graph is being deprecated:DeprecationWarning")

from multispike.cli import main  # noqa: E402
from multispike.encoding import encode_images  # noqa: E402
from multispike.functional import lif, spike_pool2d  # noqa: E402
from multispike.network import SpikingNetwork  # noqa: E402
from multispike.nir import from_nir, read_graph, to_nir, write_graph  # noqa: E402
import snntorch_peer  # noqa: E402

SPEC = "4c5-p2-6c5-p2-20-10"  # 1x28x28 -> 4x24x24 -> 4x12x12 -> 6x8x8 -> 6x4x4 -> 96 -> 20 -> 10


@pytest.fixture(scope="module")
def mnist_images(mnist_data_dir):
    """The first 100 real MNIST test images (uint8) and labels."""
    from multispike.data import load_image_dataset

    data = load_image_dataset("mnist", mnist_data_dir)
    return data.x_test[:100], data.y_test[:100]


def conv_network(spec=SPEC, seed=0, dtype=torch.float64, thresholds=(0.1, 0.2, 0.1, 0.1),
                 max_spikes=(3, 6, 10, 20)):
    torch.manual_seed(seed)
    return SpikingNetwork.from_architecture(spec, 784, tau_s=0.13, thresholds=list(thresholds),
                                            max_spikes=list(max_spikes), t_max=0.3, dtype=dtype)


def node_types(graph):
    return [type(node).__name__ for node in graph.nodes.values()]


# ---------------------------------------------------------------------------- export

def test_export_writes_conv_pool_and_flatten_nodes():
    net = conv_network()
    graph = to_nir(net, time_unit=0.5)
    assert node_types(graph) == ["Input", "Conv2d", "CubaLIF", "SumPool2d", "Conv2d", "CubaLIF", "SumPool2d",
                                 "Flatten", "Linear", "CubaLIF", "Linear", "CubaLIF", "Output"]
    assert list(graph.nodes["input"].input_type["input"]) == [1, 28, 28]
    conv = graph.nodes["conv1"]
    assert np.array_equal(conv.weight, net.layers[1].weight.detach().numpy()) and conv.weight.shape == (6, 4, 5, 5)
    assert list(conv.stride) == [1, 1] and list(conv.padding) == [0, 0] and list(conv.dilation) == [1, 1]
    assert conv.groups == 1 and not np.any(conv.bias) and tuple(conv.input_shape) == (12, 12)
    lif0 = graph.nodes["lif0"]
    for field in ("tau_syn", "tau_mem", "r", "v_leak", "v_threshold", "v_reset", "w_in"):
        assert getattr(lif0, field).shape == (4, 24, 24)
    # the dense mapping's constants: r = tau_mem / time_unit, w_in = tau_syn
    assert np.allclose(lif0.tau_syn, 0.065) and np.allclose(lif0.tau_mem, 0.13)
    assert np.allclose(lif0.r, 0.26) and np.allclose(lif0.w_in, 0.065)
    assert np.allclose(lif0.v_threshold, 0.1) and np.all(lif0.v_reset == 0) and np.all(lif0.v_leak == 0)
    pool = graph.nodes["pool1"]
    assert list(pool.kernel_size) == [2, 2] and list(pool.stride) == [2, 2] and list(pool.padding) == [0, 0]
    flatten = graph.nodes["flatten"]
    assert (flatten.start_dim, flatten.end_dim) == (0, -1)
    assert list(flatten.input_type["input"]) == [6, 4, 4] and list(flatten.output_type["output"]) == [96]
    assert graph.metadata["max_spikes"] == [3, 6, 10, 20] and graph.metadata["t_max"] == pytest.approx(0.15)


def test_flatten_order_is_nirs_row_major_channel_height_width(mnist_images):
    """NIR's Flatten(start_dim=0, end_dim=-1) of a (C, H, W) map is the row-major flatten of
    those three axes (torch.flatten of axes 1..3 with the batch axis in front, what NIR's
    torch-based consumers run). The first dense layer of our network sees exactly that order;
    a (H, W, C) order, which a wrong convention would give, sees other inputs."""
    net = conv_network()
    x = encode_images(mnist_images[0][:20], 0.1, torch.float64)
    with torch.no_grad():
        outputs = net(x, all_layers=True)
        maps = outputs[1].reshape(len(x), 6, 8, 8, -1)
        pooled = spike_pool2d(maps, 2)  # (batch, 6, 4, 4, slots)
        graph = to_nir(net)
        flatten = graph.nodes["flatten"]
        assert tuple(flatten.input_type["input"]) == tuple(pooled.shape[1:4])
        nir_order = torch.flatten(pooled, 1 + flatten.start_dim, 3 if flatten.end_dim == -1 else 1 + flatten.end_dim)
        dense = net.layers[2]
        reference = lif(nir_order, dense.weight, dense.tau_s, dense.threshold, dense.reset, dense.max_spikes,
                        dense.t_max)
        other_order = pooled.permute(0, 2, 3, 1, 4).reshape(len(x), 96, -1)
        wrong = lif(other_order, dense.weight, dense.tau_s, dense.threshold, dense.reset, dense.max_spikes,
                    dense.t_max)
    assert torch.equal(outputs[2], reference)
    assert torch.isfinite(reference).sum() > 100 and not torch.equal(outputs[2], wrong)


# ---------------------------------------------------------------------------- round trips

@pytest.mark.parametrize("spec", [SPEC, "4c5p1-p2-6c3s2-20-10"])
def test_round_trip_through_a_file_is_identical_on_mnist(spec, mnist_images, tmp_path):
    x = encode_images(mnist_images[0], 0.1, torch.float64)
    net = conv_network(spec)
    path = write_graph(to_nir(net), tmp_path / "conv.nir")
    assert node_types(read_graph(path)).count("Conv2d") == 2
    back = from_nir(path, dtype=torch.float64)
    assert back.input_shape == (1, 28, 28) and back.pools == net.pools and back.architecture == net.architecture
    for a, b in zip(net.layers, back.layers):
        assert type(a) is type(b) and torch.equal(a.weight, b.weight)
        assert (a.tau_s, a.threshold, a.reset, a.max_spikes, a.t_max) == \
               (b.tau_s, b.threshold, b.reset, b.max_spikes, b.t_max)
        if hasattr(a, "stride"):
            assert (a.stride, a.padding, a.kernel_size) == (b.stride, b.padding, b.kernel_size)
    with torch.no_grad():
        ours, theirs = net(x, all_layers=True), back(x, all_layers=True)
    assert all(torch.equal(a, b) for a, b in zip(ours, theirs))
    assert all(torch.isfinite(o).sum() > 100 for o in ours)  # every layer's comparison covers many spikes


def test_round_trip_with_time_unit_clock_and_reset():
    """Constants scaled to seconds and a step clock, and a reset other than the threshold,
    come back to the same layers (up to rounding of the scaled constants)."""
    torch.manual_seed(1)
    net = SpikingNetwork.from_architecture("1x12x12-3c3-p2-5-4", 144, tau_s=0.2, thresholds=[0.3, 0.5, 0.5],
                                           resets=[0.2, 0.5, 0.4], max_spikes=[2, 3, 4], dtype=torch.float64)
    back = from_nir(to_nir(net, time_unit=1e-3, dt=1e-4), dtype=torch.float64)
    for a, b in zip(net.layers, back.layers):
        assert torch.allclose(a.weight, b.weight, rtol=1e-12, atol=0)
        assert b.tau_s == pytest.approx(a.tau_s) and b.reset == pytest.approx(a.reset)
        assert b.threshold == a.threshold and b.t_max == a.t_max


def test_per_channel_constants_fold_into_the_kernels():
    """A channel whose v_threshold and r are both doubled computes the same spikes."""
    net = conv_network()
    graph = to_nir(net)
    lif0 = graph.nodes["lif0"]
    lif0.v_threshold, lif0.r, lif0.v_reset = lif0.v_threshold.copy(), lif0.r.copy(), lif0.v_reset.copy()
    lif0.v_threshold[2] *= 2.0
    lif0.r[2] *= 2.0
    back = from_nir(graph, dtype=torch.float64)
    assert torch.allclose(back.layers[0].weight, net.layers[0].weight, rtol=1e-12, atol=0)
    lif0.r[2] *= 3.0
    scaled = from_nir(graph, dtype=torch.float64).layers[0].weight
    assert torch.allclose(scaled[2], 3.0 * net.layers[0].weight[2]) and torch.equal(scaled[1], net.layers[0].weight[1])


# ---------------------------------------------------------------------------- refusals

def _set(node, **fields):
    for key, value in fields.items():
        setattr(node, key, value)


def _replace(graph, name, node):
    graph.nodes[name] = node


def _small_conv():
    return SpikingNetwork.from_architecture("1x8x8-2c3-p2-3", 64, tau_s=0.1, thresholds=[0.5, 0.5],
                                            max_spikes=[2, 2], dtype=torch.float64)


def _swap_edges(graph, order):
    graph.edges = list(zip(order[:-1], order[1:]))


REFUSALS = [
    (lambda g: _set(g.nodes["pool0"], kernel_size=np.array([2, 1])), r"kernel_size \(2, 1\) differs"),
    (lambda g: _set(g.nodes["pool0"], stride=np.array([1, 1])), r"stride \(1, 1\) differs from the kernel"),
    (lambda g: _set(g.nodes["pool0"], padding=np.array([1, 1])), "pooling padding"),
    (lambda g: _set(g.nodes["conv0"], dilation=np.array([2, 2])), "dilation"),
    (lambda g: _set(g.nodes["conv0"], groups=2), "groups = 2"),
    (lambda g: _set(g.nodes["conv0"], bias=np.array([0.0, 0.1])), "non-zero bias"),
    (lambda g: _set(g.nodes["conv0"], weight=np.ones((2, 1, 3, 2))), r"kernel \(3, 2\) differs"),
    (lambda g: _set(g.nodes["conv0"], stride=np.array([1, 2])), r"stride \(1, 2\) differs"),
    (lambda g: _set(g.nodes["conv0"], padding=np.array([1, 0])), r"padding \(1, 0\) differs"),
    (lambda g: _set(g.nodes["conv0"], padding="same", stride=np.array([2, 2])), "padding 'same'"),
    (lambda g: _set(g.nodes["conv0"], weight=np.ones((2, 3, 3, 3))), r"weight shape \(2, 3, 3, 3\)"),
    (lambda g: _set(g.nodes["conv0"], input_shape=(9, 9)), r"says its input is \(9, 9\)"),
    (lambda g: _replace(g, "pool0", nir.AvgPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]),
                                                  padding=np.array([0, 0]))), "AvgPool2d"),
    (lambda g: g.nodes["lif0"].v_threshold.__setitem__((1, 2, 3), 0.7), "differs between the positions"),
    (lambda g: _set(g.nodes["lif0"], v_threshold=np.full((2, 5, 5), 0.5)), r"expected \(2, 6, 6\)"),
    (lambda g: _set(g.nodes["flatten"], start_dim=1), "flattens dimensions 1..-1"),
    (lambda g: _set(g.nodes["flatten"], input_type={"input": np.array([2, 9, 2])}), r"says its input is \(2, 9, 2\)"),
    (lambda g: _swap_edges(g, ["input", "conv0", "lif0", "pool0", "linear1", "lif1", "output"]),
     "nodes \\['flatten'\\] are not on the path"),
    (lambda g: (g.nodes.pop("flatten"), _swap_edges(g, ["input", "conv0", "lif0", "pool0", "linear1", "lif1",
                                                        "output"])), "a Flatten node must come before"),
    (lambda g: _set(g.nodes["pool0"], kernel_size=np.array([4, 4]), stride=np.array([4, 4])),
     "6x6 map cannot be pooled in 4x4 windows"),
    (lambda g: (g.nodes.update(pool9=nir.SumPool2d(kernel_size=np.array([1, 1]), stride=np.array([1, 1]),
                                                   padding=np.array([0, 0]))),
                _swap_edges(g, ["input", "conv0", "lif0", "pool0", "pool9", "flatten", "linear1", "lif1", "output"])),
     "must follow the CubaLIF node of a convolution"),
    (lambda g: _set(g.nodes["linear1"], weight=np.ones((3, 20))), r"weight shape \(3, 20\), expected \(out, 18\)"),
]


@pytest.mark.parametrize("change, message", REFUSALS)
def test_import_refuses_what_it_cannot_represent(change, message):
    graph = to_nir(_small_conv())
    change(graph)
    with pytest.raises(ValueError, match=message):
        from_nir(graph)


def test_the_unchanged_refusal_graph_imports():
    """The graph the refusal tests change is accepted as it is (they fail for their reason)."""
    net = from_nir(to_nir(_small_conv()))
    assert net.architecture == "2c3-p2-3" and net.input_shape == (1, 8, 8)


def test_convolution_after_a_dense_layer_is_refused():
    conv = nir.Conv2d(input_shape=None, weight=np.ones((1, 1, 1, 1)), stride=1, padding=0, dilation=1, groups=1,
                      bias=np.zeros(1))
    lif = to_nir(_small_conv()).nodes["lif1"]
    nodes = {"input": nir.Input(input_type=np.array([1, 4, 4])), "flatten": nir.Flatten(np.array([1, 4, 4]), 0, -1),
             "linear": nir.Linear(weight=np.ones((3, 16))), "lif": lif, "conv": conv,
             "lif2": to_nir(_small_conv()).nodes["lif1"], "output": nir.Output(output_type=np.array([3]))}
    names = list(nodes)
    graph = nir.NIRGraph(nodes=nodes, edges=list(zip(names[:-1], names[1:])), type_check=False,
                         metadata={"max_spikes": [1, 1]})
    with pytest.raises(ValueError, match="convolution after a fully connected layer"):
        from_nir(graph)


# ---------------------------------------------------------------------------- command line

def test_cli_export_then_import_of_a_conv_checkpoint(mnist_data_dir, tmp_path):
    run = tmp_path / "run"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["train", "--preset", "mnist-conv", "--architecture", SPEC, "--thresholds", "0.1,0.2,0.1,0.1",
                     "--data-dir", str(mnist_data_dir), "--epochs", "1", "--train-size", "200",
                     "--test-size", "100", "--out", str(run), "--no-progress", "--threads", "1"]) == 0
        assert main(["evaluate", str(run / "last.pt"), "--json"]) == 0
        assert main(["export", str(run / "last.pt"), str(tmp_path / "conv.nir")]) == 0
        assert main(["import", str(tmp_path / "conv.nir"), "--json"]) == 0
    lines = out.getvalue().strip().splitlines()
    assert "Conv2d, Conv2d, Linear, Linear" in lines[-2]
    imported, evaluated = json.loads(lines[-1]), json.loads(lines[-3])
    assert imported.pop("file") == str(tmp_path / "conv.nir")
    assert evaluated.pop("checkpoint") == str(run / "last.pt")
    assert imported == evaluated and all(s > 0 for s in evaluated["spikes_per_sample"])


# ---------------------------------------------------------------------------- snnTorch

def test_snntorch_simulates_our_conv_graph_to_its_step(mnist_images):
    """snnTorch's import of a convolutional graph (Conv2d, SumPool2d as nirtorch's sum pool,
    Flatten shifted by the batch axis: see tests/snntorch_peer.py) simulated on its clock:
    every layer's spike times agree with the exact ones to a few of its steps."""
    pytest.importorskip("snntorch")
    pytest.importorskip("nirtorch")
    peer = snntorch_peer
    time_unit = 0.1
    step = peer.SNNTORCH_DT / time_unit  # 1e-3 of our time units, tau_s / 130
    x = encode_images(mnist_images[0][:20], 0.1)
    x = (torch.round(x.double() / step) * step).float()  # both simulators see grid-aligned inputs
    slots = [20, 40, 40]
    net = conv_network("4c5-p2-20-10", dtype=torch.float32, thresholds=(0.1, 0.4, 0.3), max_spikes=slots)
    with torch.no_grad():
        ours = net(x, all_layers=True)
    assert [layer.n_saturated for layer in net.layers] == [0, 0, 0]
    graph = to_nir(net, time_unit=time_unit, dt=peer.SNNTORCH_DT)
    module = peer.with_subtractive_reset(peer.with_batch_axis_flatten(peer.import_into_snntorch(graph)))
    theirs = peer.simulate(module, x, step, 0.3, slots, input_shape=(1, 28, 28))
    for a, b in zip(ours, theirs):
        s = peer.agreement(a, b, step)
        assert s["equal_counts"] >= 0.9 and s["compared"] > 100, s
        assert s["median"] <= 3.5 and s["p90"] <= 12 and abs(s["mean_signed"]) <= 4, s


def test_snntorch_export_of_a_conv_network_imports_and_agrees_with_its_simulation(mnist_images, tmp_path):
    """snnTorch's own export of a CuBa LIF network with a convolution (Conv2d, CubaLIF of its
    (C, H, W) map, Flatten with NIR's start_dim 0, Linear, CubaLIF; no pooling: snnTorch
    exports only AvgPool2d) reads into a convolutional network with the reference weights,
    and its exact spike times agree with snnTorch's own simulation to a few of its steps."""
    pytest.importorskip("snntorch")
    pytest.importorskip("nirtorch")
    peer = snntorch_peer
    time_unit = 0.1
    step = peer.SNNTORCH_DT / time_unit
    x = encode_images(mnist_images[0][:20], 0.1)
    x = (torch.round(x.double() / step) * step).float()
    reference = conv_network("4c5-10", dtype=torch.float32, thresholds=(0.1, 0.3), max_spikes=(20, 40))
    native = peer.native_conv_network(reference.layers[0].weight, (4, 24, 24), reference.layers[1].weight,
                                      [0.1, 0.3], 0.13, step)
    path = write_graph(peer.export_native(native, (1, 28, 28)), tmp_path / "snntorch_conv.nir")
    net = from_nir(path, max_spikes=[20, 40], t_max=0.3, time_unit=time_unit, dt=peer.SNNTORCH_DT)
    assert net.architecture == "4c5-10" and net.input_shape == (1, 28, 28)
    assert net.layers[0].tau_s == pytest.approx(0.13, rel=1e-4)
    for a, b in zip(net.layers, reference.layers):
        assert torch.allclose(a.weight, b.weight, rtol=1e-5, atol=1e-6)
    with torch.no_grad():
        ours = net(x, all_layers=True)
    assert [layer.n_saturated for layer in net.layers] == [0, 0]
    theirs = peer.simulate(native, x, step, 0.3, [20, 40], input_shape=(1, 28, 28))
    for a, b in zip(ours, theirs):
        s = peer.agreement(a, b, step)
        assert s["equal_counts"] >= 0.9 and s["compared"] > 100, s
        assert s["median"] <= 3.5 and s["p90"] <= 12 and abs(s["mean_signed"]) <= 4, s
