"""The paper's five claims about multi-spike against TTFS networks, each given a verdict.

Bacho & Chu (2023) claim that relaxing the single-spike constraint gives (1) higher
performance, (2) faster convergence, (3) similar sparsity, (4) comparable latency and
(5) better robustness to noise. Every claim is judged from the per-network figures of the
accuracy, noise and attack experiments (the same trained networks: every seed of both
regimes), with
an exact permutation test over networks (:mod:`multispike.study.stats`, alpha = 0.05):

1. final test accuracy (and, beside it, the test accuracy of the validation-selected epoch);
2. epochs until the validation accuracy first reaches a fixed target (the highest target
   every run reached; a run that never reaches it counts as epochs + 1);
3. spikes per sample (all layers) of the final network;
4. mean decision time of the correctly classified test samples;
5. accuracy drop from the clean input under each noise kind, averaged over the kind's noisy
   levels (:func:`multispike.study.noise.accuracy_drops`), and under the strongest white-box
   attacks (any shift attack at the middle shift bound of the grid, any
   deletion attack with the smallest number of deleted spikes; see
   :func:`multispike.study.attack.claim_levels`).

Directional claims (1, 2, 5) read "holds", "reversed" or "not significant". The claims of
similarity (3, 4) hold when the multi-spike mean is within a factor 1.25 of the TTFS mean;
otherwise they read "does not hold" (significant difference) or "not significant".
"""
from __future__ import annotations

from ..files import write_csv, write_json
from . import accuracy, attack, noise
from .common import StudyContext, fmt, mean_std
from .report import md_table
from .stats import ALPHA, SIMILAR_RATIO, compare

NAME = "claims"
TITLE = "The paper's claims: verdicts"


def plan(ctx: StudyContext) -> list:
    """The stages of the accuracy, noise and attack experiments (their tasks run once)."""
    stages = [accuracy.plan(ctx), noise.plan(ctx), attack.plan(ctx)]
    depth = max(len(p) for p in stages)
    return [[t for p in stages if i < len(p) for t in p[i]] for i in range(depth)]


def _convergence_target(ctx, runs: list) -> tuple:
    """(target, per-run epochs) for the highest target that every run reached; if none,
    the lowest target with unreached runs counted as epochs + 1."""
    targets = accuracy.settings(ctx)["targets"]
    reached = [t for t in targets if all(r[f"epochs_to_{t:g}"] is not None for r in runs)]
    target = max(reached) if reached else min(targets)
    return target, [r[f"epochs_to_{target:g}"] if r[f"epochs_to_{target:g}"] is not None
                    else r["epochs"] + 1 for r in runs]


def verdicts(ctx: StudyContext, results: dict) -> list:
    """One dict per claim (and per noise kind): the figures per regime and the verdict."""
    _, runs = accuracy.run_rows(ctx, results)
    by = {g: [r for r in runs if r["regime"] == g] for g in ("ttfs", "multispike")}

    def per_run(key):
        return [r[key] for r in by["ttfs"]], [r[key] for r in by["multispike"]]

    out = []

    def add(claim, measure, values, higher_is_better, kind, pct=False):
        t, m = values
        v = compare(t, m, higher_is_better, kind)
        out.append({"claim": claim, "measure": measure, "ttfs": mean_std(t), "multispike": mean_std(m),
                    "n": v["n"], "p": v["p"], "verdict": v["verdict"], "percent": pct})

    add("higher performance", "final test accuracy", per_run("final_test_accuracy"), True, "better", True)
    add("higher performance", "test accuracy of the validation-selected epoch",
        per_run("selected_test_accuracy"), True, "better", True)
    target, epochs = _convergence_target(ctx, runs)
    add("faster convergence", f"epochs to {100 * target:g} % validation accuracy",
        tuple([e for e, r in zip(epochs, runs) if r["regime"] == g] for g in ("ttfs", "multispike")),
        False, "better")
    add("similar sparsity", "spikes per sample", per_run("total_spikes_per_sample"), False, "similar")
    add("comparable latency", "mean decision time (correct samples)",
        per_run("mean_decision_time_correct"), False, "similar")
    levels = noise.settings(ctx)["levels"]
    drops = noise.accuracy_drops(noise.network_rows(ctx, results), levels)
    for kind, kind_levels in levels.items():
        add("better robustness", f"{kind.replace('_', ' ')}: {noise.drop_measure(kind_levels)}",
            (drops[("ttfs", kind)], drops[("multispike", kind)]), False, "better", True)
    attack_rows = attack.network_rows(ctx, results)
    for family, level in attack.claim_levels(ctx).items():
        what = f"shift attack at ε = {level:g} of the window" if family == "any_shift" else \
            f"deletion attack, {level} spike{'s' if level != 1 else ''}"
        drops = attack.accuracy_drops(attack_rows, family, level)
        add("better robustness", f"accuracy drop, any {what}", (drops["ttfs"], drops["multispike"]),
            False, "better", True)
    return out


def summarize(ctx: StudyContext, results: dict) -> str:
    rows = verdicts(ctx, results)
    out = ctx.experiment_dir(NAME)
    write_json(out / "claims.json", rows, indent=1)
    write_csv(out / "claims.csv", [{"claim": r["claim"], "measure": r["measure"],
                                    "ttfs_mean": r["ttfs"][0], "ttfs_std": r["ttfs"][1],
                                    "multispike_mean": r["multispike"][0],
                                    "multispike_std": r["multispike"][1], "n_ttfs": r["n"][0],
                                    "n_multispike": r["n"][1], "p": r["p"], "verdict": r["verdict"]}
                                   for r in rows])

    def pm(stats, pct):
        return f"{fmt(stats[0], 4, pct)} ± {fmt(stats[1], 3, pct)}"

    table = [[r["claim"], r["measure"], pm(r["ttfs"], r["percent"]), pm(r["multispike"], r["percent"]),
              f"{r['n'][0]} / {r['n'][1]}", fmt(r["p"], 2), f"**{r['verdict']}**"] for r in rows]
    text = [f"## {TITLE}", "",
            f"**Run.** The networks of the accuracy, noise and attack experiments on {ctx.dataset} "
            f"({ctx.scale} scale): mean ± std over trained networks, exact two-sided permutation "
            f"test of the difference of means (alpha = {ALPHA}). Directional claims: holds / "
            "reversed / not significant. Similarity claims hold when the multi-spike mean is within "
            f"a factor {SIMILAR_RATIO:g} of the TTFS mean, else: does not hold (significant) / not "
            "significant. With 5 networks per regime the smallest attainable p is 0.008; with "
            "2 (quick scale) it is 0.33, so nothing can be significant there.", "",
            md_table(["claim", "measure", "TTFS", "multi-spike", "networks", "p", "verdict"], table), "",
            "Files: `claims/claims.csv`, `claims/claims.json`."]
    return "\n".join(text)
