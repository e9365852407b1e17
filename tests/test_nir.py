"""NIR interchange: round trips, refusals of what the exact simulator cannot represent, and
agreement with snnTorch (its import of our graphs, and our import of its own export).

snnTorch simulates on a clock (tests/snntorch_peer.py), so its spike times can only agree
with the exact ones to about its step; both simulators get the same grid-rounded inputs.
"""
from __future__ import annotations

import contextlib
import io
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

nir = pytest.importorskip("nir")
pytestmark = pytest.mark.filterwarnings("ignore:nirtorch.extract_nir_graph is being deprecated:DeprecationWarning")

from multispike.cli import main  # noqa: E402
from multispike.encoding import encode_yinyang  # noqa: E402
from multispike.network import SpikingNetwork  # noqa: E402
from multispike.nir import from_nir, read_graph, to_nir, write_graph  # noqa: E402
import snntorch_peer  # noqa: E402


def yinyang_inputs(shared_datasets, n):
    """The first ``n`` Yin-Yang publication test samples, encoded (skips without the data)."""
    from multispike.data import load_yinyang

    folder = shared_datasets / "yin_yang"
    if not (folder / "test_samples.npy").is_file():
        pytest.skip(f"Yin-Yang publication data not found in {folder}")
    samples, labels = load_yinyang(str(folder), "test")
    return encode_yinyang(samples[:n]), torch.as_tensor(labels[:n])


def small_network(seed=0, dtype=torch.float32, resets=None, max_spikes=(10, 30), tau_mem=None):
    """A 5-20-3 multi-spike network like the Yin-Yang preset's (hidden layer fires bursts)."""
    torch.manual_seed(seed)
    return SpikingNetwork([5, 20, 3], tau_s=0.35, thresholds=[1.0, 1.0], resets=resets, max_spikes=list(max_spikes),
                          t_max=4.0, inits=[("normal", 0.7, 5.7), ("normal", 0.5, 0.5)], dtype=dtype,
                          tau_mem=tau_mem)


def dense_graph(lif=None, weight=None, edges=None, extra_nodes=None, affine_bias=None):
    """A one-layer 2 -> 3 graph for the refusal tests, with one part replaced."""
    n = 3
    params = dict(tau_syn=np.full(n, 0.1), tau_mem=np.full(n, 0.2), r=np.full(n, 0.2),
                  v_leak=np.zeros(n), v_threshold=np.ones(n), v_reset=np.zeros(n), w_in=np.full(n, 0.1))
    params.update(lif or {})
    weight = np.ones((n, 2), np.float32) if weight is None else weight
    synapse = nir.Affine(weight=weight, bias=affine_bias) if affine_bias is not None else nir.Linear(weight=weight)
    nodes = {"input": nir.Input(input_type=np.array([2])), "linear": synapse,
             "lif": nir.CubaLIF(**params), "output": nir.Output(output_type=np.array([n]))}
    nodes.update(extra_nodes or {})
    edges = edges or [("input", "linear"), ("linear", "lif"), ("lif", "output")]
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"max_spikes": [2]}, type_check=False)


# ---------------------------------------------------------------------------- round trips

def test_round_trip_through_a_file_is_identical_on_yinyang(shared_datasets, tmp_path):
    x, _ = yinyang_inputs(shared_datasets, 200)
    net = small_network()
    path = write_graph(to_nir(net), tmp_path / "net.nir")
    back = from_nir(path)
    for a, b in zip(net.layers, back.layers):
        assert torch.equal(a.weight, b.weight)
        assert (a.tau_s, a.threshold, a.reset, a.max_spikes, a.t_max) == \
               (b.tau_s, b.threshold, b.reset, b.max_spikes, b.t_max)
    with torch.no_grad():
        ours, theirs = net(x, all_layers=True), back(x, all_layers=True)
    assert all(torch.equal(a, b) for a, b in zip(ours, theirs))
    assert torch.isfinite(ours[-1]).sum() > 100  # the comparison covers many spikes


