"""Experiment 4, robustness: test accuracy under four kinds of noise, both regimes.

For one trained network per regime (seed 0 of the accuracy configuration, or the given
checkpoints) the test accuracy is measured under input spike-time jitter, input spike
deletion, multiplicative weight noise and threshold noise (see
:mod:`multispike.robustness`), at a sweep of levels, each repeated over several noise seeds
(mean ± std). Jitter levels are fractions of the input coding window (Yin-Yang:
t_late - t_early; images: t_window), so that both data sets use the same grid. At each
seed the same standard-normal draw is scaled by every level (common random numbers), which
keeps the curves smooth.
"""
from __future__ import annotations

from .common import REGIME_LABELS, REGIMES, StudyContext, fmt, load_for_analysis, network_sources, write_csv
from .report import image, md_table
from .runner import make_task, task_key, write_json

NAME = "noise"
TITLE = "Robustness to noise"

LEVELS_FULL = {
    "input_jitter": [0.0, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0],
    "input_deletion": [0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5],
    "weight": [0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7],
    "threshold": [0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7],
}
LEVELS_QUICK = {
    "input_jitter": [0.0, 0.1, 0.5],
    "input_deletion": [0.0, 0.1, 0.3],
    "weight": [0.0, 0.1, 0.3],
    "threshold": [0.0, 0.1, 0.3],
}
AXIS_LABELS = {
    "input_jitter": "input jitter σ (fraction of the coding window)",
    "input_deletion": "probability of deleting an input spike",
    "weight": "weight noise σ (relative, w·(1+σξ))",
    "threshold": "threshold noise σ (relative, θ·(1+σξ))",
}


def settings(ctx: StudyContext) -> dict:
    levels = LEVELS_QUICK if ctx.quick else LEVELS_FULL
    return {"levels": {k: list(v) for k, v in levels.items()},
            "noise_seeds": int(ctx.params.get("noise_seeds") or (2 if ctx.quick else 10))}


def coding_window(config) -> float:
    """Length of the input coding window of a training configuration."""
    if config.dataset == "yinyang":
        return config.t_late - config.t_early
    return config.t_window


def noise_task(checkpoint: str, kind: str, levels: list, seeds: int, data_dir=None, test_size=None) -> dict:
    """Accuracy of the network in ``checkpoint`` under noise ``kind`` at every level (for
    input jitter: fractions of the coding window), mean and std over ``seeds`` draws, on the
    test set (its first ``test_size`` samples if given)."""
    from ..robustness import robustness_sweep

    net, config, data = load_for_analysis(checkpoint, data_dir, test_size)
    scale = coding_window(config) if kind == "input_jitter" else 1.0
    rows = robustness_sweep(net, data.x_test, data.y_test, config.prediction_rule,
                            {kind: [scale * lv for lv in levels]}, seeds=range(seeds),
                            batch_size=config.eval_batch_size)
    for row, rel in zip(rows, levels):
        row["relative_level"] = rel
    return {"kind": kind, "rows": rows, "coding_window": coding_window(config), "t_max": config.t_max}


def _tasks(ctx):
    train, sources = network_sources(ctx)
    s = settings(ctx)
    tasks = {}
    for regime, src in sources.items():
        for kind, levels in s["levels"].items():
            kwargs = {"checkpoint": src["checkpoint"], "kind": kind, "levels": levels,
                      "seeds": s["noise_seeds"], "data_dir": ctx.data_dir,
                      "test_size": ctx.params.get("test_size")}
            key = f"noise-{regime}-{kind}-{task_key(kwargs, src['stamp'])}"
            tasks[(regime, kind)] = make_task(noise_task, kwargs, ctx.out / NAME / "results" / f"{key}.json",
                                              key=key)
    return train, tasks, sources


def plan(ctx: StudyContext) -> list:
    train, tasks, _ = _tasks(ctx)
    return [train, list(tasks.values())]


def summarize(ctx: StudyContext, results: dict) -> str:
    s = settings(ctx)
    _, tasks, sources = _tasks(ctx)
    out = ctx.experiment_dir(NAME)
    rows = []
    for (regime, kind), task in tasks.items():
        res = results[task["key"]]
        for r in res["rows"]:
            rows.append({"regime": regime, "kind": kind, "level": r["relative_level"],
                         "absolute_level": r["level"], "mean": r["mean"], "std": r["std"],
                         "n_seeds": len(r["accuracies"]),
                         "accuracies": " ".join(f"{a:.4f}" for a in r["accuracies"])})
    write_csv(out / "noise.csv", rows)
    write_json(out / "noise_summary.json", {"settings": s, "rows": rows,
                                            "checkpoints": {g: sources[g]["checkpoint"] for g in REGIMES}},
               indent=1)
    from .plots import noise_curves
    png = noise_curves(out / "noise.png", rows, REGIME_LABELS, AXIS_LABELS)

    table, drops = [], {}
    for kind, levels in s["levels"].items():
        for level in levels:
            cells = []
            for regime in REGIMES:
                r = next(x for x in rows if x["regime"] == regime and x["kind"] == kind and x["level"] == level)
                cells.append(f"{fmt(r['mean'], 4, True)} ± {fmt(r['std'], 3, True)}")
            table.append([kind.replace("_", " "), f"{level:g}", *cells])
        top = levels[-1]
        for regime in REGIMES:
            mine = [x for x in rows if x["regime"] == regime and x["kind"] == kind]
            clean = next(x for x in mine if x["level"] == levels[0])
            noisy = next(x for x in mine if x["level"] == top)
            drops[(regime, kind)] = (clean["mean"] - noisy["mean"], noisy["std"])
    robust = []
    for kind in s["levels"]:
        (d_t, sd_t), (d_m, sd_m) = drops[("ttfs", kind)], drops[("multispike", kind)]
        margin = max(0.005, sd_t + sd_m)  # differences within the seed spread are not claimed
        if abs(d_t - d_m) <= margin:
            verdict = "both regimes lose about the same"
        else:
            verdict = f"{'multi-spike' if d_m < d_t else 'TTFS'} is more robust"
        robust.append(f"{kind.replace('_', ' ')}: {verdict} (accuracy drop at level {s['levels'][kind][-1]:g}: "
                      f"TTFS {100 * d_t:.2f}, multi-spike {100 * d_m:.2f} percentage points)")
    text = [f"## {TITLE}", "",
            f"**Run.** One trained network per regime; test accuracy under each noise kind and level, "
            f"{s['noise_seeds']} noise draws per level (mean ± std). Input jitter σ is given as a "
            "fraction of the coding window, deletion as a probability per input spike, weight and "
            "threshold noise as relative standard deviations. Threshold noise is exact: with reset = "
            "threshold, a threshold θ(1+ε) equals weights w/(1+ε) at threshold θ.", "",
            md_table(["noise", "level", REGIME_LABELS["ttfs"], REGIME_LABELS["multispike"]], table), "",
            "**Shows.** " + "; ".join(robust) + ".", "",
            image(png, ctx.out, "accuracy vs noise"), "",
            "Files: `noise/noise.csv` (per regime, kind and level, with every draw), "
            "`noise/noise_summary.json`."]
    return "\n".join(text)
