"""The peak membrane potential of a layer's neurons in closed form, differentiable in torch.

Without its own spikes (no reset) neuron n's potential is, with the membrane time constant
tau (``tau_mem``, 2 tau_s unless given; tau != tau_s) and kappa = tau tau_s / (tau - tau_s),

    u(t)/kappa = B(t) exp(-t/tau) - A(t) exp(-t/tau_s),   A(t) = sum_{t_j < t} w_nj exp(t_j/tau_s),
                                                          B(t) = sum_{t_j < t} w_nj exp(t_j/tau),

so between two consecutive input events t_k <= t < t_{k+1} (A, B fixed) it is a smooth
function of t. Its slope vanishes where exp(t (1/tau_s - 1/tau)) = r = tau A / (tau_s B), so
it has at most one stationary point, t* = kappa ln r (A and B of one sign), where
u'' = -A exp(-t*/tau_s) / tau_s: a maximum exactly when A > 0 and B > 0, of value

    u* = tau_s B exp(-t*/tau) = tau_s B r^(-tau_s / (tau - tau_s))
       (tau = 2 tau_s: kappa = tau, t* = tau ln(2A/B), u* = tau B^2 / (4A)).

The largest potential on [t_1, t_max] (t_1 the first input event) is therefore the largest of
the window maxima u* whose t* lies inside their window and of the values at the window ends
t_2, ..., t_n, t_max (u is continuous, input events only make its slope jump). The start t_1,
where u = 0 for every weight, is left out: if the potential is positive anywhere this changes
nothing, and if it is nowhere positive the peak is the largest of the remaining candidates,
a value below zero that still depends on the weights. Every candidate is a closed-form
expression of the weights and input times computed with torch operations, so autograd gives
the exact gradient of the peak u_p = u(t_p): with s_j = t_p - t_j for the inputs before t_p,

    du_p/dw_nj = kappa (exp(-s_j/tau) - exp(-s_j/tau_s)),
    du_p/dt_j  = w_nj kappa (exp(-s_j/tau)/tau - exp(-s_j/tau_s)/tau_s),

plus, when the peak sits at a window end that is an input event t_e, the slope u'(t_e^-)
added to du_p/dt_e (the peak moves with that event). At an interior maximum du/dt = 0, so the
movement of t* itself adds nothing, and at t_max the end does not move.

For a neuron that does not fire up to t_max this is its actual peak potential, and it lies
below the threshold; for a neuron that fires it is the potential it would reach without reset.
A and B are taken relative to the sample's first input event, so the exponentials stay finite
while (t_max - t_1) / min(tau, tau_s) < ``MAX_SPAN`` in float64.

The mean potential (:func:`mean_potential`) over the window [t_1, t_end] (t_end = t_max, or
the last input event + 2 max(tau, tau_s) when t_max is infinite) is, with the integral of one
input's postsynaptic kernel kappa(s) = kappa (exp(-s/tau) - exp(-s/tau_s)),

    u_mean = 1/(t_end - t_1) sum_{t_j < t_end} w_nj I(t_end - t_j),
    I(S) = kappa (tau (1 - exp(-S/tau)) - tau_s (1 - exp(-S/tau_s))) > 0 for S > 0,

so du_mean/dw_nj = I(t_end - t_j) / (t_end - t_1) does not vanish for any input event well
before t_end, where the gradient of a peak that sits just after the first input event does.
"""
from __future__ import annotations

import math

import torch

__all__ = ["peak_potential", "mean_potential", "MAX_SPAN"]

MAX_SPAN = 600.0


def _time_constants(in_times, weight, tau_s, t_max, tau_mem) -> tuple[float, float]:
    """(tau, kappa) of the membrane, or a ValueError unless the arguments of
    :func:`peak_potential` / :func:`mean_potential` have the documented shapes and ranges."""
    if not isinstance(in_times, torch.Tensor) or in_times.dim() != 3:
        raise ValueError("in_times must be a (batch, in_features, slots) tensor, got "
                         f"{getattr(in_times, 'shape', type(in_times).__name__)}")
    if not isinstance(weight, torch.Tensor) or weight.dim() != 2 or weight.shape[1] != in_times.shape[1]:
        raise ValueError(f"weight must be an (out_features, {in_times.shape[1]}) tensor, got "
                         f"{getattr(weight, 'shape', type(weight).__name__)}")
    if not (isinstance(tau_s, (int, float)) and math.isfinite(tau_s) and tau_s > 0):
        raise ValueError(f"tau_s must be a finite number > 0, got {tau_s!r}")
    if not (isinstance(t_max, (int, float)) and t_max > 0):
        raise ValueError(f"t_max must be a number > 0 (may be inf), got {t_max!r}")
    if tau_mem is None:
        tau = 2.0 * tau_s
    elif not (isinstance(tau_mem, (int, float)) and math.isfinite(tau_mem) and tau_mem > 0
              and tau_mem != tau_s):
        raise ValueError(f"tau_mem must be a finite number > 0 other than tau_s = {tau_s} "
                         f"(or None for 2 tau_s), got {tau_mem!r}")
    else:
        tau = float(tau_mem)
    return tau, tau / (tau / tau_s - 1.0)  # kappa = tau tau_s / (tau - tau_s), exact at 2:1