@pytest.mark.parametrize("time_unit, dt", [(1e-3, None), (0.1, 1e-4), (2.0, 0.5)])
def test_round_trip_with_time_unit_and_clock(time_unit, dt, shared_datasets):
    x, _ = yinyang_inputs(shared_datasets, 50)
    net = small_network(dtype=torch.float64, resets=[1.0, 0.6])  # a reset other than the threshold
    graph = to_nir(net, time_unit=time_unit, dt=dt)
    assert graph.metadata["time_unit"] == time_unit and graph.metadata["t_max"] == pytest.approx(4.0 * time_unit)
    lif = graph.nodes["lif1"]
    assert np.allclose(lif.tau_syn, 0.35 * time_unit) and np.allclose(lif.tau_mem, 0.7 * time_unit)
    assert np.allclose(lif.v_reset, 0.4) and np.all(lif.v_leak == 0)
    back = from_nir(graph, dtype=torch.float64)
    assert back.layers[1].reset == pytest.approx(0.6)
    with torch.no_grad():
        for a, b in zip(net(x.double(), all_layers=True), back(x.double(), all_layers=True)):
            assert torch.equal(torch.isfinite(a), torch.isfinite(b))
            assert torch.allclose(a[torch.isfinite(a)], b[torch.isfinite(b)], rtol=1e-9, atol=0)


def test_round_trip_at_a_ratio_of_three_is_identical_on_yinyang(shared_datasets, tmp_path):
    x, _ = yinyang_inputs(shared_datasets, 200)
    net = small_network(tau_mem=3 * 0.35)
    graph = to_nir(net)
    assert all(np.allclose(graph.nodes[f"lif{i}"].tau_mem, 3 * 0.35) for i in (0, 1))
    back = from_nir(write_graph(graph, tmp_path / "net.nir"))
    for a, b in zip(net.layers, back.layers):
        assert torch.equal(a.weight, b.weight)
        assert (a.tau_s, a.tau_mem, a.threshold, a.reset, a.max_spikes, a.t_max) == \
               (b.tau_s, b.tau_mem, b.threshold, b.reset, b.max_spikes, b.t_max)
    with torch.no_grad():
        ours, theirs = net(x, all_layers=True), back(x, all_layers=True)
    assert all(torch.equal(a, b) for a, b in zip(ours, theirs))
    assert torch.isfinite(ours[-1]).sum() > 100
    with torch.no_grad():  # and the ratio matters: the 2:1 network fires differently
        assert not torch.equal(small_network()(x), ours[-1])


@pytest.mark.parametrize("tau_mem", [[0.35 * 3, 0.35 * 0.5], [0.35 * 10, None]])
@pytest.mark.parametrize("time_unit, dt", [(1e-3, None), (0.1, 1e-4)])
def test_round_trip_at_other_ratios_with_time_unit_and_clock(time_unit, dt, tau_mem, shared_datasets):
    x, _ = yinyang_inputs(shared_datasets, 50)
    net = small_network(dtype=torch.float64, resets=[1.0, 0.6], tau_mem=tau_mem)
    graph = to_nir(net, time_unit=time_unit, dt=dt)
    for i, layer in enumerate(net.layers):
        assert np.allclose(graph.nodes[f"lif{i}"].tau_mem, layer.tau_mem * time_unit)
    back = from_nir(graph, dtype=torch.float64)
    for a, b in zip(net.layers, back.layers):
        assert b.tau_mem == pytest.approx(a.tau_mem, rel=1e-12)
    assert back.layers[1].tau_mem == (2 * back.layers[1].tau_s if tau_mem[1] is None else
                                      pytest.approx(tau_mem[1]))
    with torch.no_grad():
        for a, b in zip(net(x.double(), all_layers=True), back(x.double(), all_layers=True)):
            assert torch.equal(torch.isfinite(a), torch.isfinite(b))
            assert torch.allclose(a[torch.isfinite(a)], b[torch.isfinite(b)], rtol=1e-9, atol=0)


def test_a_foreign_cuba_lif_of_any_ratio_imports():
    """tau_mem 0.3 s and tau_syn 0.1 s (ratio 3), and 2:1 up to rounding as the closed form."""
    net = from_nir(dense_graph(lif={"tau_mem": np.full(3, 0.3), "r": np.full(3, 0.3)}))
    assert net.layers[0].tau_s == pytest.approx(0.1) and net.layers[0].tau_mem == pytest.approx(0.3)
    assert torch.allclose(net.layers[0].weight, torch.ones(3, 2))  # r w_in = tau_syn tau_mem
    net = from_nir(dense_graph(lif={"tau_mem": np.full(3, 0.2 * (1 + 1e-6))}))
    assert net.layers[0].params.tau_mem == 2 * net.layers[0].tau_s
    x = torch.tensor([[[0.0], [0.05]]])
    with torch.no_grad():  # one input spike of weight 1 at t = 0 and one at 0.05 (a slow membrane)
        net = from_nir(dense_graph(lif={"tau_mem": np.full(3, 0.3), "r": np.full(3, 0.3),
                                        "v_threshold": np.full(3, 0.05)}))
        assert torch.isfinite(net(x)).any()


