"""Experiment 3, prediction latency: accuracy against time and decision-time distributions.

For one trained network per regime (seed 0 of the accuracy configuration, or the networks
given with ``--checkpoint-ttfs`` / ``--checkpoint-multispike``) the decision taken from the
output spikes before t is scored on the test set for every t of a grid, and each sample's
exact decision time (when its decision becomes final) is computed from its output spikes;
see :mod:`multispike.latency`.
"""
from __future__ import annotations

import dataclasses
import math

import torch

from ..files import write_csv, write_json
from .common import (REGIME_LABELS, REGIMES, StudyContext, describe_config, fmt, load_for_analysis,
                     network_sources)
from .report import image, md_table
from .runner import make_task, task_key

NAME = "latency"
TITLE = "Prediction latency"


def settings(ctx: StudyContext) -> dict:
    return {"grid_points": int(ctx.params.get("grid_points", 120 if ctx.quick else 400))}


def latency_task(checkpoint: str, data_dir=None, grid_points: int = 400, test_size=None) -> dict:
    """Decision times and accuracy-vs-time of the network in ``checkpoint`` on its test set
    (the first ``test_size`` samples if given)."""
    from ..latency import accuracy_over_time, decision_times, default_time_grid, latency_summary
    from ..metrics import network_activity

    net, config, data = load_for_analysis(checkpoint, data_dir, test_size)
    rule = config.prediction_rule
    out_times, activity = network_activity(net, data.x_test, config.eval_batch_size)
    metrics = {**latency_summary(out_times, data.y_test, rule).as_dict(), **activity}
    t_dec, pred = decision_times(out_times, rule)
    grid = default_time_grid(out_times, grid_points)
    acc = accuracy_over_time(out_times, data.y_test, grid, rule)
    settled = (t_dec.unsqueeze(1) < grid).to(torch.float64).mean(0)
    first = out_times.reshape(len(out_times), -1).min(-1).values
    any_spike = (first.unsqueeze(1) < grid).to(torch.float64).mean(0)
    return {"config": dataclasses.asdict(config), "rule": rule, "metrics": metrics,
            "t": grid, "accuracy": acc, "settled": settled, "any_output": any_spike,
            "decision_time": t_dec, "prediction": pred, "label": data.y_test}


def _tasks(ctx):
    train, sources = network_sources(ctx)
    s = settings(ctx)
    tasks = {}
    for regime, src in sources.items():
        kwargs = {"checkpoint": src["checkpoint"], "data_dir": ctx.data_dir, "grid_points": s["grid_points"],
                  "test_size": ctx.params.get("test_size")}
        key = f"latency-{regime}-{task_key(kwargs, src['stamp'])}"
        tasks[regime] = make_task(latency_task, kwargs, ctx.out / NAME / "results" / f"{key}.json", key=key)
    return train, tasks, sources


def plan(ctx: StudyContext) -> list:
    train, tasks, _ = _tasks(ctx)
    return [train, list(tasks.values())]


def _quantiles(values, qs=(0.1, 0.5, 0.9)):
    v = torch.tensor([x for x in values if x is not None], dtype=torch.float64)
    if v.numel() == 0:
        return [float("nan")] * len(qs)
    return [float(v.quantile(q)) for q in qs]


