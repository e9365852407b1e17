"""Experiment 5, convergence against initialisation (the paper's toy problem).

One LIF layer, 4 inputs, 2 outputs, two samples: class 0 has input spikes at (0, 0, 1, 2),
class 1 at (0, 0, 2, 1). tau_s = 1, threshold = reset = 1, simulated until t_max = 10.
Multi-spike: 10 slots, spike-count targets 10 (true) / 0 (false); TTFS: 1 slot,
cross-entropy on first spike times with tau_loss = 0.1 (a silent neuron counts as firing at
t_max, as in the trainer). Plain gradient descent, lr 0.1, 50 full-batch epochs. Initial
weights N(mean, std) for every (mean, std) cell of a grid; each cell is repeated R times and
its value is the mean over repeats of the best training accuracy reached (evaluated on the
initial weights and after every step).

Batching: the R repeats of a cell are trained as one LIF layer with R*4 inputs (the four
input times replicated per repeat) and a block-diagonal (R*2, R*4) weight. Only the
diagonal blocks are parameters: the matrix is assembled from them at every step, so the
off-diagonal blocks are zero and receive no update (the gradient is masked by
construction). Output neuron 2r+c only sees repeat r's inputs, so its spikes are those of
repeat r's network. The losses average over the batch, so the batch of 2R (repeat, sample)
pairs gives (1/R) times the sum of the per-repeat losses; multiplying by R makes each
repeat's gradient exactly that of a separately trained network. A repeat whose gradient is
not finite skips its step, as the trainer does.
"""
from __future__ import annotations

import torch

from ..files import write_csv, write_json
from .common import REGIME_LABELS, REGIMES, StudyContext, fmt
from .report import image, md_table
from .runner import make_task, task_key

NAME = "convergence"
TITLE = "Convergence against weight initialisation"

INPUT_TIMES = ((0.0, 0.0, 1.0, 2.0), (0.0, 0.0, 2.0, 1.0))
LABELS = (0, 1)
PROBLEM = {"tau_s": 1.0, "threshold": 1.0, "t_max": 10.0, "lr": 0.1, "epochs": 50}
REGIME_SETTINGS = {
    "multispike": {"max_spikes": 10, "loss": "spike_count", "target_true": 10.0, "target_false": 0.0},
    "ttfs": {"max_spikes": 1, "loss": "ttfs", "tau_loss": 0.1},
}
GRID_FULL = [round(0.2 * i, 10) for i in range(13)]  # 0, 0.2, ..., 2.4
GRID_QUICK = [0.0, 1.2, 2.4]


def settings(ctx: StudyContext) -> dict:
    grid = ctx.params.get("init_grid") or (GRID_QUICK if ctx.quick else GRID_FULL)
    repeats = int(ctx.params.get("repeats") or (5 if ctx.quick else 100))
    return {"means": [float(v) for v in grid], "stds": [float(v) for v in grid], "repeats": repeats,
            "epochs": PROBLEM["epochs"], "lr": PROBLEM["lr"]}


def initial_weights(mean: float, std: float, repeats: int, seed: int) -> torch.Tensor:
    """(repeats, 2, 4) float64 weights drawn from N(mean, std^2)."""
    g = torch.Generator().manual_seed(seed)
    return mean + std * torch.randn((repeats, 2, 4), generator=g, dtype=torch.float64)


def _problem(repeats: int, dtype=torch.float64):
    x = torch.tensor(INPUT_TIMES, dtype=dtype).repeat(1, repeats).unsqueeze(-1)  # (2, R*4, 1)
    labels = torch.tensor(LABELS, dtype=torch.int64).repeat(repeats)  # (R*2,) repeat-major
    return x, labels


def _block_diagonal(blocks: torch.Tensor) -> torch.Tensor:
    """(R, 2, 4) blocks -> (R*2, R*4) matrix, zero off the diagonal blocks (differentiable)."""
    r, n_out, n_in = blocks.shape
    eye = torch.eye(r, dtype=blocks.dtype)
    return (eye[:, None, :, None] * blocks[:, :, None, :]).reshape(r * n_out, r * n_in)


def regime_loss(regime: str):
    """The training loss of ``regime`` on the toy problem (the library's losses; a silent
    TTFS label neuron counts as firing at t_max, as in the trainer)."""
    from ..losses import RegimeLoss

    rs = REGIME_SETTINGS[regime]
    if rs["loss"] == "ttfs":
        return RegimeLoss("ttfs", tau_loss=rs["tau_loss"], silent_time=PROBLEM["t_max"])
    return RegimeLoss("spike_count", target_true=rs["target_true"], target_false=rs["target_false"])


