"""Tests of multispike.encoding: image and Yin-Yang spike-time encoders."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from multispike.data import generate_yinyang
from multispike.encoding import encode_images, encode_yinyang


def small_images() -> np.ndarray:
    images = np.zeros((2, 2, 3), dtype=np.uint8)
    images[0] = [[0, 255, 128], [1, 0, 51]]
    images[1] = [[255, 255, 0], [0, 0, 0]]
    return images


def test_encode_images_values_and_shape():
    times = encode_images(small_images(), t_window=0.1, dtype=torch.float64)
    assert times.shape == (2, 6, 1) and times.dtype == torch.float64
    expected0 = [math.inf, 0.0, 0.1 * (1 - 128 / 255), 0.1 * (1 - 1 / 255), math.inf, 0.1 * 0.8]
    np.testing.assert_allclose(times[0, :, 0].numpy(), expected0, rtol=1e-15)
    np.testing.assert_array_equal(times[1, :, 0].numpy(), [0, 0] + [math.inf] * 4)


def test_encode_images_zero_pixels_silent_and_window():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(5, 28, 28), dtype=np.uint8)
    times = encode_images(images, t_window=2.5)
    assert times.dtype == torch.float32 and times.shape == (5, 784, 1)
    flat = images.reshape(5, -1)
    assert torch.equal(torch.isinf(times[..., 0]), torch.from_numpy(flat == 0))
    finite = times[torch.isfinite(times)]
    assert finite.min() >= 0 and finite.max() < 2.5


def test_encode_images_accepts_torch_input():
    images = small_images()
    from_numpy = encode_images(images)
    from_torch = encode_images(torch.from_numpy(images))
    assert torch.equal(from_numpy, from_torch)


@pytest.mark.parametrize(
    "images,error",
    [
        (np.zeros((2, 4, 4), dtype=np.float32), TypeError),
        (np.zeros((2, 4, 4), dtype=np.int64), TypeError),
        ([[[0, 1]]], TypeError),
        (np.zeros((4, 4), dtype=np.uint8), ValueError),
        (np.zeros((1, 2, 4, 4), dtype=np.uint8), ValueError),
    ],
)
def test_encode_images_rejects_bad_input(images, error):
    with pytest.raises(error):
        encode_images(images)


@pytest.mark.parametrize("window", [0.0, -1.0, math.inf, math.nan])
def test_encode_images_rejects_bad_window(window):
    with pytest.raises(ValueError):
        encode_images(small_images(), t_window=window)


def test_encode_images_rejects_non_float_dtype():
    with pytest.raises(TypeError):
        encode_images(small_images(), dtype=torch.int32)


def test_encode_yinyang_values():
    samples = np.array([[0.0, 1.0, 0.5, 0.25]])
    times = encode_yinyang(samples, dtype=torch.float64)
    assert times.shape == (1, 5, 1)
    np.testing.assert_allclose(times[0, :, 0].numpy(), [0.15, 2.0, 1.075, 0.6125, 0.9])
    custom = encode_yinyang(samples, t_early=0.0, t_late=1.0, bias_time=0.0, dtype=torch.float64)
    np.testing.assert_allclose(custom[0, :, 0].numpy(), [0.0, 1.0, 0.5, 0.25, 0.0])


def test_encode_yinyang_generated_samples():
    samples, _ = generate_yinyang(300, seed=4)
    times = encode_yinyang(samples)
    assert times.shape == (300, 5, 1) and times.dtype == torch.float32
    assert torch.all(times[:, 4, 0] == 0.9)
    data = times[:, :4, 0]
    assert data.min() >= 0.15 and data.max() <= 2.0
    # The mirrored inputs sum to t_early + t_late.
    torch.testing.assert_close(data[:, 0] + data[:, 2], torch.full((300,), 2.15))
    assert torch.equal(encode_yinyang(torch.from_numpy(samples)), times)


def test_encode_yinyang_without_bias():
    samples, _ = generate_yinyang(10, seed=1)
    assert encode_yinyang(samples, bias_time=None).shape == (10, 4, 1)


@pytest.mark.parametrize(
    "samples,kwargs,error",
    [
        (np.full((3, 2), 0.5), {}, ValueError),
        (np.full((3, 4), 1.5), {}, ValueError),
        (np.full((3, 4), np.nan), {}, ValueError),
        (np.ones((3, 4), dtype=np.int64), {}, TypeError),
        (np.full((3, 4), 0.5), {"t_early": 2.0, "t_late": 1.0}, ValueError),
        (np.full((3, 4), 0.5), {"bias_time": math.inf}, ValueError),
        (np.full((3, 4), 0.5), {"dtype": torch.int64}, TypeError),
    ],
)
def test_encode_yinyang_rejects_bad_input(samples, kwargs, error):
    with pytest.raises(error):
        encode_yinyang(samples, **kwargs)
