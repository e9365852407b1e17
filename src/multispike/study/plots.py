"""The study's figures (matplotlib, Agg backend: no display needed).

Every function takes plain numbers (lists / arrays), writes one PNG and returns its path.
Times are in the network's time units (the data sets' encodings fix them: Yin-Yang
tau_s = 1, the image presets tau_s = 0.13).
"""
from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.ticker  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

__all__ = ["COLORS", "accuracy_curves", "pareto_plot", "latency_curves", "decision_time_hist",
           "noise_curves", "convergence_heatmaps", "attack_curves", "attack_example"]

COLORS = {"ttfs": "tab:blue", "multispike": "tab:orange"}
_DPI = 110


def _save(fig, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=_DPI)
    plt.close(fig)
    return path


def _arr(values):
    return np.array([math.nan if v is None else v for v in values], dtype=float)


def accuracy_curves(path, curves: dict, labels: dict, targets=()) -> Path:
    """``curves[regime]`` = {"epoch", "test_mean", "test_std", "train_mean", "spikes_mean"}:
    test accuracy (band: +-1 std over seeds) and spikes per sample against the epoch."""
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    for regime, c in curves.items():
        color = COLORS.get(regime)
        x = _arr(c["epoch"])
        m, s = _arr(c["test_mean"]), _arr(c["test_std"])
        ax.plot(x, 100 * m, color=color, label=f"{labels[regime]}: test")
        ax.fill_between(x, 100 * (m - s), 100 * (m + s), color=color, alpha=0.2)
        ax.plot(x, 100 * _arr(c["train_mean"]), color=color, ls="--", lw=1, label=f"{labels[regime]}: train")
        ax2.plot(x, _arr(c["spikes_mean"]), color=color, label=labels[regime])
    for t in targets:
        ax.axhline(100 * t, color="grey", lw=0.7, ls=":")
    for a in (ax, ax2):
        a.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy (%)")
    ax.set_title("Accuracy during training (mean ± std over seeds)")
    ax.legend(fontsize=8)
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("spikes per test sample (all layers)")
    ax2.set_yscale("log")
    ax2.set_title("Energy proxy during training")
    ax2.legend(fontsize=8)
    return _save(fig, path)


def pareto_plot(path, points: list, front_cost: list, front_time: list, n_failed: int = 0) -> Path:
    """Accuracy against spikes per sample and against mean decision time.

    ``points``: dicts with accuracy, spikes, decision_time, slots (None for the TTFS
    reference), factor (hidden threshold factor) and label; ``front_*``: indices on each
    Pareto front; ``n_failed``: configurations left out because they make no decision
    (named in the titles).
    """
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6))
    slots = sorted({p["slots"] for p in points if p["slots"] is not None})
    cmap = plt.get_cmap("viridis")
    factors = sorted({p["factor"] for p in points})
    markers = dict(zip(factors, "osD^vP*X"))
    for ax, key, front, xlabel in ((axes[0], "spikes", front_cost, "spikes per test sample (all layers)"),
                                   (axes[1], "decision_time", front_time,
                                    "mean decision time of correct predictions (time units)")):
        for p in points:
            if p["slots"] is None:
                color = "black"
            else:
                color = cmap(slots.index(p["slots"]) / max(len(slots) - 1, 1))
            ax.scatter(p[key], 100 * p["accuracy"], color=color, marker=markers[p["factor"]],
                       edgecolor="k" if p["slots"] is None else None, s=45, zorder=3)
        if front:
            fx = [points[i][key] for i in front]
            fy = [100 * points[i]["accuracy"] for i in front]
            ax.step(fx, fy, where="post", color="crimson", lw=1.2, label="Pareto front", zorder=2)
            ax.scatter(fx, fy, facecolors="none", edgecolors="crimson", s=140, lw=1.2, zorder=4)
        if key == "spikes" and all(p[key] and p[key] > 0 for p in points if p[key] is not None):
            ax.set_xscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("test accuracy (%)")
        ax.grid(alpha=0.3)
    handles = [plt.Line2D([], [], color=cmap(i / max(len(slots) - 1, 1)), marker="o", ls="",
                          label=f"{k} slots" if k > 1 else "1 slot (TTFS loss)") for i, k in enumerate(slots)]
    handles += [plt.Line2D([], [], color="grey", marker=markers[f], ls="", label=f"hidden θ × {f:g}")
                for f in factors]
    if any(p["slots"] is None for p in points):
        handles.append(plt.Line2D([], [], color="black", marker="o", ls="", label="TTFS preset (reference)"))
    handles.append(plt.Line2D([], [], color="crimson", marker="o", mfc="none", label="Pareto front"))
    axes[1].legend(handles=handles, fontsize=7, loc="best")
    left_out = f"\n{n_failed} failed configuration{'s' if n_failed != 1 else ''} not shown" if n_failed else ""
    axes[0].set_title("Accuracy vs energy (spike budget sweep)" + left_out, fontsize=10)
    axes[1].set_title("Accuracy vs latency (spike budget sweep)" + left_out, fontsize=10)
    return _save(fig, path)


