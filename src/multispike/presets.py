"""Named training presets (Bacho & Chu 2023 and our Yin-Yang networks).

MNIST and EMNIST presets: a fully connected 784-800-N network, tau_s = 0.13 in every layer,
images encoded in a window of 0.1 (the paper's settings).
* multi-spike: thresholds 0.2 / 1.3, reset = threshold, 30 slots per neuron, simulated until
  0.2, weights uniform(-1, 1), Adam lr 0.003, batch 50, spike-count targets 15 / 3.
* TTFS: thresholds 0.7 / 2.0, one spike per neuron, simulated until 1.0, weights
  uniform(0, 1), Adam lr 0.002, batch 50, cross-entropy on first spike times, tau_loss 0.005.

Fashion-MNIST presets: the authors' 784-400-400-10 network, tau_s = 0.13, window 0.1.
* multi-spike (their ``experiments/fashion_mnist/train.py``): 5 / 5 / 20 slots, thresholds
  0.13 / 0.45 / 0.7, reset = threshold, simulated until 0.2, uniform(-1, 1), Adam lr 5e-4
  halved every 10 epochs down to 1e-4, batch 5, spike-count targets 15 / 3, 100 epochs.
* TTFS (ours; the paper has no TTFS Fashion-MNIST network): the same layer sizes with one
  spike per neuron and the MNIST TTFS settings (uniform(0, 1), t_max 1.0, lr 0.002, batch 50,
  tau_loss 0.005); the first hidden layer keeps MNIST's threshold 0.7 (same fan-in) and the
  two layers fed by 400 neurons take 2.0, which did better than 1.0 on the validation split
  (last 5000 training images) in a short run (``docs/runs/loss/sweep_fashion_ttfs.sh``).

Every TTFS preset adds the silent-label term :func:`losses.silent_label_loss` with weight 1
(the term is dimensionless, in units of the threshold): a label neuron that does not fire is
driven towards its threshold through its peak membrane potential, so that it is revived.

Convolutional image presets (the authors' ``experiments/mnist/train_conv.py``): layers
``15c5-p2-40c5-p2-300-10`` (5x5 convolutions with 15 and 40 channels, each followed by 2x2
spike pooling, then 300 and N fully connected neurons), tau_s = 0.13, images encoded in a
window of 0.1, simulated until 0.2.
* multi-spike: 1 / 3 / 10 / 30 slots, thresholds 0.04 / 0.8 / 0.6 / 0.3, reset =
  threshold, weights uniform(-1, 1), Adam lr 0.003 halved every 10 epochs down to 1e-4,
  batch 20, spike-count targets 30 / 3, 100 epochs.
* TTFS (our single-spike counterpart, not tuned): one slot in every layer, the same
  thresholds, convolution weights uniform(-1, 1) as above (the first convolution is then
  the same layer), dense weights uniform(0, 1) so that every dense and output neuron fires
  at initialisation (a silent output gets no gradient from the TTFS loss), cross-entropy
  on the first spike times (tau_loss 0.005; a silent output counts as firing at
  t_max = 0.2), the same schedule and batch.

Yin-Yang presets (ours; the paper does not fix them): 5 inputs (x, y, 1-x, 1-y and a bias
spike) encoded as in Fast & Deep between t_early = 0.15 and t_late = 2.0 with the bias at
0.9, reset = threshold, Adam with a cosine learning-rate schedule, batch 100, 80 epochs.
* multi-spike: 5-300-3, t_max = 4 (just after the inputs), up to 10 hidden / 30 output
  spikes, hidden weights normal(0.7, 5.7), output weights normal(0.034, 0.046) (small
  spread: every output neuron fires a few spikes on every sample at init, so none starts
  silent), spike-count targets 20 / 4. tau_s = 0.373 (a leak that is fast against the input
  window is what lets spike counts carry the timing code), thresholds 1.24 / 0.752 and
  lr 0.0244 come from a 30-trial ``multispike sweep`` (40 epochs, seed 0) that maximised the
  accuracy on the publication validation split (``docs/runs/sweep-yinyang-multispike/``).
* TTFS: 5-200-3, thresholds 1 / 1, tau_s = 1, t_max = 8, weights normal(1.5, 0.8) / normal(0.5, 0.8),
  tau_loss = 0.05 (smaller logit differences let outputs fall silent), lr 0.005.

Measured accuracies of every preset, with their commands, are in ``docs/results.md``.
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
