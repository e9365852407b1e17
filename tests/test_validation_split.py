"""The validation split: training never sees it, it selects ``best.pt``, the test set selects
nothing."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from multispike.data import generate_yinyang, load_image_dataset, load_yinyang
from multispike.encoding import encode_images, encode_yinyang
from multispike.presets import get_preset
from multispike.train import DEFAULT_IMAGE_VAL_SIZE, load_data, resolve_config


def test_image_validation_is_the_last_5000_training_images(mnist_data_dir):
    config = get_preset("mnist-multispike", data_dir=str(mnist_data_dir / "mnist"))
    data = load_data(config)
    raw = load_image_dataset("mnist", mnist_data_dir / "mnist")
    assert DEFAULT_IMAGE_VAL_SIZE == 5000
    assert len(data.y_train) == 55000 and len(data.y_val) == 5000 and len(data.y_test) == 10000
    assert torch.equal(data.x_val, encode_images(raw.x_train[55000:], config.t_window))
    assert torch.equal(data.y_val, torch.as_tensor(raw.y_train[55000:]))
    assert torch.equal(data.x_train[-3:], encode_images(raw.x_train[54997:55000], config.t_window))
    # train_size takes the first images of the training part, never validation ones
    small = load_data(get_preset("mnist-multispike", data_dir=str(mnist_data_dir / "mnist"),
                                 train_size=100, val_size=50, test_size=10))
    assert torch.equal(small.x_train, data.x_train[:100])
    assert torch.equal(small.y_val, torch.as_tensor(raw.y_train[59950:]))
    with pytest.raises(ValueError, match="train_size = 55001 is larger than the 55000 samples"):
        load_data(get_preset("mnist-multispike", data_dir=str(mnist_data_dir / "mnist"),
                             train_size=55001, test_size=10))


def test_val_size_zero_trains_on_every_image(mnist_data_dir):
    data = load_data(get_preset("mnist-ttfs", data_dir=str(mnist_data_dir / "mnist"), val_size=0,
                                test_size=10))
    assert len(data.y_train) == 60000 and len(data.y_val) == 0
    assert data.x_val.shape[1:] == data.x_train.shape[1:]


def test_yinyang_publication_validation_split(shared_datasets):
    folder = shared_datasets / "yin_yang"
    if not (folder / "validation_samples.npy").is_file():
        pytest.skip("Yin-Yang publication data not found")
    config = get_preset("yinyang-ttfs", data_dir=str(folder))
    data = load_data(config)
    x_val, y_val = load_yinyang(folder, "validation")
    assert len(data.y_train) == 5000 and len(data.y_val) == 1000 and len(data.y_test) == 1000
    assert torch.equal(data.x_val, encode_yinyang(x_val, config.t_early, config.t_late, config.bias_time))
    assert torch.equal(data.y_val, torch.as_tensor(y_val))
    assert len(load_data(get_preset("yinyang-ttfs", data_dir=str(folder), val_size=300)).y_val) == 300


def test_generated_yinyang_has_its_own_validation_split():
    data = load_data(get_preset("yinyang-multispike", seed=3))
    assert (len(data.y_train), len(data.y_val), len(data.y_test)) == (5000, 1000, 1000)
    x_tr, x_va, x_te = (generate_yinyang(n, seed=offset + 3)[0] for n, offset in
                        ((5000, 1000), (1000, 3000), (1000, 2000)))
    assert not np.isin(x_va[:, 0], x_tr[:, 0]).any() and not np.isin(x_va[:, 0], x_te[:, 0]).any()


def test_resolved_config_states_the_split():
    assert resolve_config(get_preset("mnist-ttfs")).val_size == 5000
    assert resolve_config(get_preset("yinyang-ttfs")).val_size == 1000
    assert resolve_config(get_preset("mnist-ttfs", val_size=0)).val_size == 0
    with pytest.raises(ValueError, match="val_size must be a non-negative integer"):
        get_preset("mnist-ttfs", val_size=-1)
