"""Experiment 1, accuracy and convergence speed: both regimes trained over several seeds.

Reports the final test accuracy and the test accuracy of the checkpoint selected on
validation accuracy (mean ± std over seeds), the number of epochs until the *validation*
accuracy first reaches each target (convergence speed), the energy and latency of the final
networks, and accuracy-vs-epoch curves. The test set selects nothing.
"""
from __future__ import annotations

import dataclasses
import math

from ..files import write_csv, write_json
from .common import (REGIME_LABELS, REGIMES, StudyContext, describe_config, fmt, mean_std, regime_config,
                     run_name, study_seeds, training_tasks)
from .report import image, md_table

NAME = "accuracy"
TITLE = "Accuracy and convergence speed"

# validation accuracies whose first epoch measures convergence speed, per data set: within
# reach of both regimes, so that the claims compare epochs rather than runs that never get there
_FASHION_TARGETS = (0.75, 0.8, 0.85)
_TARGETS = {"yinyang": (0.7, 0.8, 0.9), "quick": (0.4, 0.5, 0.6),
            "fashion-mnist": _FASHION_TARGETS, "fashion-mnist-conv": _FASHION_TARGETS}
_IMAGE_TARGETS = (0.9, 0.95, 0.98)


def settings(ctx: StudyContext) -> dict:
    targets = ctx.params.get("targets")
    if targets is None:
        targets = _TARGETS["quick"] if ctx.quick else _TARGETS.get(ctx.dataset, _IMAGE_TARGETS)
    return {"seeds": study_seeds(ctx), "targets": [float(t) for t in targets]}


def _configs(ctx):
    s = settings(ctx)
    return {(regime, seed): regime_config(ctx, regime, seed) for regime in REGIMES for seed in s["seeds"]}


def plan(ctx: StudyContext) -> list:
    return [training_tasks(ctx, _configs(ctx).values())]


def epochs_to_reach(history: list, target: float):
    """First epoch (1-based) whose validation accuracy is >= target; None if never."""
    for record in history:
        if record.get("val_accuracy") is not None and record["val_accuracy"] >= target:
            return record["epoch"]
    return None


def run_rows(ctx: StudyContext, results: dict) -> tuple:
    """(per-epoch curve rows, one row per trained run) of the accuracy experiment."""
    s = settings(ctx)
    curve_rows, run_rows_ = [], []
    for (regime, seed), config in _configs(ctx).items():
        res = results[run_name(config)]
        for r in res["history"]:
            curve_rows.append({"regime": regime, "seed": seed, **r})
        final = res["final"]
        selected = res.get("selected_test_accuracy")
        row = {"regime": regime, "seed": seed, "final_test_accuracy": final["accuracy"],
               "selected_test_accuracy": math.nan if selected is None else selected,
               "selected_epoch": res.get("selected_epoch"), "epochs": len(res["history"]),
               "total_spikes_per_sample": final["total_spikes_per_sample"],
               "total_synops_per_sample": final["total_synops_per_sample"],
               "mean_decision_time_correct": final["mean_decision_time_correct"],
               "median_decision_time_correct": final["median_decision_time_correct"],
               "hidden_silent_fraction": final["silent_fraction"][0],
               "train_time_per_epoch_s": mean_std(r["train_time_s"] for r in res["history"])[0]}
        for t in s["targets"]:
            row[f"epochs_to_{t:g}"] = epochs_to_reach(res["history"], t)
        run_rows_.append(row)
    return curve_rows, run_rows_


