"""What a sweep leaves in its folder: every trial (``trials.csv``, ``trials.json``), the best
configuration (``best_config.json``, for ``multispike train --config``) and a plot of the
search (``sweep.png``)."""
from __future__ import annotations

import dataclasses
from pathlib import Path

from ..config import TrainConfig
from ..files import write_csv, write_json
from ..splits import resolve_config
from .space import apply_params

__all__ = ["trial_rows", "write_sweep_outputs"]


def trial_rows(study) -> list:
    """One dict per trial: number, state, settings, best validation accuracy, epochs run."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        history = t.user_attrs.get("history", [])
        rows.append({"number": t.number, "state": t.state.name, **{f"param:{k}": v for k, v in t.params.items()},
                     "val_accuracy": max((h["val_accuracy"] for h in history), default=None),
                     "epochs_run": len(history), "error": t.user_attrs.get("error"),
                     "history": history})
    return rows


def write_sweep_outputs(study, base: TrainConfig, out, params) -> dict:
    """Write the trial table, the best configuration and the plot; return the best trial's
    row (None when no trial completed)."""
    out = Path(out)
    rows = trial_rows(study)
    columns = ["number", "state", *[f"param:{p.name}" for p in params], "val_accuracy", "epochs_run", "error"]
    write_csv(out / "trials.csv", rows, columns)
    write_json(out / "trials.json", rows, indent=1)
    complete = [r for r in rows if r["state"] == "COMPLETE"]
    best = max(complete, key=lambda r: (r["val_accuracy"], -r["number"]), default=None)
    if best is not None:
        values = {p.name: best[f"param:{p.name}"] for p in params}
        config = dataclasses.asdict(resolve_config(apply_params(base, values)))  # as the trials ran
        config["name"] = f"{base.name}-sweep-best"
        write_json(out / "best_config.json", config, indent=2)
        write_json(out / "best_trial.json", {"number": best["number"], "val_accuracy": best["val_accuracy"],
                                             "params": values, "history": best["history"]}, indent=1)
    _plot(rows, params, out / "sweep.png")
    return best


def _plot(rows, params, path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [p for p in params if p.kind != "choice"][:2]
    fig, axes = plt.subplots(1, 2 + len(shown), figsize=(4.2 * (2 + len(shown)), 3.6))
    colours = {"COMPLETE": "tab:blue", "PRUNED": "tab:orange", "FAIL": "tab:red"}
    ax = axes[0]
    for r in rows:
        epochs = [h["epoch"] for h in r["history"]]
        vals = [h["val_accuracy"] for h in r["history"]]
        ax.plot(epochs, vals, "-o", ms=3, color=colours.get(r["state"], "grey"), alpha=0.7)
    ax.set(xlabel="epoch", ylabel="validation accuracy", title="trials (orange: pruned)")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax = axes[1]
    scored = [r for r in rows if r["val_accuracy"] is not None]
    ax.scatter([r["number"] for r in scored], [r["val_accuracy"] for r in scored],
               c=[colours.get(r["state"], "grey") for r in scored], s=18)
    done = sorted((r["number"], r["val_accuracy"]) for r in scored if r["state"] == "COMPLETE")
    best_so_far, level = [], -1.0
    for number, value in done:
        level = max(level, value)
        best_so_far.append((number, level))
    if best_so_far:
        ax.step(*zip(*best_so_far), where="post", color="black", lw=1, label="best complete trial")
        ax.legend(loc="lower right", fontsize=8)
    ax.set(xlabel="trial", ylabel="best validation accuracy", title="search progress")
    for ax, p in zip(axes[2:], shown):
        key = f"param:{p.name}"
        pts = [r for r in scored if r.get(key) is not None]
        ax.scatter([r[key] for r in pts], [r["val_accuracy"] for r in pts],
                   c=[colours.get(r["state"], "grey") for r in pts], s=18)
        ax.set(xlabel=p.name, ylabel="validation accuracy", xscale="log" if p.kind == "log" else "linear")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
