"""Experiment 2, spike budget: accuracy against energy and latency (Pareto fronts).

The multi-spike configuration is trained with K spike slots in every layer for each K in
the sweep and each hidden threshold (the preset's times a factor). The spike-count targets
scale with the budget, ceil(K/2) for the true class and floor(K/10) for the others (the
paper's 15 / 3 at K = 30). The TTFS configuration (cross-entropy, one slot) is trained at
the same hidden-threshold factors as a reference. Each trained network gives one point:
test accuracy against spikes per sample and against the mean decision time of correct
predictions; the Pareto front marks the configurations no other one beats on both axes.
"""
from __future__ import annotations

import math

from .common import (REGIME_LABELS, StudyContext, fmt, mean_std, pareto_front, regime_config,
                     run_name, training_tasks, write_csv)
from .report import image, md_table
from .runner import write_json

NAME = "budget"
TITLE = "Spike budget: accuracy vs energy and latency"


def settings(ctx: StudyContext) -> dict:
    slots = ctx.params.get("slots") or ([1, 3, 10] if ctx.quick else [1, 2, 3, 5, 10, 30])
    factors = ctx.params.get("threshold_factors") or ([0.5, 1.0] if ctx.quick else [0.5, 1.0, 2.0])
    epochs = ctx.params.get("budget_epochs")
    return {"slots": [int(k) for k in slots], "threshold_factors": [float(f) for f in factors],
            "seeds": list(range(ctx.n_seeds(1, 2) if ctx.params.get("budget_seeds") is None
                                else int(ctx.params["budget_seeds"]))),
            "epochs": None if epochs is None else int(epochs)}


def targets_for(slots: int) -> tuple:
    """Spike-count targets (true, false) for a budget of ``slots`` spikes."""
    return float(math.ceil(slots / 2)), float(math.floor(slots / 10))


def _configs(ctx) -> dict:
    """{(slots or None for TTFS, factor, seed): config}."""
    s = settings(ctx)
    extra = {} if s["epochs"] is None else {"epochs": s["epochs"]}
    configs = {}
    for factor in s["threshold_factors"]:
        for seed in s["seeds"]:
            base = regime_config(ctx, "multispike", seed, **extra)
            for k in s["slots"]:
                true, false = targets_for(k)
                thresholds = [t * factor for t in base.thresholds[:-1]] + base.thresholds[-1:]
                configs[(k, factor, seed)] = regime_config(
                    ctx, "multispike", seed, max_spikes=[k] * base.n_layers, thresholds=thresholds,
                    target_true=true, target_false=false,
                    name=f"budget-k{k}-f{factor:g}", **extra)
            ttfs = regime_config(ctx, "ttfs", seed, **extra)
            thresholds = [t * factor for t in ttfs.thresholds[:-1]] + ttfs.thresholds[-1:]
            # no new name: at factor 1 this is the accuracy experiment's run, trained once
            configs[(None, factor, seed)] = regime_config(ctx, "ttfs", seed, thresholds=thresholds, **extra)
    return configs


def plan(ctx: StudyContext) -> list:
    return [training_tasks(ctx, _configs(ctx).values())]


