"""Convolutional networks: the architecture spec, SpikingNetwork.from_architecture, the
convolutional presets, and a real-data MNIST smoke test of mnist-conv."""
from __future__ import annotations

import math

import pytest
import torch

import multispike
from multispike.architecture import Conv, Dense, Pool, format_architecture, parse_architecture
from multispike.config import config_from_dict
from multispike.presets import PRESETS, get_preset
from multispike.train import evaluate, learning_rate, load_data, load_trained, train


def test_spec_round_trip():
    shape, layers = parse_architecture("15c5-p2-40c5s2p1-p2-300-10")
    assert shape is None
    assert layers == [Conv(15, 5), Pool(2), Conv(40, 5, 2, 1), Pool(2), Dense(300), Dense(10)]
    assert format_architecture(shape, layers) == "15c5-p2-40c5s2p1-p2-300-10"
    assert parse_architecture("2x8x8-4c3-10")[0] == (2, 8, 8)


@pytest.mark.parametrize("spec,match", [
    ("15c5-p2-x-10", "token 'x'"),
    ("15c5-p2", "must end with a fully connected"),
    ("300-15c5-10", "before the fully connected"),
    ("0c5-10", "size below 1"),
    ("", "non-empty"),
])
def test_bad_specs_are_refused(spec, match):
    with pytest.raises(ValueError, match=match):
        parse_architecture(spec)


def test_network_from_architecture_matches_its_layers():
    net = multispike.SpikingNetwork.from_architecture(
        "3c3p1-p2-5c3-7-4", 64, tau_s=0.05, thresholds=[0.05, 0.2, 0.3, 0.3],
        max_spikes=[1, 2, 3, 4], dtype=torch.float64)
    assert net.input_shape == (1, 8, 8) and net.pools == [2, 0, 0, 0]
    assert net.sizes == [64, 3 * 8 * 8, 5 * 2 * 2, 7, 4]
    assert net.architecture == "3c3p1-p2-5c3-7-4"
    x = torch.rand(6, 64, 1, dtype=torch.float64) * 0.1
    outs = net(x, all_layers=True)
    assert [tuple(o.shape) for o in outs] == [(6, 192, 1), (6, 20, 2), (6, 7, 3), (6, 4, 4)]
    # by hand: the same layers applied one after the other
    c1, c2, d1, d2 = net.layers
    h = multispike.functional.spike_pool2d(c1(x.reshape(6, 1, 8, 8, 1)), 2)
    h = c2(h)
    h = d2(d1(h.reshape(6, -1, h.shape[-1])))
    assert torch.equal(h, outs[-1])
    with torch.no_grad():  # chunked inference gives the same outputs and saturation
        net.inference_chunk = 4
        assert torch.equal(net(x), outs[-1].detach())
        assert net.layers[0].saturated.shape == (6, 3, 8, 8)


def test_layer_input_is_what_each_layer_receives():
    """layer_input hands back each layer's input (pooled where pooling follows the layer
    before), so the silent-label term also works when the output layer follows pooling."""
    net = multispike.SpikingNetwork.from_architecture(
        "3c3p1-p2-5c3-p2-4", 64, tau_s=0.05, thresholds=[0.05, 0.2, 0.3],
        max_spikes=[1, 2, 3], dtype=torch.float64)
    x = torch.rand(5, 64, 1, dtype=torch.float64) * 0.1
    outs = net(x, all_layers=True)
    c1, c2, d = net.layers
    h1 = multispike.functional.spike_pool2d(c1(x.reshape(5, 1, 8, 8, 1)), 2)
    h2 = multispike.functional.spike_pool2d(c2(h1), 2).reshape(5, -1, 4 * 2)
    assert torch.equal(net.layer_input(0, x, outs), x)
    assert torch.equal(net.layer_input(1, x, outs), h1.reshape(5, -1, 4))
    assert torch.equal(net.layer_input(2, x, outs), h2)
    assert torch.equal(d(net.layer_input(2, x, outs)), outs[-1])
    with pytest.raises(ValueError, match="k must be a layer index"):
        net.layer_input(3, x, outs)