def test_literal_mapping_of_the_constants():
    """Dirac input spikes: r = tau_mem / time_unit and w_in = tau_syn (I is our g)."""
    graph = to_nir(small_network(), time_unit=0.5)
    lif = graph.nodes["lif0"]
    assert np.allclose(lif.r, 0.7 * 0.5 / 0.5) and np.allclose(lif.w_in, 0.35 * 0.5)
    assert np.allclose(lif.v_threshold, 1.0) and np.allclose(lif.v_reset, 0.0)
    assert graph.metadata["max_spikes"] == [10, 30] and graph.metadata["spike_input"] == "dirac"
    assert [type(graph.nodes[k]).__name__ for k in graph.nodes] == \
           ["Input", "Linear", "CubaLIF", "Linear", "CubaLIF", "Output"]


def test_per_neuron_threshold_and_resistance_are_folded_into_the_weights():
    """A neuron whose v_threshold and r are both doubled computes the same spikes."""
    net = small_network(dtype=torch.float64)
    graph = to_nir(net)
    lif = graph.nodes["lif0"]
    lif.v_threshold = lif.v_threshold.copy()
    lif.r, lif.v_reset = lif.r.copy(), lif.v_reset.copy()
    lif.v_threshold[3] *= 2.0
    lif.r[3] *= 2.0
    back = from_nir(graph, dtype=torch.float64)
    assert torch.allclose(back.layers[0].weight, net.layers[0].weight, rtol=1e-12, atol=0)


def test_import_and_nir_package_can_both_be_imported():
    import multispike.nir as ours
    import nir as package

    assert package.__name__ == "nir" and hasattr(package, "CubaLIF")
    assert ours.__name__ == "multispike.nir"


def test_missing_extra_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "nir", None)  # makes `import nir` raise ImportError
    with pytest.raises(ImportError, match=r'pip install "multispike\[nir\]"'):
        to_nir(small_network())


# ---------------------------------------------------------------------------- refusals

@pytest.mark.parametrize("change, message", [
    (dict(lif={"tau_mem": np.full(3, 0.1)}), "tau_mem = tau_syn"),
    (dict(lif={"tau_mem": np.array([0.3, 0.3, 0.4])}), "tau_mem must be positive and equal for all neurons"),
    (dict(lif={"v_leak": np.full(3, 0.1)}), "v_leak must be 0"),
    (dict(lif={"tau_syn": np.array([0.1, 0.1, 0.2]), "tau_mem": np.array([0.2, 0.2, 0.4])}), "equal for all neurons"),
    (dict(lif={"v_reset": np.full(3, 1.5)}), "v_reset < v_threshold"),
    (dict(lif={"v_reset": np.array([0.0, 0.0, 0.5])}), r"\(v_threshold - v_reset\) / v_threshold"),
    (dict(affine_bias=np.full(3, 0.5, np.float32)), "non-zero bias"),
    (dict(weight=np.ones((3, 4), np.float32)), r"weight shape \(3, 4\)"),
    (dict(lif={k: np.full(4, v) for k, v in dict(tau_syn=0.1, tau_mem=0.2, r=0.2, v_leak=0.0, v_threshold=1.0,
                                                  v_reset=0.0, w_in=0.1).items()}), r"expected \(3,\)"),
    (dict(edges=[("input", "linear"), ("linear", "lif"), ("lif", "output"), ("lif", "linear")]), "outgoing edges"),
    (dict(edges=[("input", "linear"), ("linear", "lif"), ("lif", "linear")]), "recurrent edge"),
    (dict(edges=[("input", "linear"), ("linear", "cubalif"), ("lif", "output")]), "missing from the graph"),
    (dict(edges=[("input", "linear"), ("linear", "output")]), "not on the path"),
    (dict(extra_nodes={"lif": nir.LIF(tau=np.full(3, 0.1), r=np.ones(3), v_leak=np.zeros(3),
                                      v_threshold=np.ones(3))}), "type LIF"),
    (dict(extra_nodes={"linear": nir.Conv2d(input_shape=(4, 4), weight=np.ones((1, 1, 2, 2)), stride=1, padding=0,
                                            dilation=1, groups=1, bias=np.zeros(1))}),
     r"is a Conv2d and needs a \(channels, height, width\) input, got shape \(2,\)"),
    (dict(extra_nodes={"lif": dense_graph()}), "nested graph"),
])
def test_import_refuses_what_it_cannot_represent(change, message):
    with pytest.raises(ValueError, match=message):
        from_nir(dense_graph(**change))


def test_a_valid_one_layer_graph_imports():
    """The unchanged graph of the refusal tests is accepted (they fail for their reason)."""
    net = from_nir(dense_graph())
    assert net.sizes == [2, 3] and net.layers[0].max_spikes == 2 and net.layers[0].tau_s == pytest.approx(0.1)