def peak_potential(in_times: torch.Tensor, weight: torch.Tensor, tau_s: float,
                   t_max: float = math.inf, tau_mem: float | None = None) -> torch.Tensor:
    """Peak reset-free membrane potential of every neuron on [first input, t_max].

    Args:
        in_times: (batch, in_features, slots) input spike times, +inf = empty slot; events at
            or after ``t_max`` are ignored.
        weight: (out_features, in_features) synaptic weights.
        tau_s: synaptic time constant.
        t_max: end of the simulation (may be inf).
        tau_mem: membrane time constant (> 0, not tau_s); None is 2 tau_s.

    Returns (batch, out_features) in the dtype of ``in_times``, computed in float64, and 0 for
    a sample without input events before ``t_max``.
    """
    tau, kappa = _time_constants(in_times, weight, tau_s, t_max, tau_mem)
    fastest = min(tau, tau_s)
    batch, n_in, slots = in_times.shape
    if batch == 0 or n_in * slots == 0:
        return (in_times.new_zeros(batch, weight.shape[0]) + 0 * weight.sum()).to(in_times.dtype)
    times = in_times.to(torch.float64).reshape(batch, n_in * slots)
    valid = torch.isfinite(times) & (times < t_max)
    key = torch.where(valid, times, torch.full_like(times, math.inf))
    order = key.detach().argsort(dim=1, stable=True)
    valid = valid.gather(1, order)
    t_ref = torch.where(valid[:, :1], key.detach().gather(1, order[:, :1]), 0.0)  # (batch, 1)
    t = torch.where(valid, times.gather(1, order), t_ref)  # finite everywhere
    horizon = t_max if math.isfinite(t_max) else t.max(dim=1, keepdim=True).values
    if ((horizon - t_ref) * valid[:, :1]).max().item() / fastest > MAX_SPAN:
        raise ValueError(f"(t_max - first input time) / min(tau_s, tau_mem) must stay below "
                         f"{MAX_SPAN} for the peak potential in float64; lower t_max")

    source = torch.arange(n_in, device=times.device).repeat_interleave(slots)[order]
    w = weight.to(torch.float64).t()[source] * valid.unsqueeze(-1)  # (batch, events, out)
    s = (t - t_ref).unsqueeze(-1)
    a = torch.cumsum(w * torch.exp(s / tau_s), dim=1)  # A after each event
    b = torch.cumsum(w * torch.exp(s / tau), dim=1)  # B after each event

    # window k runs from event k to event k+1 (to t_max after the last event)
    next_valid = torch.cat([valid[:, 1:], torch.zeros_like(valid[:, :1])], dim=1)
    next_t = torch.cat([t[:, 1:], t[:, :1]], dim=1)
    end = torch.where(next_valid, next_t, torch.full_like(t, t_max))
    has_end = valid & torch.isfinite(end)
    z_end = torch.exp((torch.where(has_end, end, t_ref) - t_ref) / tau).unsqueeze(-1)
    u_end = kappa * (b / z_end - a / z_end ** (tau / tau_s))  # z^(tau/tau_s) = exp(x/tau_s)
    u_end = torch.where(has_end.unsqueeze(-1), u_end, -math.inf)

    rising = valid.unsqueeze(-1) & (a > 0) & (b > 0)
    a_safe = torch.where(rising, a, 1.0)
    b_safe = torch.where(rising, b, 1.0)
    log_r = torch.log((tau / tau_s) * a_safe / b_safe)
    with torch.no_grad():
        t_star = t_ref.unsqueeze(-1) + kappa * log_r
        inside = rising & (t_star > t.unsqueeze(-1)) & (t_star < end.unsqueeze(-1))
    u_star = torch.where(inside, tau_s * b_safe * torch.exp(-(tau_s / (tau - tau_s)) * log_r), -math.inf)

    peak = torch.cat([u_end, u_star], dim=1).max(dim=1).values
    peak = torch.where(torch.isinf(peak), 0.0, peak)
    return peak.to(in_times.dtype)


def mean_potential(in_times: torch.Tensor, weight: torch.Tensor, tau_s: float,
                   t_max: float = math.inf, tau_mem: float | None = None) -> torch.Tensor:
    """Mean reset-free membrane potential of every neuron over [first input, t_end] (module
    docstring), differentiable with respect to ``weight`` and ``in_times``.

    Arguments as in :func:`peak_potential`. Returns (batch, out_features) in the dtype of
    ``in_times``, computed in float64, and 0 for a sample without input events before t_max.
    """
    tau, kappa = _time_constants(in_times, weight, tau_s, t_max, tau_mem)
    batch, n_in, slots = in_times.shape
    times = in_times.to(torch.float64).reshape(batch, n_in * slots)
    valid = torch.isfinite(times) & (times < t_max)
    if batch == 0 or not bool(valid.any()):
        return (in_times.new_zeros(batch, weight.shape[0]) + 0 * weight.sum()).to(in_times.dtype)
    t = torch.where(valid, times, 0.0)  # finite everywhere; invalid events are masked below
    first = torch.where(valid, t, math.inf).min(dim=1, keepdim=True).values
    if math.isfinite(t_max):
        end = torch.full_like(first, t_max)
    else:
        end = torch.where(valid, t, -math.inf).max(dim=1, keepdim=True).values + 2 * max(tau, tau_s)
    has_events = valid.any(dim=1, keepdim=True)
    first = torch.where(has_events, first, 0.0)
    end = torch.where(has_events, end, 1.0)
    span = torch.clamp(end - t, min=0.0)
    kernel_integral = kappa * (tau * -torch.expm1(-span / tau) - tau_s * -torch.expm1(-span / tau_s))
    drive = kernel_integral * valid  # (batch, events)
    source_weight = weight.to(torch.float64).t().repeat_interleave(slots, dim=0)  # (events, out)
    mean = (drive @ source_weight) / (end - first)
    return torch.where(has_events, mean, 0.0).to(in_times.dtype)