def train_repeats(weights: torch.Tensor, regime: str, epochs: int = PROBLEM["epochs"],
                  lr: float = PROBLEM["lr"]) -> dict:
    """Train R independent 4->2 networks (initial ``weights`` (R, 2, 4)) with plain
    full-batch gradient descent, batched as one block-diagonal layer.

    Returns ``accuracy`` (R, epochs + 1): training accuracy before each step and after the
    last, ``loss`` (R, epochs): each repeat's loss before each step, the final ``weights``
    (R, 2, 4) and ``initial_silent_fraction`` (R,): the share of (sample, output neuron)
    pairs without any spike at the initial weights.
    """
    from ..functional import lif
    from ..losses import predict

    rs = REGIME_SETTINGS[regime]
    p = PROBLEM
    blocks = weights.detach().clone().to(torch.float64)
    repeats = blocks.shape[0]
    x, labels = _problem(repeats)
    loss_fn = regime_loss(regime)
    k = rs["max_spikes"]
    accuracy = torch.zeros((repeats, epochs + 1), dtype=torch.float64)
    initial_silent = torch.zeros(repeats, dtype=torch.float64)
    losses = torch.zeros((repeats, epochs), dtype=torch.float64)

    def forward(b):
        out = lif(x, _block_diagonal(b), tau_s=p["tau_s"], threshold=p["threshold"],
                  reset=p["threshold"], max_spikes=k, t_max=p["t_max"])  # (2, R*2, K)
        # (sample, repeat, class, K) -> (repeat, sample, class, K) -> (R*2, 2, K)
        return out.reshape(2, repeats, 2, k).transpose(0, 1).reshape(repeats * 2, 2, k)

    def score(out):
        return (predict(out.detach(), loss_fn.rule) == labels).reshape(repeats, 2).to(torch.float64).mean(1)

    for epoch in range(epochs):
        b = blocks.clone().requires_grad_(True)
        out = forward(b)
        accuracy[:, epoch] = score(out)
        if epoch == 0:  # share of (sample, output neuron) pairs without a spike at the start
            initial_silent = torch.isinf(out.detach()).all(-1).reshape(repeats, 4).to(torch.float64).mean(1)
        with torch.no_grad():
            losses[:, epoch] = loss_fn(out.detach(), labels).reshape(repeats, 2).mean(1)
        loss = loss_fn(out, labels, reduction="mean") * repeats
        (grad,) = torch.autograd.grad(loss, b)
        ok = torch.isfinite(grad).flatten(1).all(1)  # skip the step of a repeat with a bad gradient
        grad = torch.where(ok[:, None, None], grad, torch.zeros_like(grad))
        blocks = blocks - lr * grad
    accuracy[:, epochs] = score(forward(blocks))
    return {"accuracy": accuracy, "loss": losses, "weights": blocks,
            "initial_silent_fraction": initial_silent}


def cell_seed(i_mean: int, i_std: int, seed: int = 0) -> int:
    return 1_000_003 * seed + 1009 * i_mean + i_std


def convergence_row_task(regime: str, mean: float, i_mean: int, stds: list, repeats: int,
                         epochs: int = PROBLEM["epochs"], lr: float = PROBLEM["lr"], seed: int = 0) -> dict:
    """All cells (mean, std) of one grid row: per cell the best accuracy of every repeat.

    The same initial weights are drawn for both regimes (paired comparison)."""
    cells = []
    for i_std, std in enumerate(stds):
        w = initial_weights(mean, std, repeats, cell_seed(i_mean, i_std, seed))
        res = train_repeats(w, regime, epochs, lr)
        acc = res["accuracy"]
        silent = res["initial_silent_fraction"]
        best = acc.max(1).values
        perfect = acc >= 1.0
        first_perfect = [int(torch.nonzero(row)[0]) if bool(row.any()) else None for row in perfect]
        reached = [e for e in first_perfect if e is not None]
        cells.append({"mean": mean, "std": std, "best_accuracy": best.tolist(),
                      "mean_best_accuracy": float(best.mean()),
                      "std_best_accuracy": float(best.std(unbiased=False)),
                      "final_accuracy_mean": float(acc[:, -1].mean()),
                      "initial_accuracy_mean": float(acc[:, 0].mean()),
                      "initial_silent_fraction": float(silent.mean()),
                      "perfect_fraction": float((best >= 1.0).to(torch.float64).mean()),
                      "mean_epochs_to_perfect": sum(reached) / len(reached) if reached else None})
    return {"regime": regime, "mean": mean, "cells": cells}


def _tasks(ctx):
    s = settings(ctx)
    tasks = {}
    for regime in REGIMES:
        for i_mean, mean in enumerate(s["means"]):
            kwargs = {"regime": regime, "mean": mean, "i_mean": i_mean, "stds": s["stds"],
                      "repeats": s["repeats"], "epochs": s["epochs"], "lr": s["lr"]}
            key = f"convergence-{regime}-m{i_mean}-{task_key(kwargs)}"
            tasks[(regime, i_mean)] = make_task(convergence_row_task, kwargs,
                                                ctx.out / NAME / "results" / f"{key}.json", key=key)
    return tasks