def test_import_needs_the_spike_slots_of_a_foreign_graph():
    graph = dense_graph()
    graph.metadata = {}
    with pytest.raises(ValueError, match="pass max_spikes"):
        from_nir(graph)
    assert from_nir(graph, max_spikes=4).layers[0].max_spikes == 4


def test_unreadable_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        from_nir(tmp_path / "absent.nir")
    corrupt = tmp_path / "corrupt.nir"
    path = write_graph(to_nir(small_network()), tmp_path / "net.nir")
    corrupt.write_bytes(path.read_bytes()[:300])
    with pytest.raises(ValueError, match="not a readable NIR file"):
        read_graph(corrupt)
    with pytest.raises(TypeError, match="nir.NIRGraph or a path"):
        from_nir({"nodes": {}})


def test_export_refuses_other_layers_and_bad_units():
    net = small_network()
    with pytest.raises(ValueError, match="time_unit must be finite and > 0"):
        to_nir(net, time_unit=0.0)
    with pytest.raises(TypeError, match="dt must be a positive number"):
        to_nir(net, dt="1e-4")
    net.layers[0] = torch.nn.Identity()
    with pytest.raises(ValueError, match="layer 0 is a Identity"):
        to_nir(net)


# ---------------------------------------------------------------------------- command line

def test_cli_export_then_import_reports_the_same_accuracy(tmp_path):
    run = tmp_path / "run"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["train", "--epochs", "1", "--train-size", "300", "--test-size", "200",
                     "--out", str(run), "--no-progress", "--threads", "1"]) == 0
        assert main(["evaluate", str(run / "last.pt"), "--json"]) == 0
        assert main(["export", str(run / "last.pt"), str(tmp_path / "net.nir")]) == 0
        assert main(["import", str(tmp_path / "net.nir"), "--json"]) == 0
    lines = out.getvalue().strip().splitlines()
    imported, evaluated = json.loads(lines[-1]), json.loads(lines[-3])
    assert imported.pop("file") == str(tmp_path / "net.nir")
    assert evaluated.pop("checkpoint") == str(run / "last.pt")
    assert imported == evaluated