def latency_curves(path, curves: dict, labels: dict, t_end: float) -> Path:
    """``curves[regime]`` = {"t", "accuracy", "settled"}: accuracy of the decision made from
    the output spikes before t, and the fraction of samples whose decision is final."""
    fig, ax = plt.subplots(figsize=(7, 4.4))
    for regime, c in curves.items():
        t = list(c["t"]) + [t_end]
        acc = list(c["accuracy"]) + [c["accuracy"][-1]]
        settled = list(c["settled"]) + [c["settled"][-1]]
        ax.plot(t, 100 * _arr(acc), color=COLORS.get(regime), label=f"{labels[regime]}: accuracy")
        ax.plot(t, 100 * _arr(settled), color=COLORS.get(regime), ls="--", lw=1,
                label=f"{labels[regime]}: decision final")
    ax.set_xlabel("time t (network time units)")
    ax.set_ylabel("% of test samples")
    ax.set_xlim(0, t_end)
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.set_title("Accuracy of the decision from the output spikes before t")
    ax.legend(fontsize=8)
    return _save(fig, path)


def decision_time_hist(path, times: dict, labels: dict) -> Path:
    """Histograms of the decision times of correct predictions, one per regime."""
    fig, ax = plt.subplots(figsize=(7, 4.2))
    finite = {r: _arr(v)[np.isfinite(_arr(v))] for r, v in times.items()}
    allv = np.concatenate([v for v in finite.values()]) if finite else np.zeros(0)
    bins = np.linspace(0, float(allv.max()) if allv.size else 1.0, 40)
    for regime, v in finite.items():
        if v.size:
            ax.hist(v, bins=bins, alpha=0.55, color=COLORS.get(regime),
                    label=f"{labels[regime]} (median {np.median(v):.3g})")
    ax.set_xlabel("decision time (network time units)")
    ax.set_ylabel("correct test predictions")
    ax.set_title("When the decision becomes final")
    ax.legend(fontsize=8)
    return _save(fig, path)