def test_silent_label_term_when_the_output_layer_follows_pooling(mnist_data_dir, tmp_path):
    config = get_preset("mnist-conv-ttfs", data_dir=str(mnist_data_dir), train_size=40,
                        val_size=20, test_size=20, epochs=1, architecture="4c5-p2-10",
                        thresholds=[0.04, 0.3], max_spikes=[1, 1], init=["uniform:-1:1", "uniform:0:1"])
    assert config.silent_label_penalty > 0
    result = train(config, tmp_path, progress=False, log=lambda *a, **k: None)
    assert math.isfinite(result["history"][0]["loss"])


@pytest.mark.parametrize("spec,n_inputs,match", [
    ("4c9-10", 64, "larger than"),
    ("4c3-p4-10", 64, "cannot be pooled"),
    ("4c3-10", 60, "no square image"),
    ("p2-4c3-10", 64, "must follow a convolution"),
])
def test_networks_that_do_not_fit_are_refused(spec, n_inputs, match):
    with pytest.raises(ValueError, match=match):
        multispike.SpikingNetwork.from_architecture(spec, n_inputs, tau_s=0.1, thresholds=0.5)


def test_n_inputs_must_be_a_count():
    with pytest.raises(TypeError, match="n_inputs must be the number of input neurons"):
        multispike.SpikingNetwork.from_architecture("4c3-10", (1, 8, 8), tau_s=0.1, thresholds=0.5)


def test_conv_presets_and_old_configs():
    for name in ("mnist-conv", "mnist-conv-ttfs", "fashion-mnist-conv", "fashion-mnist-conv-ttfs"):
        config = PRESETS[name]().validate()
        assert config.architecture.endswith("-10") and config.n_layers == 4
    conv = get_preset("mnist-conv")
    assert (conv.thresholds, conv.max_spikes, conv.batch_size) == ([0.04, 0.8, 0.6, 0.3], [1, 3, 10, 30], 20)
    assert [learning_rate(conv, e) for e in (0, 9, 10, 25, 60)] == \
        [0.003, 0.003, 0.0015, 0.003 / 4, 1e-4]
    assert get_preset("mnist-conv-ttfs").max_spikes == [1, 1, 1, 1]
    # a config written before architectures existed still loads as the same dense network
    old = {k: v for k, v in vars(get_preset("mnist-multispike")).items()
           if k not in ("architecture", "lr_halving_epochs", "lr_min")}
    assert config_from_dict(old).architecture is None and config_from_dict(old).n_layers == 2
    with pytest.raises(ValueError, match="thresholds has 2 values .* gives 4 layer"):
        get_preset("mnist-conv", thresholds=[0.1, 0.1])


def test_mnist_conv_smoke(mnist_data_dir, tmp_path):
    """The authors' convolutional network (mnist-conv), one epoch on 400 real training
    images, clearly beats chance (0.10); the checkpoint reloads to the same network."""
    config = get_preset("mnist-conv", data_dir=str(mnist_data_dir), train_size=400,
                        test_size=200, epochs=1)
    result = train(config, tmp_path, progress=False, log=lambda *a, **k: None)
    record = result["history"][0]
    assert result["final_test_accuracy"] >= 0.3, record
    assert record["skipped_steps"] == 0 and math.isfinite(record["loss"])
    assert all(s > 0 for s in record["spikes_per_sample"])
    net, loaded_config = load_trained(tmp_path / "last.pt", mnist_data_dir)
    assert loaded_config.architecture == "15c5-p2-40c5-p2-300-10"
    data = load_data(loaded_config)
    again = evaluate(net, data.x_test, data.y_test, loaded_config.prediction_rule)
    assert again["accuracy"] == result["final_test_accuracy"]


def test_study_takes_the_convolutional_presets(tmp_path):
    from multispike.study.common import StudyContext, regime_config
    ctx = StudyContext(out=tmp_path, dataset="mnist-conv")
    assert regime_config(ctx, "multispike").name == "mnist-conv"
    ttfs = regime_config(ctx, "ttfs")
    assert ttfs.name == "mnist-conv-ttfs" and ttfs.dataset == "mnist" and ttfs.n_layers == 4
    assert regime_config(StudyContext(out=tmp_path, dataset="fashion-mnist-conv"),
                         "ttfs").dataset == "fashion-mnist"