def test_cli_import_of_a_foreign_graph_needs_a_preset(tmp_path, capsys):
    graph = dense_graph()
    graph.metadata = {}
    path = write_graph(graph, tmp_path / "foreign.nir")
    assert main(["import", str(path)]) == 2
    assert "pass --preset" in capsys.readouterr().err
    assert main(["import", str(tmp_path / "absent.nir")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_cli_import_of_a_foreign_graph_names_the_max_spikes_option(tmp_path, capsys):
    graph = dense_graph()
    graph.metadata = {}
    path = write_graph(graph, tmp_path / "foreign.nir")
    assert main(["import", str(path), "--preset", "yinyang-multispike"]) == 2
    assert "--max-spikes on the command line" in capsys.readouterr().err


# ---------------------------------------------------------------------------- snnTorch

@pytest.fixture(scope="module")
def peer():
    pytest.importorskip("snntorch")
    pytest.importorskip("nirtorch")
    return snntorch_peer


# NIR has no spike-slot limit (snnTorch lets a neuron fire as often as it will), so the
# networks compared with snnTorch get enough slots that no neuron fills them.
SLOTS = [40, 40]


def grid_inputs(shared_datasets, n, step):
    x, labels = yinyang_inputs(shared_datasets, n)
    return (torch.round(x.double() / step) * step).float(), labels


def exact(net, x):
    with torch.no_grad():
        out = net(x, all_layers=True)
    assert [layer.n_saturated for layer in net.layers] == [0, 0]
    return out


def test_snntorch_imports_our_graph_and_agrees_to_its_step(peer, shared_datasets):
    time_unit = 0.1
    step = peer.SNNTORCH_DT / time_unit  # 1e-3 of our time units, tau_s / 350
    x, _ = grid_inputs(shared_datasets, 30, step)
    net = small_network(max_spikes=SLOTS)
    ours = exact(net, x)
    graph = to_nir(net, time_unit=time_unit, dt=peer.SNNTORCH_DT)
    for module in (peer.import_into_snntorch(graph), peer.with_subtractive_reset(peer.import_into_snntorch(graph))):
        theirs = peer.simulate(module, x, step, 4.0, SLOTS)
        for a, b in zip(ours, theirs):
            s = peer.agreement(a, b, step)
            assert s["equal_counts"] >= 0.9 and s["compared"] > 100
            assert s["median"] <= 2.5 and s["p90"] <= 12
            assert abs(s["mean_signed"]) <= 4


@pytest.mark.parametrize("ratio", [3.0, 1.5, 5.0])
def test_snntorch_imports_our_graph_at_another_ratio_and_agrees_to_its_step(peer, shared_datasets, ratio):
    time_unit = 0.1
    step = peer.SNNTORCH_DT / time_unit
    x, _ = grid_inputs(shared_datasets, 30, step)
    net = small_network(max_spikes=SLOTS, tau_mem=ratio * 0.35)
    ours = exact(net, x)
    graph = to_nir(net, time_unit=time_unit, dt=peer.SNNTORCH_DT)
    theirs = peer.simulate(peer.with_subtractive_reset(peer.import_into_snntorch(graph)), x, step, 4.0, SLOTS)
    for a, b in zip(ours, theirs):
        s = peer.agreement(a, b, step)
        assert s["equal_counts"] >= 0.9 and s["compared"] > 100
        assert s["median"] <= 2.5 and s["p90"] <= 12
        assert abs(s["mean_signed"]) <= 4


def test_snntorch_agreement_improves_with_a_smaller_step(peer, shared_datasets):
    """The differences are the clock's: a 4x smaller step shrinks them (in time units)."""
    net = small_network(max_spikes=SLOTS)
    errors = []
    for time_unit in (0.05, 0.2):
        step = peer.SNNTORCH_DT / time_unit
        x, _ = grid_inputs(shared_datasets, 20, step)
        with torch.no_grad():
            ours = net.layers[0](x)
        module = peer.with_subtractive_reset(peer.import_into_snntorch(to_nir(net, time_unit=time_unit,
                                                                                 dt=peer.SNNTORCH_DT)))
        theirs = peer.simulate(module, x, step, 4.0, SLOTS)[0]
        errors.append(peer.agreement(ours, theirs, step)["median"] * step)
    assert errors[1] < 0.5 * errors[0]


def test_snntorch_export_imports_and_our_exact_times_agree_with_its_simulation(peer, shared_datasets, tmp_path):
    time_unit = 0.1
    step = peer.SNNTORCH_DT / time_unit
    x, _ = grid_inputs(shared_datasets, 30, step)
    reference = small_network()
    native = peer.native_network([layer.weight for layer in reference.layers], [1.0, 1.0], 0.35, step)
    path = write_graph(peer.export_native(native, 5), tmp_path / "snntorch.nir")
    net = from_nir(path, max_spikes=SLOTS, t_max=4.0, time_unit=time_unit, dt=peer.SNNTORCH_DT)
    assert net.layers[0].tau_s == pytest.approx(0.35, rel=1e-4)
    for a, b in zip(net.layers, reference.layers):
        assert torch.allclose(a.weight, b.weight, rtol=1e-5, atol=1e-6)
    ours = exact(net, x)
    theirs = peer.simulate(native, x, step, 4.0, SLOTS)
    for a, b in zip(ours, theirs):
        s = peer.agreement(a, b, step)
        assert s["equal_counts"] >= 0.9 and s["compared"] > 100
        assert s["median"] <= 2.5 and s["p90"] <= 12


@pytest.mark.slow
def test_trained_yinyang_network_agrees_with_snntorch(peer, shared_datasets, tmp_path):
    """benchmarks/nir_crosscheck.py on a freshly trained Yin-Yang TTFS network (300 test
    samples, step tau_s / 1000): exact round trip, and snnTorch's accuracy within 0.5 points
    of the exact simulation of the graph, with spike times a few steps apart."""
    if not (shared_datasets / "yin_yang" / "test_samples.npy").is_file():
        pytest.skip("Yin-Yang publication data not found")
    run = tmp_path / "run"
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["train", "--preset", "yinyang-ttfs", "--data-dir", str(shared_datasets / "yin_yang"),
                     "--out", str(run), "--no-progress", "--threads", "1"]) == 0
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import nir_crosscheck

    with contextlib.redirect_stdout(io.StringIO()):
        nir_crosscheck.main([str(run / "last.pt"), "--time-units", "0.1", "--test-size", "300",
                             "--json", str(tmp_path / "r.json")])
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["round_trip"] == {"identical_weights": True, "identical_spike_times": True}
    assert result["saturated_unlimited"] == [0, 0]
    for comparison in result["comparisons"]:
        assert abs(comparison["accuracy_ours"] - comparison["accuracy_snntorch"]) <= 0.005
        for layer in comparison["layers"]:
            assert layer["median"] <= 3 and layer["equal_counts"] >= 0.8 and layer["compared"] > 1000
