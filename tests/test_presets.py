"""The Fashion-MNIST presets, the step learning-rate schedule and the TTFS presets' loss."""
from __future__ import annotations

import pytest
import torch

from multispike.config import TrainConfig
from multispike.presets import PRESETS, get_preset
from multispike.train import build_network, learning_rate


def test_fashion_multispike_is_the_authors_network():
    c = get_preset("fashion-mnist-multispike")
    assert (c.dataset, c.hidden, c.max_spikes) == ("fashion-mnist", [400, 400], [5, 5, 20])
    assert c.thresholds == [0.13, 0.45, 0.7] and c.resets is None  # reset = threshold
    assert (c.tau_s, c.t_max, c.t_window) == (0.13, 0.2, 0.1)
    assert c.init == ["uniform:-1:1"] * 3
    assert (c.loss, c.target_true, c.target_false) == ("spike_count", 15.0, 3.0)
    assert (c.lr, c.lr_schedule, c.lr_halving_epochs, c.lr_min) == (5e-4, "step", 10, 1e-4)
    assert (c.batch_size, c.epochs) == (5, 100)
    net = build_network(c, 784, 10)
    assert net.sizes == [784, 400, 400, 10]
    assert [layer.max_spikes for layer in net.layers] == [5, 5, 20]
    assert [layer.reset for layer in net.layers] == [0.13, 0.45, 0.7]
    out = net(torch.rand(3, 784, 1) * 0.1)
    assert out.shape == (3, 10, 20)


def test_fashion_ttfs_has_the_same_layers_with_one_spike():
    c = get_preset("fashion-mnist-ttfs")
    ms = get_preset("fashion-mnist-multispike")
    assert c.hidden == ms.hidden and c.dataset == ms.dataset
    assert c.max_spikes == [1, 1, 1] and c.loss == "ttfs" and c.prediction_rule == "first_spike"


@pytest.mark.parametrize("name", [n for n in PRESETS if get_preset(n).loss == "ttfs"])
def test_every_ttfs_preset_revives_silent_label_neurons(name):
    assert get_preset(name).silent_label_penalty > 0


def test_step_schedule_halves_every_period_down_to_the_floor():
    c = get_preset("fashion-mnist-multispike")
    lrs = [learning_rate(c, e) for e in range(100)]
    assert lrs[:10] == [5e-4] * 10
    assert lrs[10:20] == [2.5e-4] * 10
    assert lrs[20:30] == [1.25e-4] * 10
    assert lrs[30:] == [1e-4] * 70  # 6.25e-5 would fall below the floor
    c = TrainConfig(lr=0.01, lr_schedule="step", lr_halving_epochs=3)  # floor 0 by default
    assert [learning_rate(c, e) for e in (0, 2, 3, 6, 9)] == [0.01, 0.01, 0.005, 0.0025, 0.00125]


@pytest.mark.parametrize("field,value,match", [
    ("lr_halving_epochs", 0, "lr_halving_epochs"),
    ("lr_min", 1.0, "lr_min"),
    ("lr_min", -1e-4, "lr_min"),
    ("lr_schedule", "steps", "lr_schedule"),
    ("silent_label_penalty", -1.0, "silent_label_penalty"),
])
def test_bad_schedule_and_penalty_settings_are_refused(field, value, match):
    with pytest.raises(ValueError, match=match):
        get_preset("fashion-mnist-multispike", **{field: value})


@pytest.mark.parametrize("value,match", [
    (0.0, "tau_mem must be > 0"), (-1.0, "tau_mem must be > 0"),
    (0.13, "differ from tau_s"), (float("inf"), "tau_mem must be a finite number"),
    (float("nan"), "tau_mem must be a finite number"), ("3", "tau_mem must be a number or None")])
def test_bad_membrane_time_constants_are_refused(value, match):
    with pytest.raises(ValueError, match=match):
        get_preset("mnist-multispike", tau_mem=value)


@pytest.mark.parametrize("name", list(PRESETS))
def test_presets_keep_the_two_to_one_membrane_time_constant(name):
    assert get_preset(name).tau_mem is None


def test_the_config_membrane_time_constant_reaches_every_layer():
    c = get_preset("fashion-mnist-multispike")
    assert [layer.tau_mem for layer in build_network(c, 784, 10).layers] == [0.26] * 3
    c = get_preset("fashion-mnist-multispike", tau_mem=0.39)
    assert [layer.tau_mem for layer in build_network(c, 784, 10).layers] == [0.39] * 3
    c = get_preset("mnist-conv", tau_mem=0.05)
    assert [layer.tau_mem for layer in build_network(c, 784, 10).layers] == [0.05] * 4


def test_presets_command_shows_the_membrane_time_constant(capsys):
    from multispike.cli import main

    assert main(["presets"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(PRESETS) and all("tau_mem=2*tau_s" in line for line in lines)
