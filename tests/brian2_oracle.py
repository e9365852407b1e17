"""Independent reference simulator for the current-based LIF layer, built on brian2.

Model (all quantities dimensionless, times in "seconds")::

    du/dt = -u / tau + g          tau = tau_mem (default 2 * tau_s)
    dg/dt = -g / tau_s
    input spike of weight w at t_j:   g += w
    u >= theta                    ->  output spike, u -= reset   (g is not reset)

A single input of weight ``w`` at 0 gives ``u(t) = w * kappa * (exp(-t/tau) - exp(-t/tau_s))``,
kappa = tau tau_s / (tau - tau_s) (= tau when tau = 2 tau_s).

This is a clock-driven simulation (brian2, numpy code generation, ``method='exact'``),
written without reference to the event-driven implementation in ``multispike``.  It is
used as an oracle in the tests.

Timing conventions of brian2 (checked empirically, see ``tests/test_brian2_oracle.py``)
----------------------------------------------------------------------------------------
With brian2's default schedule ``start, groups, thresholds, synapses, resets, end`` the
time step labelled ``t_n = n*dt`` does, in order:

1. ``groups``: integrate the state exactly from its current value over one ``dt``;
2. ``thresholds``: the spike generator emits the input spikes with time ``t_n``, and the
   LIF group tests ``u >= theta`` on the *integrated* state; spikes are labelled ``t_n``;
3. ``synapses``: ``g += w`` for the inputs emitted in 2.;
4. ``resets``: ``u -= reset`` for the neurons that spiked.

Let the "state timeline" be the time at which the state variables are actually valid: at
the start of step ``n`` the state is the state at ``t_n``, after step 1 it is at
``t_{n+1}``.  Then an input spike labelled ``t_j`` enters ``g`` at state time
``t_j + dt`` (a one-step delay), and an output spike labelled ``t_n`` was crossed somewhere
in the state interval ``(t_n, t_{n+1}]``.  Because the delay is the same for every input,
the state timeline is just the true timeline shifted by ``dt``: a true crossing at ``T``
is a state-timeline crossing at ``T + dt``, i.e. it is labelled ``t_n = ceil(T/dt)*dt``
(the first grid point at or after ``T``).  So the raw brian2 spike times are biased late
by ``[0, dt)`` and no explicit compensation of the delay is needed for them.

With ``interpolate=True`` (default) we refine each output time inside its step: we
record ``u_prev`` (the state at state-time ``t_n``, saved in the ``start`` slot) and ``u``
(the state at ``t_{n+1}``, before the reset) at each spike and linearly interpolate the
crossing of ``theta`` at fraction ``frac`` of the step; the true time is then
``t_n - dt + frac * dt``.  The reset is corrected the same way: brian2 applies it
``(1 - frac) * dt`` after the crossing, so we subtract ``reset * exp(-(1 - frac) dt / tau)``,
which is exactly what a reset of ``reset`` at the crossing has decayed to by then (the
reset only affects ``u``, which decays with ``tau``).  Without this the reset lags the
crossing by up to ``dt`` and the error accumulates over successive spikes.  Inputs lie on
the grid, so none arrives strictly inside a step: ``u`` is smooth there, and since an
input only changes ``g`` (``u`` is continuous), it does not matter that the threshold test
at ``t_n`` precedes the input delivered at ``t_n``.  The remaining error is the linear
interpolation, O(dt^2 * |u''| / |u'|): ~1e-3 dt or less in the tests, except at
near-tangent crossings.

Known limitations of a dt-simulation (test networks must avoid them): a near-tangent
excursion above threshold that starts and ends within one step is missed, and a
sub-threshold maximum within ~1e-8 of theta may be seen as a crossing (or not); at most
one spike per neuron per step (a tiny reset with a huge drive could need more); input
times must be on the ``dt`` grid (use :func:`round_to_grid` and feed the same rounded times
to both simulators).
"""

from __future__ import annotations

import logging

import numpy as np

import brian2 as b2

b2.prefs.codegen.target = "numpy"
# brian2 logs code generation at DIAGNOSTIC level; keep test failure reports readable
logging.getLogger("brian2").setLevel(logging.WARNING)

__all__ = ["round_to_grid", "simulate_lif", "simulate_lif_batch"]


def round_to_grid(times, dt):
    """Round spike times to the nearest multiple of ``dt`` (``inf`` stays ``inf``)."""
    times = np.asarray(times, dtype=np.float64)
    out = np.array(times, copy=True)
    finite = np.isfinite(out)
    out[finite] = np.round(out[finite] / dt) * dt
    return out


def _collect_inputs(batch_input_times, weight, dt, n_steps):
    n_out, n_in = weight.shape
    gen_times, syn_i, syn_j, syn_w = [], [], [], []
    for b, sample in enumerate(batch_input_times):
        if len(sample) != n_in:
            raise ValueError(f"sample {b}: expected {n_in} inputs, got {len(sample)}")
        for i, ts in enumerate(sample):
            ts = np.asarray(ts, dtype=np.float64).ravel()
            for t in ts[np.isfinite(ts)]:
                k = t / dt
                if abs(k - round(k)) > 1e-6:
                    raise ValueError(f"input time {t!r} is not on the dt={dt} grid "
                                     "(use round_to_grid)")
                if t < 0:
                    raise ValueError(f"negative input time {t!r}")
                if round(k) >= n_steps:
                    continue  # never delivered within the run
                # One generator neuron per individual input spike: brian2 forbids two
                # spikes of one generator neuron in the same time bin; this avoids it.
                g_idx = len(gen_times)
                gen_times.append(round(k) * dt)
                for o in range(n_out):
                    if weight[o, i] != 0.0:
                        syn_i.append(g_idx)
                        syn_j.append(b * n_out + o)
                        syn_w.append(weight[o, i])
    return gen_times, syn_i, syn_j, syn_w


