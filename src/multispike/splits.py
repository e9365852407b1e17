"""The data a run trains, validates and tests on: the data set a config names, loaded,
spike-encoded and split (:func:`load_data`), and the config with its data defaults made
explicit (:func:`resolve_config`), as a run stores it.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import torch

from .config import TrainConfig
from .data import generate_yinyang, load_image_dataset, load_yinyang
from .encoding import encode_images, encode_yinyang
from .presets import n_classes

__all__ = ["EncodedData", "load_data", "resolve_config", "DEFAULT_IMAGE_VAL_SIZE"]

#: Images held out of the end of the training set for validation unless ``val_size`` says.
DEFAULT_IMAGE_VAL_SIZE = 5000
#: Size of the generated Yin-Yang splits (as the publication's: 5000 / 1000 / 1000).
_YINYANG_GENERATED = {"train": 5000, "validation": 1000, "test": 1000}
_YINYANG_SEED_OFFSET = {"train": 1000, "test": 2000, "validation": 3000}


@dataclass
class EncodedData:
    """Spike-encoded splits: times (N, inputs, 1) and int64 labels. The validation split
    may be empty (``val_size = 0``)."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    n_classes: int

    @property
    def n_inputs(self) -> int:
        return self.x_train.shape[1]


def _take(name: str, size, x, y, available: str):
    """The first ``size`` samples (all when None); more than there are is an error."""
    if size is None:
        return x, y
    if size > len(x):
        raise ValueError(f"{name} = {size} is larger than the {len(x)} samples of {available}")
    return x[:size], y[:size]


def resolve_config(config: TrainConfig) -> TrainConfig:
    """A copy of ``config`` with every default made explicit, as a run stores it: the
    validation size and an absolute ``data_dir`` (so a checkpoint finds its data from any
    working folder)."""
    config = dataclasses.replace(config).validate()
    if config.val_size is None:
        config.val_size = (_YINYANG_GENERATED["validation"] if config.dataset == "yinyang"
                           else DEFAULT_IMAGE_VAL_SIZE)
    if config.data_dir is not None:
        config.data_dir = str(Path(config.data_dir).expanduser().resolve())
    return config


def load_data(config: TrainConfig) -> EncodedData:
    """Load and encode the data set named by ``config``, split into training, validation
    and test samples.

    Image data sets: the validation samples are the last ``val_size`` training images
    (default 5000), training uses the ones before them. Yin-Yang: the publication's
    validation split (``val_size`` = its first N samples, default all 1000); without
    ``data_dir`` all three splits are generated, seeded from ``config.seed``. ``train_size``
    and ``test_size`` take the first N samples; asking for more than exist is an error.
    """
    config = resolve_config(config)
    if config.dataset == "yinyang":
        if config.data_dir is None:
            splits = {s: generate_yinyang(n, seed=_YINYANG_SEED_OFFSET[s] + config.seed)
                      for s, n in _YINYANG_GENERATED.items()}
            where = "the generated Yin-Yang {} split"
        else:
            splits = {s: load_yinyang(config.data_dir, s) for s in _YINYANG_GENERATED}
            where = "the Yin-Yang {} split"
        (x_tr, y_tr), (x_va, y_va), (x_te, y_te) = (splits[s] for s in ("train", "validation", "test"))
        x_va, y_va = _take("val_size", config.val_size, x_va, y_va, where.format("validation"))
        enc = lambda s: encode_yinyang(s, config.t_early, config.t_late, config.bias_time)  # noqa: E731
    else:
        data = load_image_dataset(config.dataset, config.data_dir)
        n_val = config.val_size
        if n_val >= len(data.x_train):
            raise ValueError(f"val_size = {n_val} leaves no training images of the "
                             f"{len(data.x_train)} in {config.dataset}")
        cut = len(data.x_train) - n_val
        x_tr, y_tr = data.x_train[:cut], data.y_train[:cut]
        x_va, y_va = data.x_train[cut:], data.y_train[cut:]
        x_te, y_te = data.x_test, data.y_test
        where = f"{config.dataset}'s {{}} split" + (f" ({len(data.x_train)} minus {n_val} "
                                                    f"validation images)" if n_val else "")
        enc = lambda s: encode_images(s, config.t_window)  # noqa: E731
    x_tr, y_tr = _take("train_size", config.train_size, x_tr, y_tr, where.format("training"))
    x_te, y_te = _take("test_size", config.test_size, x_te, y_te,
                       where.split(" (")[0].format("test"))
    labels = lambda y: torch.as_tensor(y, dtype=torch.int64)  # noqa: E731
    return EncodedData(enc(x_tr), labels(y_tr), enc(x_va), labels(y_va), enc(x_te), labels(y_te),
                       n_classes(config.dataset))