def noise_curves(path, rows: list, labels: dict, axis_labels: dict) -> Path:
    """Accuracy (mean ± std over noise seeds) against the noise level, one panel per kind;
    ``rows``: dicts with regime, kind, level, mean, std."""
    kinds = list(dict.fromkeys(r["kind"] for r in rows))
    n = len(kinds)
    cols = 2 if n > 1 else 1
    fig, axes = plt.subplots((n + 1) // 2, cols, figsize=(5.5 * cols, 3.9 * ((n + 1) // 2)), squeeze=False)
    for ax, kind in zip(axes.flat, kinds):
        for regime in labels:
            sel = sorted((r for r in rows if r["kind"] == kind and r["regime"] == regime),
                         key=lambda r: r["level"])
            if not sel:
                continue
            ax.errorbar([r["level"] for r in sel], [100 * r["mean"] for r in sel],
                        yerr=[100 * r["std"] for r in sel], color=COLORS.get(regime), marker="o",
                        ms=4, capsize=3, label=labels[regime])
        ax.set_xlabel(axis_labels.get(kind, kind))
        ax.set_ylabel("test accuracy (%)")
        ax.set_title(kind.replace("_", " "))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    return _save(fig, path)


def convergence_heatmaps(path, means, stds, grids: dict, labels: dict) -> Path:
    """Mean best accuracy over repeats for every (init mean, init std) cell; one panel per
    regime and their difference (multi-spike minus TTFS)."""
    regimes = list(grids)
    panels = regimes + (["diff"] if len(regimes) == 2 else [])
    fig, axes = plt.subplots(1, len(panels), figsize=(4.9 * len(panels), 4.4), squeeze=False)
    for ax, panel in zip(axes[0], panels):
        if panel == "diff":
            data = 100 * (np.array(grids[regimes[1]], dtype=float) - np.array(grids[regimes[0]], dtype=float))
            im = ax.imshow(data, origin="lower", cmap="RdBu", vmin=-100, vmax=100, aspect="auto")
            title = f"{labels[regimes[1]]} − {labels[regimes[0]]}"
            cbar_label = "difference (percentage points)"
        else:
            data = 100 * np.array(grids[panel], dtype=float)
            im = ax.imshow(data, origin="lower", cmap="viridis", vmin=0, vmax=100, aspect="auto")
            title = labels[panel]
            cbar_label = "mean best accuracy (%)"
        ax.set_xticks(range(len(stds)))
        ax.set_xticklabels([f"{v:g}" for v in stds], rotation=90 if len(stds) > 6 else 0, fontsize=7)
        ax.set_yticks(range(len(means)))
        ax.set_yticklabels([f"{v:g}" for v in means], fontsize=7)
        ax.set_xlabel("initial weight std")
        ax.set_ylabel("initial weight mean")
        ax.set_title(title)
        fig.colorbar(im, ax=ax, label=cbar_label)
    return _save(fig, path)


_ATTACK_STYLES = {"pgd": "-", "fgsm": "--", "random_search": ":", "gradient_deletion": "-",
                  "exact_deletion": "--", "random_deletion": ":"}


def attack_curves(path, rows: list, labels: dict, attack_labels: dict) -> Path:
    """Accuracy (mean ± std over networks) against the shift bound epsilon and against the
    number of deleted spikes k; ``rows``: dicts with regime, attack, kind, level, mean, std."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.4))
    for ax, kind in zip(axes, ("shift", "deletion")):
        for regime in labels:
            for attack, ls in _ATTACK_STYLES.items():
                sel = sorted((r for r in rows if r["regime"] == regime and r["attack"] == attack
                              and r["kind"] == kind), key=lambda r: r["level"])
                if not sel:
                    continue
                ax.errorbar([r["level"] for r in sel], [100 * r["mean"] for r in sel],
                            yerr=[100 * (r["std"] or 0) for r in sel], color=COLORS.get(regime), ls=ls,
                            marker="o", ms=3, capsize=2, label=f"{labels[regime]}: {attack_labels[attack]}")
        levels = sorted({r["level"] for r in rows if r["kind"] == kind and r["level"] > 0})
        if kind == "shift" and levels:
            ax.set_xscale("symlog", linthresh=levels[0])
            ax.set_xlabel("shift bound ε (fraction of the coding window)")
            ax.set_title("Spike-time shifts")
        else:
            ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
            ax.set_xlabel("input spikes deleted per sample (k)")
            ax.set_title("Spike deletions")
        ax.set_ylabel("test accuracy under attack (%)")
        ax.set_ylim(0, 100)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return _save(fig, path)


def attack_example(path, examples: dict, labels: dict) -> Path:
    """One attacked sample per regime: input spike times before and after the attack (left)
    and the output spikes (right). ``examples[regime]``: dicts with inputs_clean,
    inputs_attacked, outputs_clean, outputs_attacked (spike times per neuron), label,
    pred_clean, pred_attacked, index, window."""
    fig, axes = plt.subplots(len(examples), 2, figsize=(11, 2.6 + 1.6 * len(examples)), squeeze=False)
    for (regime, ex), (ax_in, ax_out) in zip(examples.items(), axes):
        for n, (before, after) in enumerate(zip(ex["inputs_clean"], ex["inputs_attacked"])):
            ax_in.plot(before, [n] * len(before), "o", color="grey", ms=7, mfc="none")
            ax_in.plot(after, [n] * len(after), "x", color=COLORS.get(regime), ms=7)
            for b, a in zip(before, after):
                if a != b:
                    ax_in.annotate("", xy=(a, n), xytext=(b, n), arrowprops={"arrowstyle": "->", "lw": 0.8})
        ax_in.axvspan(*ex["window"], color="grey", alpha=0.08)
        ax_in.set_yticks(range(len(ex["inputs_clean"])))
        ax_in.set_ylabel("input neuron")
        ax_in.set_xlabel("time")
        ax_in.set_title(f"{labels[regime]}: inputs of test sample {ex['index']} (o clean, x attacked)", fontsize=9)
        for n, (before, after) in enumerate(zip(ex["outputs_clean"], ex["outputs_attacked"])):
            ax_out.plot(before, [n + 0.15] * len(before), "|", color="grey", ms=10)
            ax_out.plot(after, [n - 0.15] * len(after), "|", color=COLORS.get(regime), ms=10)
        ax_out.set_yticks(range(len(ex["outputs_clean"])))
        ax_out.set_ylabel("output neuron (class)")
        ax_out.set_xlabel("time")
        ax_out.set_title(f"outputs: label {ex['label']}, predicted {ex['pred_clean']} clean (grey), "
                         f"{ex['pred_attacked']} attacked (colour)", fontsize=9)
    return _save(fig, path)
