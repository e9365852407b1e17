"""Training configuration: one flat, typed record that presets fill and the CLI overrides.

Each field's type and metadata are its one description: :meth:`TrainConfig.validate` checks
every value against its type (:func:`check_setting`), the command line reads text by it
(:func:`parse_setting`, for ``train``'s options and ``study``/``sweep``'s ``--set``), and
:data:`HELP` is its help text."""
from __future__ import annotations

import dataclasses
import functools
import math
import numbers
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from .data.registry import DATASETS, get_dataset
from .losses import LOSSES, prediction_rule

__all__ = ["TrainConfig", "HELP", "setting", "SettingKind", "setting_kinds", "check_setting",
           "parse_setting", "config_from_dict", "parse_init", "check_init", "read_config_file"]

SCHEDULES = ("constant", "cosine", "exponential", "step")
#: Float settings that may be +inf (t_max: no simulation end); every other one is finite.
_MAY_BE_INFINITE = ("t_max",)
#: The largest Adam learning rate accepted.
MAX_LR = 1.0


def setting(default, help: str, none_means: str | None = None):
    """A :class:`TrainConfig` field: its default (a list default is copied for every config)
    and the help text the command line shows for it. ``none_means``: for a list setting,
    what the word "none" stands for on the command line (the empty list), e.g. "no hidden
    layer"; without it "none" is only accepted by settings that may be None."""
    metadata = {"help": help, "none_means": none_means}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass
class TrainConfig:
    """Everything that defines a training run. Lists hold one entry per layer.

    Each field's type says what it holds (checked by :meth:`validate`, read by the command
    line's parser :func:`parse_setting`) and its metadata its help text (:data:`HELP`).
    """

    name: str = setting("custom", "a label for the run")
    dataset: str = setting("yinyang", f"one of {', '.join(DATASETS)}")
    hidden: list[int] = setting([120], "hidden layer sizes, comma separated (e.g. 800 or 400,400)",
                                none_means="no hidden layer")
    architecture: Optional[str] = setting(
        None, "layers after the input, replacing --hidden, e.g. 15c5-p2-40c5-p2-300-10 "
              "(15 channels 5x5 conv, 2x2 spike pooling, ..., 10 outputs)")
    tau_s: float = setting(1.0, "synaptic time constant of every layer")
    tau_mem: Optional[float] = setting(None, "membrane time constant of every layer, > 0 and not "
                                             "equal to tau_s; default (none): 2*tau_s")
    thresholds: list[float] = setting([1.0, 1.0], "firing threshold per layer (hidden..., output), "
                                                   "comma separated")
    resets: Optional[list[float]] = setting(None, "amount subtracted from u at a spike, per layer; "
                                                  "default: the threshold")
    max_spikes: list[int] = setting([10, 10], "spike slots per neuron per layer (1 = TTFS)")
    t_max: float = setting(math.inf, "simulation end: later spikes are dropped")
    init: list[str] = setting(["uniform:-1:1", "uniform:-1:1"],
                              "weight init per layer: uniform:LOW:HIGH or normal:MEAN:STD")
    # encodings
    t_window: float = setting(0.1, "image encoding window: t = t_window * (1 - pixel/255)")
    t_early: float = setting(0.15, "Yin-Yang: spike time of a coordinate equal to 0")
    t_late: float = setting(2.0, "Yin-Yang: spike time of a coordinate equal to 1")
    bias_time: Optional[float] = setting(0.9, "Yin-Yang: time of the bias spike ('none' for no "
                                              "bias input)")
    # loss
    loss: str = setting("spike_count", "spike_count (multi-spike) or ttfs (cross-entropy on first "
                                       "spike times)")
    target_true: float = setting(15.0, "spike-count target of the labelled output neuron")
    target_false: float = setting(3.0, "spike-count target of the other output neurons")
    tau_loss: float = setting(0.005, "TTFS loss temperature: logits = -t_first / tau_loss")
    silent_label_penalty: float = setting(
        0.0, "weight of the term that raises a silent label neuron's peak membrane potential "
             "towards the threshold, added to either loss (0 = off)")
    # optimisation
    lr: float = setting(0.003, "Adam learning rate")
    batch_size: int = setting(50, "training batch size")
    epochs: int = setting(100, "number of epochs")
    lr_schedule: str = setting("constant", f"learning-rate schedule over epochs: {', '.join(SCHEDULES)}")
    lr_gamma: float = setting(0.99, "per-epoch factor of the exponential schedule")
    lr_halving_epochs: int = setting(10, "step schedule: the learning rate halves every this many epochs")
    lr_min: float = setting(0.0, "step schedule: the learning rate never falls below this floor")
    seed: int = setting(0, "random seed (weights, shuffling, generated data)")
    # data
    data_dir: Optional[str] = setting(None, "folder with the data set files (Yin-Yang: the "
                                            "publication .npy files; without it Yin-Yang data is "
                                            "generated)")
    train_size: Optional[int] = setting(None, "use only the first N training samples (after the "
                                              "validation hold-out)")
    val_size: Optional[int] = setting(None, "validation samples held out of training (images: the "
                                            "last N training images, default 5000; Yin-Yang: the "
                                            "validation split, default all 1000); 0 for none")
    test_size: Optional[int] = setting(None, "use only the first N test samples")
    eval_batch_size: int = setting(500, "batch size for evaluation")

    @property
    def n_layers(self) -> int:
        if self.architecture:
            return len(_neuron_layer_specs(self.architecture))
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
        """The prediction rule that matches the loss (:func:`multispike.losses.prediction_rule`)."""
        return prediction_rule(self.loss)

    def validate(self) -> "TrainConfig":
        """Raise a ValueError naming the first inconsistent setting; return self. Every
        setting's value is first checked against its field type (:func:`check_setting`)."""
        for f in dataclasses.fields(self):
            check_setting(f.name, getattr(self, f.name))
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
        if not all(k >= 1 for k in self.max_spikes):
            raise ValueError(f"max_spikes must all be integers >= 1, got {self.max_spikes}")
        if not self.t_max > 0:
            raise ValueError(f"t_max must be > 0 (may be inf), got {self.t_max}")
        for name in ("tau_s", "lr", "t_window", "tau_loss"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.tau_mem is not None and not (self.tau_mem > 0 and self.tau_mem != self.tau_s):
            raise ValueError(f"tau_mem must be > 0 and differ from tau_s = {self.tau_s} (or None "
                             f"for 2*tau_s), got {self.tau_mem}")
        if not self.silent_label_penalty >= 0:
            raise ValueError(f"silent_label_penalty must be >= 0, got {self.silent_label_penalty}")
        if not self.lr <= MAX_LR:
            raise ValueError(f"lr must lie in (0, {MAX_LR:g}], got {self.lr:g}: an Adam step moves "
                             f"each weight by up to about lr, far beyond the weights' scale here")
        if not 0 <= self.lr_min <= self.lr:
            raise ValueError(f"lr_min must lie in [0, lr={self.lr}], got {self.lr_min}")
        for name in ("batch_size", "epochs", "eval_batch_size", "lr_halving_epochs"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("train_size", "val_size", "test_size"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"{name} must be a non-negative integer or None, got {value!r}")
        if self.train_size == 0 or self.test_size == 0:
            raise ValueError("train_size and test_size must be >= 1 (or None for all samples)")
        if any(h < 1 for h in self.hidden):
            raise ValueError(f"hidden sizes must be >= 1, got {self.hidden}")
        for spec in self.init:
            parse_init(spec)
        return self


class SettingKind(typing.NamedTuple):
    """What a setting holds, read from its field type: values of ``item`` (int, float or
    str), one or a list of them (``is_list``), or None where ``optional``."""

    item: type
    is_list: bool
    optional: bool


def _kind_of(hint) -> SettingKind:
    optional = False
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        (hint,) = [a for a in args if a is not type(None)]
        optional = type(None) in args
    if typing.get_origin(hint) is list:
        (item,) = typing.get_args(hint)
        return SettingKind(item, True, optional)
    return SettingKind(hint, False, optional)


@functools.lru_cache(maxsize=None)
def setting_kinds() -> dict:
    """{setting name: :class:`SettingKind`} of every TrainConfig field, from its type."""
    return {name: _kind_of(hint) for name, hint in typing.get_type_hints(TrainConfig).items()}


_WORDS = {int: ("an integer", "integers"), float: ("a number", "numbers"), str: ("a string", "strings")}


def _is_a(item: type, value) -> bool:
    if isinstance(value, bool):  # a bool is an int to Python, never a setting's value
        return False
    if item is int:
        return isinstance(value, numbers.Integral)
    if item is float:
        return isinstance(value, numbers.Real)
    return isinstance(value, item)


def check_setting(name: str, value) -> None:
    """Raise a ValueError naming setting ``name`` unless ``value`` is of its field's type:
    an int setting takes integers, a float one any real number, a list one a list (or tuple)
    of those, and an Optional one also None; a float is finite (only ``t_max`` may be +inf).
    The one place every setting is checked."""
    kind = setting_kinds()[name]
    if value is None and kind.optional:
        return
    one, many = _WORDS[kind.item]
    if kind.is_list:
        ok = isinstance(value, (list, tuple)) and all(_is_a(kind.item, v) for v in value)
        what = f"a list of {many}"
    else:
        ok = _is_a(kind.item, value)
        what = one
    if not ok:
        raise ValueError(f"{name} must be {what}{' or None' if kind.optional else ''}, got {value!r}")
    if kind.item is float:
        for v in value if kind.is_list else [value]:
            if not math.isfinite(v) and not (name in _MAY_BE_INFINITE and v == math.inf):
                raise ValueError(f"{name} must be a finite number, got {value}")


def _parse_item(item: type, text: str):
    if item is int:
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"expected an integer, got {text!r}") from None
    if item is float:
        if text.strip().lower() in ("inf", "infinity"):
            return math.inf
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"expected a number, got {text!r}") from None
    return text


