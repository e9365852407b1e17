"""Encoding data as input spike times.

Both encoders return a float tensor of shape (N, n_inputs, 1): one spike time per input
neuron and sample, with ``+inf`` meaning that the input stays silent.
"""
from __future__ import annotations

import math

import numpy as np
import torch


def _as_tensor(data, name: str) -> torch.Tensor:
    if isinstance(data, torch.Tensor):
        return data
    if isinstance(data, np.ndarray):
        return torch.from_numpy(data)
    raise TypeError(f"{name} must be a numpy array or torch tensor, got {type(data).__name__}")


def _check_float_dtype(dtype) -> None:
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating point torch dtype, got {dtype!r}")


def _check_finite(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return float(value)


def encode_images(images, t_window: float = 0.1, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Time-to-first-spike encoding of 8-bit images: one spike per pixel.

    A pixel of intensity p fires at ``t = t_window * (1 - p / 255)``: white (255) fires at
    0, darker pixels later, and black pixels (0) never (``+inf``), so only the drawn part of
    an image produces events.

    ``images``: uint8 numpy array or torch tensor of shape (N, H, W). Returns a tensor of
    shape (N, H*W, 1) and the given floating ``dtype``, on the input tensor's device.
    Raises ``TypeError`` for a non-uint8 input or non-float ``dtype``, ``ValueError`` for a
    wrong shape or a ``t_window`` that is not finite and positive.
    """
    pixels = _as_tensor(images, "images")
    if pixels.dtype != torch.uint8:
        raise TypeError(f"images must have dtype uint8, got {pixels.dtype}")
    if pixels.ndim != 3:
        raise ValueError(f"images must have shape (N, H, W), got {tuple(pixels.shape)}")
    _check_float_dtype(dtype)
    t_window = _check_finite(t_window, "t_window")
    if t_window <= 0:
        raise ValueError(f"t_window must be positive, got {t_window}")

    flat = pixels.reshape(pixels.shape[0], pixels.shape[1] * pixels.shape[2])
    times = t_window * (1.0 - flat.to(torch.float64) / 255.0)
    times = times.masked_fill(flat == 0, math.inf)
    return times.to(dtype).unsqueeze(-1)


def encode_yinyang(
    samples,
    t_early: float = 0.15,
    t_late: float = 2.0,
    bias_time: float | None = 0.9,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Spike-time encoding of Yin-Yang samples, as in Göltz et al. (Fast & Deep, 2021).

    Each of the four coordinates (x, y, 1 - x, 1 - y), which lie in [0, 1], becomes one
    spike at ``t = t_early + v * (t_late - t_early)``; a fifth input, the bias, fires at
    ``bias_time`` for every sample (``bias_time=None`` leaves it out: shape (N, 4, 1)).

    Defaults are those of the Fast & Deep Yin-Yang experiments (github.com/JulianGoeltz/
    fastAndDeep: ``early=0.15``, ``late=2.0`` in ``src/datasets.py`` and
    ``bias_times: [0.9]`` in ``experiment_configs/yin_yang.yaml``), all in units of the
    synaptic time constant with tau_syn = tau_mem = 1. A bias spike at 0.9 falls inside the
    coding window, so the bias neuron can shift a hidden neuron's potential while the data
    spikes arrive; a spike at 0 (``bias_time=0.0``, as used by some EventProp setups) is the
    alternative. Rescale all three times if the network uses other time constants.

    ``samples``: float numpy array or tensor of shape (N, 4). Returns a tensor of shape
    (N, 5, 1) (or (N, 4, 1)) in ``dtype``. Raises ``TypeError`` for non-float input or
    dtype, ``ValueError`` for a wrong shape, values outside [0, 1] or NaN, non-finite
    times or ``t_late <= t_early``.
    """
    values = _as_tensor(samples, "samples")
    if not values.dtype.is_floating_point:
        raise TypeError(f"samples must be floating point, got {values.dtype}")
    if values.ndim != 2 or values.shape[1] != 4:
        raise ValueError(f"samples must have shape (N, 4), got {tuple(values.shape)}")
    if bool(torch.isnan(values).any()) or bool(((values < 0) | (values > 1)).any()):
        raise ValueError("samples must lie in [0, 1] (and not be NaN)")
    _check_float_dtype(dtype)
    t_early = _check_finite(t_early, "t_early")
    t_late = _check_finite(t_late, "t_late")
    if t_late <= t_early:
        raise ValueError(f"t_late must be later than t_early, got {t_early} and {t_late}")

    times = t_early + values.to(torch.float64) * (t_late - t_early)
    if bias_time is not None:
        bias_time = _check_finite(bias_time, "bias_time")
        bias = torch.full((times.shape[0], 1), bias_time, dtype=torch.float64, device=times.device)
        times = torch.cat([times, bias], dim=1)
    return times.to(dtype).unsqueeze(-1)
