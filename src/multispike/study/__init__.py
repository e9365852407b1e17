"""The trade-off study: TTFS vs multi-spike networks (``multispike study <name>``).

Experiments (one module each): ``accuracy`` (accuracy and convergence speed over seeds),
``budget`` (spike-slot and threshold sweep, Pareto fronts), ``latency`` (accuracy against
time, decision times), ``noise`` (four kinds of noise), ``attack`` (white-box attacks on
the input spike times), ``convergence`` (the paper's initialisation experiment) and ``claims``
(a verdict on each of the paper's five claims from the per-seed networks of accuracy and
noise). Each module has ``plan(ctx)`` -> stages of tasks,
``summarize(ctx, results)`` -> Markdown section (it also writes CSV/JSON and PNG files).
:func:`run_study` runs the stages of several experiments together through an executor
(see :mod:`multispike.study.runner`) and writes ``report.md``.
"""
from __future__ import annotations

import time

from . import accuracy, attack, budget, claims, convergence, latency, noise
from .common import StudyContext
from .report import assemble_report, write_section
from .runner import LocalExecutor, SerialExecutor, run_tasks

__all__ = ["EXPERIMENTS", "StudyContext", "run_study", "LocalExecutor", "SerialExecutor"]

#: Experiment modules by name, in report order.
EXPERIMENTS = {m.NAME: m for m in (accuracy, budget, latency, noise, attack, convergence, claims)}


def run_study(ctx: StudyContext, names=None, header_lines=()) -> dict:
    """Run the experiments ``names`` (default: all) and write their sections and report.md.

    Stage i of every experiment runs together (training first, then the analyses that need
    the trained networks); tasks shared by experiments (the same training run) run once and
    finished tasks are skipped. Returns {name: seconds spent in its summary} and the total.
    """
    names = list(EXPERIMENTS) if names is None else list(names)
    unknown = [n for n in names if n not in EXPERIMENTS]
    if unknown:
        raise ValueError(f"unknown experiment(s) {unknown}; choose from {list(EXPERIMENTS)} or 'all'")
    ctx.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    plans = {n: EXPERIMENTS[n].plan(ctx) for n in names}
    results = {}
    for stage in range(max((len(p) for p in plans.values()), default=0)):
        tasks = [t for n in names for t in (plans[n][stage] if stage < len(plans[n]) else [])]
        ctx.log(f"stage {stage + 1}: {', '.join(n for n in names if stage < len(plans[n]) and plans[n][stage])}")
        results.update(run_tasks(tasks, ctx.executor, log=ctx.log))
    timings = {}
    for n in names:
        t1 = time.perf_counter()
        section = EXPERIMENTS[n].summarize(ctx, results)
        write_section(ctx.out, n, section)
        timings[n] = time.perf_counter() - t1
        ctx.log(f"{n}: section written to {ctx.out / n / 'section.md'}")
    assemble_report(ctx.out, list(EXPERIMENTS), header_lines)
    timings["total"] = time.perf_counter() - t0
    return timings
