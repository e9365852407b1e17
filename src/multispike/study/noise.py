"""Experiment 4, robustness: test accuracy under four kinds of noise, both regimes.

For every trained network of each regime (every seed of the accuracy configuration, or the
given checkpoints) the test accuracy is measured under input spike-time jitter, input spike
deletion, multiplicative weight noise and threshold noise (see
:mod:`multispike.robustness`), at a sweep of levels, each repeated over several noise draws.
A network's accuracy at a level is the mean over its draws; the tables give the mean ± std
of that over the networks of a regime, so the spread is the one between trained networks. Jitter levels are fractions of the input coding window (Yin-Yang:
t_late - t_early; images: t_window), so that both data sets use the same grid. At each
seed the same standard-normal draw is scaled by every level (common random numbers), which
keeps the curves smooth.
"""
from __future__ import annotations

from ..files import write_csv, write_json
from .common import REGIME_LABELS, REGIMES, StudyContext, fmt, load_for_analysis, mean_std, seed_networks
from .report import image, md_table
from .runner import make_task, task_key

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
    t_lo, t_hi = config.input_window
    return t_hi - t_lo


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
    train, sources = seed_networks(ctx)
    s = settings(ctx)
    tasks = {}
    for (regime, seed), src in sources.items():
        for kind, levels in s["levels"].items():
            kwargs = {"checkpoint": src["checkpoint"], "kind": kind, "levels": levels,
                      "seeds": s["noise_seeds"], "data_dir": ctx.data_dir,
                      "test_size": ctx.params.get("test_size")}
            key = f"noise-{regime}-{seed}-{kind}-{task_key(kwargs, src['stamp'])}"
            tasks[(regime, seed, kind)] = make_task(noise_task, kwargs,
                                                    ctx.out / NAME / "results" / f"{key}.json", key=key)
    return train, tasks, sources


def network_rows(ctx: StudyContext, results: dict) -> list:
    """One row per (regime, network, kind, level): the network's mean accuracy over draws."""
    _, tasks, _ = _tasks(ctx)
    rows = []
    for (regime, seed, kind), task in tasks.items():
        for r in results[task["key"]]["rows"]:
            rows.append({"regime": regime, "network": seed, "kind": kind, "level": r["relative_level"],
                         "absolute_level": r["level"], "accuracy": r["mean"], "draw_std": r["std"],
                         "accuracies": " ".join(f"{a:.4f}" for a in r["accuracies"])})
    return rows


def accuracy_drops(rows: list, levels: dict) -> dict:
    """{(regime, kind): [per-network mean accuracy drop over the noisy levels]}.

    A network's drop is the clean accuracy minus its accuracy at each noisy level of the
    grid, averaged over those levels (the area between its clean and noisy accuracy curves
    on the grid's points). The strongest level alone would compare networks that are all
    near chance; the mean also weighs the moderate noise where they differ.
    """
    drops = {}
    for kind, kind_levels in levels.items():
        for regime in REGIMES:
            mine = [r for r in rows if r["regime"] == regime and r["kind"] == kind]
            accuracy = {(r["network"], r["level"]): r["accuracy"] for r in mine}
            networks = sorted({r["network"] for r in mine})
            drops[(regime, kind)] = [
                sum(accuracy[(n, kind_levels[0])] - accuracy[(n, level)] for level in kind_levels[1:])
                / len(kind_levels[1:])
                for n in networks if all((n, level) in accuracy for level in kind_levels)]
    return drops


def drop_measure(kind_levels) -> str:
    """How :func:`accuracy_drops` is named in reports."""
    return f"mean accuracy drop over levels {kind_levels[1]:g}-{kind_levels[-1]:g}"


def plan(ctx: StudyContext) -> list:
    train, tasks, _ = _tasks(ctx)
    return [train, list(tasks.values())]


def summarize(ctx: StudyContext, results: dict) -> str:
    from .stats import compare

    s = settings(ctx)
    _, _, sources = _tasks(ctx)
    out = ctx.experiment_dir(NAME)
    per_network = network_rows(ctx, results)
    rows = []
    for kind, levels in s["levels"].items():
        for level in levels:
            for regime in REGIMES:
                accs = [r["accuracy"] for r in per_network
                        if r["regime"] == regime and r["kind"] == kind and r["level"] == level]
                mean, std = mean_std(accs)
                rows.append({"regime": regime, "kind": kind, "level": level, "mean": mean, "std": std,
                             "n_networks": len(accs)})
    write_csv(out / "noise_networks.csv", per_network)
    write_csv(out / "noise.csv", rows)
    write_json(out / "noise_summary.json", {"settings": s, "rows": rows,
                                            "checkpoints": {f"{g}-{n}": src["checkpoint"]
                                                            for (g, n), src in sources.items()}},
               indent=1)
    from .plots import noise_curves
    png = noise_curves(out / "noise.png", rows, REGIME_LABELS, AXIS_LABELS)

    table = []
    for kind, levels in s["levels"].items():
        for level in levels:
            cells = []
            for regime in REGIMES:
                r = next(x for x in rows if x["regime"] == regime and x["kind"] == kind and x["level"] == level)
                cells.append(f"{fmt(r['mean'], 4, True)} ± {fmt(r['std'], 3, True)}")
            table.append([kind.replace("_", " "), f"{level:g}", *cells])
    drops = accuracy_drops(per_network, s["levels"])
    robust = []
    for kind in s["levels"]:
        d_t, d_m = drops[("ttfs", kind)], drops[("multispike", kind)]
        v = compare(d_t, d_m, higher_is_better=False)
        robust.append(f"{kind.replace('_', ' ')}: {drop_measure(s['levels'][kind])} "
                      f"TTFS {100 * mean_std(d_t)[0]:.2f}, multi-spike {100 * mean_std(d_m)[0]:.2f} "
                      f"percentage points (multi-spike more robust: {v['verdict']}, p = {fmt(v['p'], 2)})")
    n_nets = {g: sum(1 for (r, _n) in sources if r == g) for g in REGIMES}
    text = [f"## {TITLE}", "",
            f"**Run.** Every trained network of each regime ({n_nets['ttfs']} TTFS, "
            f"{n_nets['multispike']} multi-spike); test accuracy under each noise kind and level, "
            f"{s['noise_seeds']} noise draws per level and network. A cell is the mean ± std over "
            "networks of each network's mean over draws. Input jitter σ is given as a "
            "fraction of the coding window, deletion as a probability per input spike, weight and "
            "threshold noise as relative standard deviations. Threshold noise is exact: with reset = "
            "threshold, a threshold θ(1+ε) equals weights w/(1+ε) at threshold θ (one ε per neuron; "
            "in a convolutional layer one per output channel, whose neurons share their kernel). "
            "Verdicts: exact permutation test over networks (see the claims section).", "",
            md_table(["noise", "level", REGIME_LABELS["ttfs"], REGIME_LABELS["multispike"]], table), "",
            "**Shows.** " + "; ".join(robust) + ".", "",
            image(png, ctx.out, "accuracy vs noise"), "",
            "Files: `noise/noise.csv` (per regime, kind and level), `noise/noise_networks.csv` "
            "(per network, with every draw), `noise/noise_summary.json`."]
    return "\n".join(text)