def summarize(ctx: StudyContext, results: dict) -> str:
    _, tasks, sources = _tasks(ctx)
    out = ctx.experiment_dir(NAME)
    res = {regime: results[t["key"]] for regime, t in tasks.items()}
    curve_rows, sample_rows, summary = [], [], {}
    correct_times = {}
    for regime, r in res.items():
        for t, a, st, an in zip(r["t"], r["accuracy"], r["settled"], r["any_output"]):
            curve_rows.append({"regime": regime, "t": t, "accuracy": a, "decision_final_fraction": st,
                               "any_output_spike_fraction": an})
        correct_times[regime] = []
        for i, (td, p, y) in enumerate(zip(r["decision_time"], r["prediction"], r["label"])):
            sample_rows.append({"regime": regime, "sample": i, "label": y, "prediction": p,
                                "correct": int(p == y), "decision_time": td})
            if p == y:
                correct_times[regime].append(td)
        q10, q50, q90 = _quantiles(correct_times[regime])
        m = r["metrics"]
        summary[regime] = {"checkpoint": sources[regime]["checkpoint"], "rule": r["rule"],
                           "t_max": r["config"]["t_max"], "accuracy": m["accuracy"],
                           "decided_fraction": m["decided_fraction"],
                           "mean_decision_time_correct": m["mean_decision_time_correct"],
                           "median_decision_time_correct": m["median_decision_time_correct"],
                           "p10_decision_time_correct": q10, "p90_decision_time_correct": q90,
                           "total_spikes_per_sample": m["total_spikes_per_sample"],
                           "time_to_95pct_of_final_accuracy": _time_to_fraction(r, 0.95),
                           "config": r["config"]}
    write_csv(out / "latency_curves.csv", curve_rows)
    write_csv(out / "decision_times.csv", sample_rows)
    write_json(out / "latency_summary.json", summary, indent=1)
    from .plots import decision_time_hist, latency_curves
    t_end = max(r["t"][-1] for r in res.values())
    png1 = latency_curves(out / "accuracy_vs_time.png", {g: res[g] for g in REGIMES}, REGIME_LABELS, t_end)
    png2 = decision_time_hist(out / "decision_times.png", correct_times, REGIME_LABELS)

    rows = [[REGIME_LABELS[g], summary[g]["rule"], fmt(summary[g]["accuracy"], 4, True),
             fmt(summary[g]["decided_fraction"], 4, True), fmt(summary[g]["mean_decision_time_correct"], 3),
             fmt(summary[g]["median_decision_time_correct"], 3),
             f"{fmt(summary[g]['p10_decision_time_correct'], 3)} – "
             f"{fmt(summary[g]['p90_decision_time_correct'], 3)}",
             fmt(summary[g]["time_to_95pct_of_final_accuracy"], 3), fmt(summary[g]["t_max"], 3)]
            for g in REGIMES]
    origin = ", ".join(f"{REGIME_LABELS[g]}: " + ("trained here, " + describe_config(summary[g]["config"])
                                                  if sources[g]["trained_here"]
                                                  else f"checkpoint `{sources[g]['checkpoint']}`")
                       for g in REGIMES)
    tt, ms = summary["ttfs"], summary["multispike"]
    m_t, m_m = tt["median_decision_time_correct"], ms["median_decision_time_correct"]
    if m_t is None or m_m is None or math.isnan(m_t) or math.isnan(m_m):
        speed = "One of the networks made no correct decision, so their decision times cannot be compared."
    else:
        faster = "TTFS" if m_t < m_m else "multi-spike"
        speed = (f"The {faster} network settles its correct decisions earlier (median {fmt(m_t, 3)} for TTFS "
                 f"vs {fmt(m_m, 3)} for multi-spike; the networks' t_max are {fmt(tt['t_max'], 3)} and "
                 f"{fmt(ms['t_max'], 3)}).")
    text = [f"## {TITLE}", "",
            f"**Run.** One network per regime ({origin}). The decision at time t uses only output "
            "spikes before t (TTFS: first output spike; multi-spike: most spikes so far, ties by the "
            "earlier first spike). The decision time of a sample is the exact time after which its "
            "decision no longer changes, computed from its sorted output spikes. Times are in the "
            "network's time units.", "",
            md_table(["regime", "rule", "final accuracy", "samples decided", "mean decision time (correct)",
                      "median (correct)", "10–90% range (correct)", "time to 95% of final accuracy",
                      "t_max"], rows), "",
            f"**Shows.** {speed} Accuracy of the final decisions: {fmt(tt['accuracy'], 4, True)} (TTFS), "
            f"{fmt(ms['accuracy'], 4, True)} (multi-spike). A TTFS decision is final at the first output "
            "spike, so its accuracy curve never falls; a spike-count decision can change with every "
            f"output spike (here the largest drop of the multi-spike curve is {_largest_drop(res['multispike'])} "
            "percentage points).", "",
            image(png1, ctx.out, "accuracy vs time"), "", image(png2, ctx.out, "decision times"), "",
            "Files: `latency/latency_curves.csv` (accuracy and fraction settled per time), "
            "`latency/decision_times.csv` (per test sample), `latency/latency_summary.json`."]
    return "\n".join(text)


def _time_to_fraction(r: dict, fraction: float):
    """Earliest grid time at which the accuracy reaches ``fraction`` of its final value."""
    final = r["accuracy"][-1]
    if not final:
        return None
    for t, a in zip(r["t"], r["accuracy"]):
        if a >= fraction * final:
            return t
    return None


def _largest_drop(r: dict) -> str:
    """Largest fall of an accuracy-vs-time curve from its running maximum, in points."""
    best, drop = 0.0, 0.0
    for a in r["accuracy"]:
        best = max(best, a)
        drop = max(drop, best - a)
    return f"{100 * drop:.2f}"