def simulate_lif_batch(batch_input_times, weight, tau_s, threshold, reset, t_end,
                       dt=1e-5, interpolate=True, record_voltage=False, tau_mem=None):
    """Simulate several independent samples through the same layer in one brian2 run
    (one network, ``batch * out_features`` neurons), which is much cheaper than one run
    per sample because brian2's numpy target pays a fixed cost per time step.

    ``batch_input_times``: list (batch) of lists (in_features) of 1-D arrays of input
    spike times (non-finite entries are ignored; finite ones must be on the ``dt`` grid).
    ``weight``: array (out_features, in_features).  ``reset=None`` means ``threshold``.
    ``interpolate``: sub-step interpolation of spike times and of the reset (see module
    docstring); ``False`` gives plain brian2 (times = first grid point after crossing).

    Returns a list (batch) of lists (out_features) of sorted float64 arrays of output
    spike times in ``[0, t_end)``.  With ``record_voltage=True`` returns
    ``(spikes, t, u)`` where ``u[b, o, n]`` is the membrane potential at true time
    ``t[n] = n*dt`` (before the reset of a spike labelled ``t[n]``).
    """
    weight = np.atleast_2d(np.asarray(weight, dtype=np.float64))
    n_out, _ = weight.shape
    n_batch = len(batch_input_times)
    if reset is None:
        reset = threshold
    n_steps = int(round(t_end / dt))
    gen_times, syn_i, syn_j, syn_w = _collect_inputs(batch_input_times, weight, dt,
                                                     n_steps)

    sec = b2.second
    clock = b2.Clock(dt=dt * sec)
    namespace = {"tau_s": tau_s * sec, "tau": (2.0 * tau_s if tau_mem is None else tau_mem) * sec,
                 "theta": float(threshold), "reset_amount": float(reset)}
    eqs = """
    du/dt = -u / tau + g : 1
    dg/dt = -g / tau_s : Hz
    u_prev : 1
    """
    if interpolate:
        # The crossing happened at true time t_n - (1 - frac)*dt; resetting at t_n by
        # reset*exp(-(1-frac)*dt/tau) is the same as resetting by `reset` at the
        # crossing (u then decays with tau and g is unaffected).
        reset_code = """
        frac_c = clip((theta - u_prev) / (u - u_prev), 0, 1)
        u -= reset_amount * exp(-(1 - frac_c) * dt / tau)
        """
    else:
        reset_code = "u -= reset_amount"
    G = b2.NeuronGroup(n_batch * n_out, eqs, threshold="u >= theta", reset=reset_code,
                       method="exact", clock=clock, namespace=namespace)
    objects = [G]
    G.run_regularly("u_prev = u", when="start", clock=clock)
    if syn_i:
        gen = b2.SpikeGeneratorGroup(len(gen_times), np.arange(len(gen_times)),
                                     np.asarray(gen_times) * sec, clock=clock)
        S = b2.Synapses(gen, G, "w : Hz", on_pre="g += w", clock=clock,
                        namespace={})
        S.connect(i=np.asarray(syn_i), j=np.asarray(syn_j))
        S.w[:] = np.asarray(syn_w) * b2.Hz
        objects += [gen, S]
    mon = b2.SpikeMonitor(G, variables=["u", "u_prev"])
    objects.append(mon)
    if record_voltage:
        # 'thresholds' slot, after the threshold test: integrated state, before reset.
        vmon = b2.StateMonitor(G, "u", record=True, when="thresholds", order=1)
        objects.append(vmon)
    net = b2.Network(*objects)
    if n_steps > 0:
        net.run(n_steps * dt * sec, namespace={})  # never resolve names from our frames

    idx = np.asarray(mon.i[:], dtype=np.int64)
    t_lab = np.asarray(mon.t[:] / sec, dtype=np.float64)
    if interpolate:
        u1 = np.asarray(mon.u[:], dtype=np.float64)
        u0 = np.asarray(mon.u_prev[:], dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            frac = np.clip((threshold - u0) / (u1 - u0), 0.0, 1.0)
        times = t_lab - dt + frac * dt
    else:
        times = t_lab
    spikes = [[np.sort(times[idx == b * n_out + o]) for o in range(n_out)]
              for b in range(n_batch)]
    if not record_voltage:
        return spikes
    u = np.asarray(vmon.u[:], dtype=np.float64).reshape(n_batch, n_out, -1)
    t = np.asarray(vmon.t[:] / sec, dtype=np.float64)
    return spikes, t, u


def simulate_lif(input_times, weight, tau_s, threshold, reset, t_end, dt=1e-5,
                 interpolate=True, record_voltage=False, tau_mem=None):
    """Simulate one sample. ``input_times``: list (in_features) of 1-D arrays of spike
    times on the ``dt`` grid; ``weight``: (out_features, in_features).  Returns a list
    (out_features) of sorted arrays of output spike times in ``[0, t_end)`` (with
    ``record_voltage=True``: ``(spikes, t, u)`` with ``u`` of shape (out, steps))."""
    res = simulate_lif_batch([input_times], weight, tau_s, threshold, reset, t_end,
                             dt=dt, interpolate=interpolate,
                             record_voltage=record_voltage, tau_mem=tau_mem)
    if record_voltage:
        spikes, t, u = res
        return spikes[0], t, u[0]
    return res[0]