def parse_setting(name: str, text: str):
    """The value of setting ``name`` written as command-line text, by its field type: a
    number ("inf" for infinity), a string, or comma-separated values for a list; "none" (or
    "null", or nothing) for None where the setting may be None, and for the empty list where
    its field says what that means (``hidden``: no hidden layer). Raises a ValueError that
    says what was expected; the values themselves are checked by :meth:`TrainConfig.validate`."""
    kind = setting_kinds()[name]
    word = text.strip().lower()
    if kind.optional and word in ("none", "null", ""):
        return None
    if not kind.is_list:
        return _parse_item(kind.item, text)
    none_means = next(f for f in dataclasses.fields(TrainConfig) if f.name == name).metadata["none_means"]
    if none_means is not None and word == "none":
        return []
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items:
        hint = f" ('none' for {none_means})" if none_means is not None else ""
        raise ValueError(f"expected comma-separated values, got an empty value{hint}")
    return [_parse_item(kind.item, item) for item in items]


def _neuron_layer_specs(architecture: str) -> list:
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


#: The help text of every setting, from its field's metadata.
HELP = {f.name: f.metadata["help"] for f in dataclasses.fields(TrainConfig)}


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

    if not Path(path).is_file():
        raise FileNotFoundError(f"the settings file {path} does not exist")
    with open(path) as f:
        try:
            values = json.load(f)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(values, dict):
        raise ValueError(f"{path} must hold a JSON object of TrainConfig fields")
    unknown = sorted(set(values) - {f.name for f in dataclasses.fields(TrainConfig)})
    if unknown:
        raise ValueError(f"{path}: unknown TrainConfig field(s) {unknown}")
    return values