def summarize(ctx: StudyContext, results: dict) -> str:
    s = settings(ctx)
    out = ctx.experiment_dir(NAME)
    configs = _configs(ctx)
    curve_rows, run_rows_ = run_rows(ctx, results)
    write_csv(out / "accuracy_curves.csv", curve_rows)
    write_csv(out / "accuracy_runs.csv", run_rows_)

    curves, summary = {}, {}
    for regime in REGIMES:
        rows = [r for r in run_rows_ if r["regime"] == regime]
        hist = [r for r in curve_rows if r["regime"] == regime]
        epochs = sorted({r["epoch"] for r in hist})
        by_epoch = {e: [r for r in hist if r["epoch"] == e] for e in epochs}
        curves[regime] = {
            "epoch": epochs,
            "test_mean": [mean_std(r["test_accuracy"] for r in by_epoch[e])[0] for e in epochs],
            "test_std": [mean_std(r["test_accuracy"] for r in by_epoch[e])[1] for e in epochs],
            "train_mean": [mean_std(r["train_accuracy"] for r in by_epoch[e])[0] for e in epochs],
            "spikes_mean": [mean_std(r["total_spikes_per_sample"] for r in by_epoch[e])[0] for e in epochs],
        }
        summary[regime] = {
            "config": dataclasses.asdict(configs[(regime, s["seeds"][0])]),
            "n_seeds": len(rows),
            **{f"{k}_{stat}": v for k in ("final_test_accuracy", "selected_test_accuracy",
                                          "total_spikes_per_sample", "total_synops_per_sample",
                                          "mean_decision_time_correct", "train_time_per_epoch_s")
               for stat, v in zip(("mean", "std"), mean_std(r[k] for r in rows))},
            "epochs_to_target": {f"{t:g}": {"reached": sum(r[f"epochs_to_{t:g}"] is not None for r in rows),
                                            "mean": mean_std(r[f"epochs_to_{t:g}"] for r in rows)[0],
                                            "std": mean_std(r[f"epochs_to_{t:g}"] for r in rows)[1]}
                                 for t in s["targets"]},
        }
    write_json(out / "accuracy_summary.json", {"settings": s, "regimes": summary, "curves": curves}, indent=1)
    from .plots import accuracy_curves
    png = accuracy_curves(out / "accuracy_curves.png", curves, REGIME_LABELS, s["targets"])

    def pm(regime, key, pct=False):
        m, sd = summary[regime][f"{key}_mean"], summary[regime][f"{key}_std"]
        return f"{fmt(m, 4, pct)} ± {fmt(sd, 3, pct)}"

    rows = []
    for regime in REGIMES:
        sm = summary[regime]
        reach = []
        for t in s["targets"]:
            e = sm["epochs_to_target"][f"{t:g}"]
            reach.append(f"{fmt(e['mean'], 3)} ({e['reached']}/{sm['n_seeds']})")
        rows.append([REGIME_LABELS[regime], pm(regime, "final_test_accuracy", True),
                     pm(regime, "selected_test_accuracy", True), *reach,
                     pm(regime, "total_spikes_per_sample"), pm(regime, "total_synops_per_sample"),
                     pm(regime, "mean_decision_time_correct")])
    header = ["regime", "final test acc.", "test acc. (val.-selected)",
              *[f"epochs to {100 * t:g}%" for t in s["targets"]],
              "spikes / sample", "synaptic ops / sample", "mean decision time"]
    cfg = {r: summary[r]["config"] for r in REGIMES}
    ms, tt = summary["multispike"], summary["ttfs"]
    gap = ms["final_test_accuracy_mean"] - tt["final_test_accuracy_mean"]
    ratio = (ms["total_spikes_per_sample_mean"] / tt["total_spikes_per_sample_mean"]
             if tt["total_spikes_per_sample_mean"] else math.nan)
    text = [f"## {TITLE}", "",
            f"**Run.** Both regimes on {ctx.dataset} ({'quick' if ctx.quick else 'full'} scale), "
            f"{len(s['seeds'])} seeds each; {describe_config(cfg['ttfs'])} (TTFS) and "
            f"{describe_config(cfg['multispike'])} (multi-spike). The selected checkpoint is the epoch "
            "with the best validation accuracy. Convergence speed is the first epoch "
            "whose validation accuracy reaches the target (mean over the seeds that reached it; in "
            "brackets how many did). Energy and latency are measured on the final network.", "",
            md_table(header, rows), "",
            f"**Shows.** The multi-spike networks end {abs(100 * gap):.2f} percentage points "
            f"{'above' if gap >= 0 else 'below'} the TTFS networks in final test accuracy and use "
            f"{fmt(ratio, 3)}× as many spikes per sample.", "",
            image(png, ctx.out, "accuracy vs epoch"), "",
            "Files: `accuracy/accuracy_curves.csv` (per seed and epoch), `accuracy/accuracy_runs.csv` "
            "(per run), `accuracy/accuracy_summary.json`."]
    return "\n".join(text)
