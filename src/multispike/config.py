"""Training configuration: one flat, typed record that presets fill and the CLI overrides."""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Optional

from .data.registry import DATASETS, get_dataset

__all__ = ["TrainConfig", "HELP", "config_from_dict", "parse_init", "check_init", "read_config_file"]

LOSSES = ("spike_count", "ttfs")
SCHEDULES = ("constant", "cosine", "exponential", "step")


@dataclass
class TrainConfig:
    """Everything that defines a training run. Lists hold one entry per layer."""

    name: str = "custom"
    dataset: str = "yinyang"
    hidden: list = field(default_factory=lambda: [120])
    architecture: Optional[str] = None  # e.g. "15c5-p2-40c5-p2-300-10"; replaces hidden
    tau_s: float = 1.0
    thresholds: list = field(default_factory=lambda: [1.0, 1.0])
    resets: Optional[list] = None
    max_spikes: list = field(default_factory=lambda: [10, 10])
    t_max: float = math.inf
    init: list = field(default_factory=lambda: ["uniform:-1:1", "uniform:-1:1"])
    # encodings
    t_window: float = 0.1
    t_early: float = 0.15
    t_late: float = 2.0
    bias_time: Optional[float] = 0.9
    # loss
    loss: str = "spike_count"
    target_true: float = 15.0
    target_false: float = 3.0
    tau_loss: float = 0.005
    silent_label_penalty: float = 0.0
    # optimisation
    lr: float = 0.003
    batch_size: int = 50
    epochs: int = 100
    lr_schedule: str = "constant"
    lr_gamma: float = 0.99
    lr_halving_epochs: int = 10
    lr_min: float = 0.0
    seed: int = 0
    # data
    data_dir: Optional[str] = None
    train_size: Optional[int] = None
    val_size: Optional[int] = None
    test_size: Optional[int] = None
    eval_batch_size: int = 500

    @property
    def n_layers(self) -> int:
        if self.architecture:
            return len(neuron_layers(self.architecture))
        return len(self.hidden) + 1

    @property
    def encoding(self) -> str:
        """How the data set's samples become input spike times: "image" or "yinyang" (the data
        set registry's :class:`~multispike.data.registry.DatasetInfo`)."""
        return get_dataset(self.dataset).encoding

    @property
    def input_window(self) -> tuple:
        """(earliest, latest) input spike time of the encoding: (t_early, t_late) for
        Yin-Yang, (0, t_window) for images."""
        if self.encoding == "yinyang":
            return self.t_early, self.t_late
        return 0.0, self.t_window

    @property
    def prediction_rule(self) -> str:
        return "first_spike" if self.loss == "ttfs" else "spike_count"

    def validate(self) -> "TrainConfig":
        """Raise a ValueError naming the first inconsistent setting; return self."""
        get_dataset(self.dataset)
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        if self.lr_schedule not in SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {SCHEDULES}, got {self.lr_schedule!r}")
        n = self.n_layers  # an architecture that does not parse raises here
        for name in ("thresholds", "max_spikes", "init") + (("resets",) if self.resets is not None else ()):
            if len(getattr(self, name)) != n:
                layers = (f"architecture = {self.architecture!r}" if self.architecture
                          else f"hidden = {self.hidden}")
                raise ValueError(f"{name} has {len(getattr(self, name))} values {getattr(self, name)!r}, "
                                 f"but {layers} gives {n} layer(s) (hidden and output): "
                                 f"give one value per layer")
        for name in ("thresholds",) + (("resets",) if self.resets is not None else ()):
            if not all(v > 0 for v in getattr(self, name)):
                raise ValueError(f"{name} must all be > 0, got {getattr(self, name)}")
        if not all(isinstance(k, int) and k >= 1 for k in self.max_spikes):
            raise ValueError(f"max_spikes must all be integers >= 1, got {self.max_spikes}")
        if not self.t_max > 0:
            raise ValueError(f"t_max must be > 0 (may be inf), got {self.t_max}")
        for name in ("tau_s", "lr", "t_window", "tau_loss"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if not self.silent_label_penalty >= 0:
            raise ValueError(f"silent_label_penalty must be >= 0, got {self.silent_label_penalty}")
        if not 0 <= self.lr_min <= self.lr:
            raise ValueError(f"lr_min must lie in [0, lr={self.lr}], got {self.lr_min}")
        for name in ("batch_size", "epochs", "eval_batch_size", "lr_halving_epochs"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("train_size", "val_size", "test_size"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise ValueError(f"{name} must be a non-negative integer or None, got {value!r}")
        if self.train_size == 0 or self.test_size == 0:
            raise ValueError("train_size and test_size must be >= 1 (or None for all samples)")
        if any(h < 1 for h in self.hidden):
            raise ValueError(f"hidden sizes must be >= 1, got {self.hidden}")
        for spec in self.init:
            parse_init(spec)
        return self


def neuron_layers(architecture: str) -> list:
    """The layers with neurons (convolution, fully connected) of an architecture spec."""
    from .architecture import Pool, parse_architecture
    return [layer for layer in parse_architecture(architecture)[1] if not isinstance(layer, Pool)]


def parse_init(spec: str):
    """'uniform:LOW:HIGH' or 'normal:MEAN:STD' -> (kind, a, b), checked by :func:`check_init`."""
    parts = str(spec).split(":")
    if len(parts) != 3 or parts[0] not in ("uniform", "normal"):
        raise ValueError(f"init must look like 'uniform:LOW:HIGH' or 'normal:MEAN:STD', got {spec!r}")
    try:
        init = parts[0], float(parts[1]), float(parts[2])
    except ValueError:
        raise ValueError(f"init bounds must be numbers, got {spec!r}") from None
    return check_init(init)


def check_init(init) -> tuple:
    """Validate a weight initialisation ("uniform", low, high) or ("normal", mean, std)."""
    if not isinstance(init, (tuple, list)) or len(init) != 3 or init[0] not in ("uniform", "normal"):
        raise ValueError(f"init must be ('uniform', low, high) or ('normal', mean, std), got {init!r}")
    kind, a, b = init
    if isinstance(a, bool) or isinstance(b, bool) or not all(isinstance(v, (int, float)) for v in (a, b)) \
            or not (math.isfinite(a) and math.isfinite(b)):
        raise ValueError(f"init bounds must be finite numbers, got {init!r}")
    if kind == "uniform" and not a < b:
        raise ValueError(f"init ('uniform', low, high) needs low < high, got low={a}, high={b}")
    if kind == "normal" and not b >= 0:
        raise ValueError(f"init ('normal', mean, std) needs std >= 0, got std={b}")
    return kind, float(a), float(b)


HELP = {
    "name": "a label for the run",
    "dataset": f"one of {', '.join(DATASETS)}",
    "hidden": "hidden layer sizes, comma separated (e.g. 800 or 400,400)",
    "architecture": "layers after the input, replacing --hidden, e.g. 15c5-p2-40c5-p2-300-10 "
                    "(15 channels 5x5 conv, 2x2 spike pooling, ..., 10 outputs)",
    "tau_s": "synaptic time constant of every layer; the membrane one is 2*tau_s",
    "thresholds": "firing threshold per layer (hidden..., output), comma separated",
    "resets": "amount subtracted from u at a spike, per layer; default: the threshold",
    "max_spikes": "spike slots per neuron per layer (1 = TTFS)",
    "t_max": "simulation end: later spikes are dropped",
    "init": "weight init per layer: uniform:LOW:HIGH or normal:MEAN:STD",
    "t_window": "image encoding window: t = t_window * (1 - pixel/255)",
    "t_early": "Yin-Yang: spike time of a coordinate equal to 0",
    "t_late": "Yin-Yang: spike time of a coordinate equal to 1",
    "bias_time": "Yin-Yang: time of the bias spike ('none' for no bias input)",
    "loss": "spike_count (multi-spike) or ttfs (cross-entropy on first spike times)",
    "target_true": "spike-count target of the labelled output neuron",
    "target_false": "spike-count target of the other output neurons",
    "tau_loss": "TTFS loss temperature: logits = -t_first / tau_loss",
    "silent_label_penalty": "weight of the term that raises a silent label neuron's peak membrane "
                            "potential towards the threshold, added to either loss (0 = off)",
    "lr": "Adam learning rate",
    "batch_size": "training batch size",
    "epochs": "number of epochs",
    "lr_schedule": f"learning-rate schedule over epochs: {', '.join(SCHEDULES)}",
    "lr_gamma": "per-epoch factor of the exponential schedule",
    "lr_halving_epochs": "step schedule: the learning rate halves every this many epochs",
    "lr_min": "step schedule: the learning rate never falls below this floor",
    "seed": "random seed (weights, shuffling, generated data)",
    "data_dir": "folder with the data set files (Yin-Yang: the publication .npy files; "
                "without it Yin-Yang data is generated)",
    "train_size": "use only the first N training samples (after the validation hold-out)",
    "val_size": "validation samples held out of training (images: the last N training images, "
                "default 5000; Yin-Yang: the validation split, default all 1000); 0 for none",
    "test_size": "use only the first N test samples",
    "eval_batch_size": "batch size for evaluation",
}


def config_from_dict(values: dict) -> TrainConfig:
    """Build a config from a (checkpoint) dictionary, ignoring unknown keys.

    A dictionary without ``val_size`` comes from a run made before validation splits
    existed: it trained on every training sample, which ``val_size = 0`` reproduces.
    """
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    values = {"val_size": 0, **values}
    return TrainConfig(**{k: v for k, v in values.items() if k in names})


def read_config_file(path) -> dict:
    """The TrainConfig fields stored in a JSON file (``train --config``); unknown keys are an
    error, missing ones keep their preset's value."""
    import json

    with open(path) as f:
        values = json.load(f)
    if not isinstance(values, dict):
        raise ValueError(f"{path} must hold a JSON object of TrainConfig fields")
    unknown = sorted(set(values) - {f.name for f in dataclasses.fields(TrainConfig)})
    if unknown:
        raise ValueError(f"{path}: unknown TrainConfig field(s) {unknown}")
    return values