def summarize(ctx: StudyContext, results: dict) -> str:
    s = settings(ctx)
    out = ctx.experiment_dir(NAME)
    configs = _configs(ctx)
    run_rows = []
    for (k, factor, seed), config in configs.items():
        final = results[run_name(config)]["final"]
        run_rows.append({
            "loss": config.loss, "slots": k if k is not None else 1, "ttfs_loss": k is None,
            "hidden_threshold_factor": factor, "hidden_threshold": config.thresholds[0], "seed": seed,
            "target_true": config.target_true if k is not None else None,
            "target_false": config.target_false if k is not None else None,
            "accuracy": final["accuracy"], "total_spikes_per_sample": final["total_spikes_per_sample"],
            "total_synops_per_sample": final["total_synops_per_sample"],
            "mean_decision_time_correct": final["mean_decision_time_correct"],
            "median_decision_time_correct": final["median_decision_time_correct"],
            "hidden_silent_fraction": final["silent_fraction"][0],
            "hidden_saturated_fraction": final["saturated_fraction"][0],
            "hidden_full_slots_fraction": final["full_slots_fraction"][0],
            "output_silent_fraction": final["silent_fraction"][-1]})
    write_csv(out / "budget_runs.csv", run_rows)

    points = []
    for key in dict.fromkeys((k, f) for (k, f, _seed) in configs):
        k, factor = key
        rows = [r for r in run_rows if r["hidden_threshold_factor"] == factor
                and (r["ttfs_loss"] if k is None else (not r["ttfs_loss"] and r["slots"] == k))]
        points.append({
            "slots": k, "factor": factor,
            "label": "TTFS loss" if k is None else f"K={k}",
            "hidden_threshold": rows[0]["hidden_threshold"], "n_seeds": len(rows),
            "accuracy": mean_std(r["accuracy"] for r in rows)[0],
            "accuracy_std": mean_std(r["accuracy"] for r in rows)[1],
            "spikes": mean_std(r["total_spikes_per_sample"] for r in rows)[0],
            "synops": mean_std(r["total_synops_per_sample"] for r in rows)[0],
            "decision_time": mean_std(r["mean_decision_time_correct"] for r in rows)[0],
            "hidden_silent_fraction": mean_std(r["hidden_silent_fraction"] for r in rows)[0],
            "hidden_full_slots_fraction": mean_std(r["hidden_full_slots_fraction"] for r in rows)[0]})
    front_cost = pareto_front([p["spikes"] for p in points], [p["accuracy"] for p in points])
    front_time = pareto_front([p["decision_time"] for p in points], [p["accuracy"] for p in points])
    for i, p in enumerate(points):
        p["pareto_energy"] = i in front_cost
        p["pareto_latency"] = i in front_time
    write_csv(out / "budget_points.csv", points)
    write_json(out / "budget_summary.json", {"settings": s, "points": points,
                                             "pareto_energy": front_cost, "pareto_latency": front_time},
               indent=1)
    from .plots import pareto_plot
    png = pareto_plot(out / "budget_pareto.png", points, front_cost, front_time)

    rows = [[p["label"], f"{p['factor']:g} ({fmt(p['hidden_threshold'], 3)})",
             f"{fmt(p['accuracy'], 4, True)} ± {fmt(p['accuracy_std'], 3, True)}", fmt(p["spikes"], 4),
             fmt(p["synops"], 4), fmt(p["decision_time"], 3), fmt(p["hidden_silent_fraction"], 3, True),
             fmt(p["hidden_full_slots_fraction"], 3, True),
             ("E" if p["pareto_energy"] else "") + ("L" if p["pareto_latency"] else "")]
            for p in points]
    best = max(points, key=lambda p: -1 if math.isnan(p["accuracy"]) else p["accuracy"])
    cheapest = [points[i] for i in front_cost]
    text = [f"## {TITLE}", "",
            f"**Run.** The multi-spike configuration with K spike slots per neuron in every layer, "
            f"K in {s['slots']}, hidden threshold × {s['threshold_factors']} of the preset's, spike-count "
            "targets ceil(K/2) (true class) and floor(K/10) (others); the TTFS configuration "
            f"({REGIME_LABELS['ttfs']}, cross-entropy) at the same threshold factors as reference; "
            f"{len(s['seeds'])} seed(s) each (values are means over seeds). Energy = spikes per test "
            "sample over all layers; latency = mean decision time of correct predictions.", "",
            md_table(["configuration", "hidden θ factor (θ)", "test accuracy", "spikes / sample",
                      "synaptic ops / sample", "mean decision time", "hidden silent",
                      "hidden slots full", "Pareto (E = energy, L = latency)"], rows), "",
            f"**Shows.** The most accurate configuration is {best['label']} at hidden threshold × "
            f"{best['factor']:g} ({fmt(best['accuracy'], 4, True)}, {fmt(best['spikes'], 4)} spikes per "
            f"sample). The energy Pareto front (each point more accurate than every cheaper one) runs "
            "through " + ", ".join(f"{p['label']} (θ×{p['factor']:g}: {fmt(p['spikes'], 3)} spikes, "
                                   f"{fmt(p['accuracy'], 3, True)})" for p in cheapest) + ".", "",
            image(png, ctx.out, "accuracy vs spikes and decision time"), "",
            "Files: `budget/budget_runs.csv` (per run), `budget/budget_points.csv` (per configuration, "
            "with Pareto flags), `budget/budget_summary.json`."]
    return "\n".join(text)
