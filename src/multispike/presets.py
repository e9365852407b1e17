"""Named training presets: complete, validated configurations (:class:`TrainConfig`) for each
data set and regime, multi-spike or TTFS (one spike per neuron), so that ``multispike train
--preset NAME`` reproduces a known network. Their values are in the code below, one
function per family; this says where they come from.

* MNIST, EMNIST and Fashion-MNIST, fully connected, and the convolutional image presets:
  the settings of Bacho & Chu (2023) and of the authors' training scripts
  (``experiments/mnist/train_conv.py``, ``experiments/fashion_mnist/train.py``). Where the
  paper has no TTFS network (Fashion-MNIST, convolutional), the TTFS preset is ours: the
  same layers with one spike per neuron and the MNIST TTFS settings; the convolutional one
  is not tuned. Its dense weights are positive so that every output neuron fires at
  initialisation, since a silent output gets no gradient from the TTFS loss. The
  Fashion-MNIST TTFS thresholds were chosen on the validation split in a short run
  (``docs/runs/loss/sweep_fashion_ttfs.sh``).
* Yin-Yang: ours (the paper does not fix them); inputs encoded as in Fast & Deep. The
  multi-spike preset's time constant, thresholds and learning rate come from a
  ``multispike sweep`` that maximised the accuracy on the publication's validation split
  (``docs/runs/sweep-yinyang-multispike/``); a leak that is fast against the input window
  is what lets spike counts carry the timing code, and the output weights start with a
  small spread so that no output neuron starts silent.

Every TTFS preset adds the silent-label term :func:`losses.silent_label_loss` (dimensionless,
in units of the threshold): a label neuron that does not fire is driven towards its threshold
through its peak membrane potential, so that it is revived.

The accuracies the presets reach, with their commands, are in ``docs/results.md``.
"""
from __future__ import annotations

from dataclasses import replace

from .config import TrainConfig
from .data.registry import get_dataset

__all__ = ["PRESETS", "get_preset", "DEFAULT_PRESET"]

def _image_multispike(dataset):
    return TrainConfig(
        name=f"{dataset}-multispike", dataset=dataset, hidden=[800], tau_s=0.13,
        thresholds=[0.2, 1.3], resets=None, max_spikes=[30, 30], t_max=0.2,
        init=["uniform:-1:1", "uniform:-1:1"], t_window=0.1, loss="spike_count",
        target_true=15.0, target_false=3.0, lr=0.003, batch_size=50, epochs=100)


def _image_ttfs(dataset):
    return TrainConfig(
        name=f"{dataset}-ttfs", dataset=dataset, hidden=[800], tau_s=0.13,
        thresholds=[0.7, 2.0], resets=None, max_spikes=[1, 1], t_max=1.0,
        init=["uniform:0:1", "uniform:0:1"], t_window=0.1, loss="ttfs", tau_loss=0.005,
        silent_label_penalty=1.0, lr=0.002, batch_size=50, epochs=100)


def _fashion_multispike():
    return TrainConfig(
        name="fashion-mnist-multispike", dataset="fashion-mnist", hidden=[400, 400],
        tau_s=0.13, thresholds=[0.13, 0.45, 0.7], resets=None, max_spikes=[5, 5, 20],
        t_max=0.2, init=["uniform:-1:1"] * 3, t_window=0.1, loss="spike_count",
        target_true=15.0, target_false=3.0, lr=5e-4, lr_schedule="step", lr_halving_epochs=10,
        lr_min=1e-4, batch_size=5, epochs=100)


def _fashion_ttfs():
    return TrainConfig(
        name="fashion-mnist-ttfs", dataset="fashion-mnist", hidden=[400, 400], tau_s=0.13,
        thresholds=[0.7, 2.0, 2.0], resets=None, max_spikes=[1, 1, 1], t_max=1.0,
        init=["uniform:0:1"] * 3, t_window=0.1, loss="ttfs", tau_loss=0.005,
        silent_label_penalty=1.0, lr=0.002, batch_size=50, epochs=100)


_CONV_LAYERS = "15c5-p2-40c5-p2-300"


def _image_conv(dataset):
    return TrainConfig(
        name=f"{dataset}-conv", dataset=dataset, architecture=f"{_CONV_LAYERS}-{n_classes(dataset)}",
        tau_s=0.13, thresholds=[0.04, 0.8, 0.6, 0.3], resets=None, max_spikes=[1, 3, 10, 30],
        t_max=0.2, init=["uniform:-1:1"] * 4, t_window=0.1, loss="spike_count",
        target_true=30.0, target_false=3.0, lr=0.003, lr_schedule="step", lr_halving_epochs=10,
        lr_min=1e-4, batch_size=20, epochs=100)


def _image_conv_ttfs(dataset):
    return replace(
        _image_conv(dataset), name=f"{dataset}-conv-ttfs", max_spikes=[1, 1, 1, 1],
        init=["uniform:-1:1", "uniform:-1:1", "uniform:0:1", "uniform:0:1"],
        loss="ttfs", tau_loss=0.005, silent_label_penalty=1.0)


def _yinyang_multispike():
    return TrainConfig(
        name="yinyang-multispike", dataset="yinyang", hidden=[300], tau_s=0.373,
        thresholds=[1.24, 0.752], resets=None, max_spikes=[10, 30], t_max=4.0,
        init=["normal:0.7:5.7", "normal:0.034:0.046"], t_early=0.15, t_late=2.0,
        bias_time=0.9, loss="spike_count", target_true=20.0, target_false=4.0, lr=0.0244,
        batch_size=100, epochs=80, lr_schedule="cosine")


def _yinyang_ttfs():
    return TrainConfig(
        name="yinyang-ttfs", dataset="yinyang", hidden=[200], tau_s=1.0,
        thresholds=[1.0, 1.0], resets=None, max_spikes=[1, 1], t_max=8.0,
        init=["normal:1.5:0.8", "normal:0.5:0.8"], t_early=0.15, t_late=2.0, bias_time=0.9,
        loss="ttfs", tau_loss=0.05, silent_label_penalty=1.0, lr=0.005, batch_size=100,
        epochs=80, lr_schedule="cosine")


PRESETS = {
    "yinyang-multispike": _yinyang_multispike,
    "yinyang-ttfs": _yinyang_ttfs,
    "mnist-multispike": lambda: _image_multispike("mnist"),
    "mnist-ttfs": lambda: _image_ttfs("mnist"),
    "fashion-mnist-multispike": _fashion_multispike,
    "fashion-mnist-ttfs": _fashion_ttfs,
    "mnist-conv": lambda: _image_conv("mnist"),
    "mnist-conv-ttfs": lambda: _image_conv_ttfs("mnist"),
    "fashion-mnist-conv": lambda: _image_conv("fashion-mnist"),
    "fashion-mnist-conv-ttfs": lambda: _image_conv_ttfs("fashion-mnist"),
    "emnist-multispike": lambda: _image_multispike("emnist-balanced"),
    "emnist-ttfs": lambda: _image_ttfs("emnist-balanced"),
}
DEFAULT_PRESET = "yinyang-multispike"


def n_classes(dataset: str) -> int:
    """The number of classes of ``dataset`` (from the data set registry)."""
    return get_dataset(dataset).n_classes


def get_preset(name: str, **overrides) -> TrainConfig:
    """A fresh copy of preset ``name`` with ``overrides`` applied (and validated)."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}")
    return replace(PRESETS[name](), **overrides).validate()