def plan(ctx: StudyContext) -> list:
    return [list(_tasks(ctx).values())]


def summarize(ctx: StudyContext, results: dict) -> str:
    s = settings(ctx)
    out = ctx.experiment_dir(NAME)
    tasks = _tasks(ctx)
    grids, rows = {}, []
    for regime in REGIMES:
        grid = []
        for i_mean in range(len(s["means"])):
            cells = results[tasks[(regime, i_mean)]["key"]]["cells"]
            grid.append([c["mean_best_accuracy"] for c in cells])
            for c in cells:
                rows.append({"regime": regime, **{k: v for k, v in c.items() if k != "best_accuracy"}})
        grids[regime] = grid
    write_csv(out / "convergence.csv", rows)
    write_json(out / "convergence_heatmap.json",
               {"settings": s, "problem": PROBLEM, "regimes": REGIME_SETTINGS, "means": s["means"],
                "stds": s["stds"], "mean_best_accuracy": grids,
                "shape": [len(s["means"]), len(s["stds"])]}, indent=1)
    from .plots import convergence_heatmaps
    png = convergence_heatmaps(out / "convergence_heatmaps.png", s["means"], s["stds"], grids, REGIME_LABELS)

    n_cells = len(s["means"]) * len(s["stds"])
    overall = {g: sum(map(sum, grids[g])) / n_cells for g in REGIMES}
    good = {g: sum(v >= 0.99 for row in grids[g] for v in row) for g in REGIMES}
    better = sum(grids["multispike"][i][j] > grids["ttfs"][i][j] + 1e-12
                 for i in range(len(s["means"])) for j in range(len(s["stds"])))
    worse = sum(grids["multispike"][i][j] < grids["ttfs"][i][j] - 1e-12
                for i in range(len(s["means"])) for j in range(len(s["stds"])))
    table = [[REGIME_LABELS[g], fmt(overall[g], 4, True), f"{good[g]}/{n_cells}",
              fmt(min(v for row in grids[g] for v in row), 3, True)] for g in REGIMES]
    text = [f"## {TITLE}", "",
            f"**Run.** The paper's toy problem: one layer, 4 inputs, 2 outputs, two samples (class 0 "
            "inputs at (0, 0, 1, 2), class 1 at (0, 0, 2, 1)), tau_s = 1, threshold = reset = 1, "
            f"t_max = 10; multi-spike with 10 slots and count targets 10/0, TTFS with 1 slot and "
            f"cross-entropy (tau_loss = 0.1); plain gradient descent, lr {s['lr']}, {s['epochs']} "
            f"full-batch epochs. Initial weights N(mean, std) on a {len(s['means'])}×{len(s['stds'])} "
            f"grid (mean, std ∈ {{{', '.join(f'{v:g}' for v in s['means'])}}}), {s['repeats']} "
            "repeats per cell (the same draws for both regimes); a cell's value is the mean over "
            "repeats of the best accuracy reached during training.", "",
            md_table(["regime", "mean over the grid", "cells ≥ 99%", "worst cell"], table), "",
            f"**Shows.** Multi-spike training is better than TTFS in {better} of {n_cells} cells and "
            f"worse in {worse}; averaged over the grid it reaches {fmt(overall['multispike'], 4, True)} "
            f"against {fmt(overall['ttfs'], 4, True)} for TTFS. " + _silence_sentence(rows), "",
            image(png, ctx.out, "convergence heatmaps"), "",
            "Files: `convergence/convergence.csv` (per regime and cell), "
            "`convergence/convergence_heatmap.json` (the heatmaps; per-repeat best accuracies are in "
            "`convergence/results/`)."]
    return "\n".join(text)


def _silence_sentence(rows: list) -> str:
    """How the mean best accuracy depends on whether the initial weights leave most outputs
    silent (a silent neuron gets no gradient in either regime)."""
    parts = []
    for regime in REGIMES:
        mine = [r for r in rows if r["regime"] == regime]
        quiet = [r["mean_best_accuracy"] for r in mine if r["initial_silent_fraction"] > 0.5]
        loud = [r["mean_best_accuracy"] for r in mine if r["initial_silent_fraction"] <= 0.5]
        if quiet and loud:
            parts.append(f"{REGIME_LABELS[regime]}: {fmt(sum(quiet) / len(quiet), 3, True)} in the {len(quiet)} "
                         f"cells whose initial outputs are mostly silent vs {fmt(sum(loud) / len(loud), 3, True)} "
                         f"in the other {len(loud)}")
    if not parts:
        return ""
    return "Mean best accuracy by initial output silence (more than half of the (sample, output) " \
           "pairs without a spike at the start): " + "; ".join(parts) + "."
